package location

// Parsers with a smaller bound, so that tests of the bound need not read
// 200 MB.
var (
	ParseCQCJSONUpTo = parseCQCJSON
	ParseCQCCSVUpTo  = parseCQCCSV
)
