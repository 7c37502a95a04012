//go:build !race

package projections_test

const raceDetector = false
