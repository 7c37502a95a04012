//go:build !unix

package password_test

import "time"

// processCPUTime is not measured off Unix; BenchmarkHash then reports wall
// time only.
func processCPUTime() (time.Duration, bool) { return 0, false }
