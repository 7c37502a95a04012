package projections

// SetEagerIndexes makes the engine's rebuilds create every index of their
// fresh tables before they fill them (query indexes too), as before
// QueryIndexer: for the tests' and benchmarks' comparisons.
func (e *Engine) SetEagerIndexes(on bool) { e.eagerIndexes = on }
