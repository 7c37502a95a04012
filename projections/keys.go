package projections

import "strings"

// SearchKey is the form of text that searches and sorts compare: lower
// case, its white space collapsed to single spaces. The search view
// (projections/search) keeps its keys in this form and puts the text of a
// search in it too; the analytics view sorts by it. It lives in the engine
// because both views use it.
func SearchKey(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
