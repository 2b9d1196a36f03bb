//go:build race

package checkin

// raceDetector is set when tests run with -race, which changes what
// allocates: allocation counts are checked without it.
const raceDetector = true
