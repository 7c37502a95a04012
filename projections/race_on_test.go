//go:build race

package projections_test

// raceDetector: the test binary was built with -race, which makes every
// command several times slower.
const raceDetector = true
