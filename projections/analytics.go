package projections

// AnalyticsProjections are the read models of the analytics view.
func AnalyticsProjections() []Projection { return nil }
