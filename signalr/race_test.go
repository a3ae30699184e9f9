//go:build race

package signalr_test

// raceEnabled reports a build with the race detector, which slows the
// long-running tests enough that they run with smaller sizes.
const raceEnabled = true
