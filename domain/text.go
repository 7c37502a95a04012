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

// CleanMultiline cleans free text that may span lines: each line as
// CleanText, Windows line ends made \n, at most one blank line in a row,
// none at either end.
func CleanMultiline(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	blank := 0
	for _, line := range lines {
		line = CleanText(line)
		if line == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, line)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
