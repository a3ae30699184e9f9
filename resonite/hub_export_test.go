package resonite

import (
	"testing"
	"time"
)

// SetStatusTicker replaces the ticker of the status heartbeat of h, which
// must not be started yet. Each call of the returned function makes one
// tick and returns once the heartbeat has handled it.
func SetStatusTicker(t *testing.T, h *Hub) (tick func()) {
	ticks := make(chan time.Time)
	handled := make(chan struct{})
	h.newTicker = func(time.Duration) (<-chan time.Time, func()) {
		return ticks, func() {}
	}
	h.tickHandled = func() { handled <- struct{}{} }
	return func() {
		t.Helper()
		timeout := time.After(5 * time.Second)
		select {
		case ticks <- time.Now():
		case <-timeout:
			t.Fatal("the status heartbeat takes no ticks")
		}
		select {
		case <-handled:
		case <-timeout:
			t.Fatal("the status heartbeat did not handle its tick")
		}
	}
}
