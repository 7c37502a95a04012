package projections

// The live batch's budget, for the tests of package projections_test.
const (
	LiveBatchTime  = liveBatchTime
	FirstLiveBatch = firstLiveBatch
)
