//go:build !race

package e2e_test

// raceDetector is true when the tests run under -race, which slows every
// goroutine several times over: timing-dependent batching is then looser.
const raceDetector = false
