package app

import (
	"flag"
	"strconv"
)

// FlagGiven reports whether the flag name was given on the command line.
func FlagGiven(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// EnvOr returns the environment variable key, or fallback when it is empty:
// the default of a flag that its environment variable can set.
func EnvOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

// EnvInt is EnvOr for an integer; a value that is not one falls back (the
// flag parser then reports nothing, so Validate of the config must).
func EnvInt(getenv func(string) string, key string, fallback int) int {
	if v, err := strconv.Atoi(getenv(key)); err == nil {
		return v
	}
	return fallback
}
