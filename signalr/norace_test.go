//go:build !race

package signalr_test

const raceEnabled = false
