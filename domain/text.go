package domain

import "strings"

// CleanText trims a person's input, collapses runs of white space to one
// space and turns control characters into spaces.
func CleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
