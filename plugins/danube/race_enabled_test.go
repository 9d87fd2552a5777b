//go:build race

package danube

// raceDetectorEnabled reports whether the tests run under -race.
const raceDetectorEnabled = true
