package resonite_test

import (
	"sync"
	"testing"
	"time"
)

// A fakeClock is a clock for tests that moves only when the test says so.
// After returns channels that fire when the clock reaches their deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*clockWaiter
	added   chan struct{} // receives a value when a waiter is added
}

type clockWaiter struct {
	deadline time.Time
	wait     time.Duration // the duration passed to After
	ch       chan time.Time
}

func newFakeClock(start time.Time) *fakeClock {
	return &fakeClock{now: start, added: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &clockWaiter{deadline: c.now.Add(d), wait: d, ch: make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- c.now
		return w.ch
	}
	c.waiters = append(c.waiters, w)
	select {
	case c.added <- struct{}{}:
	default:
	}
	return w.ch
}

// Advance moves the clock forward by d and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.deadline.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

// nextWaiter waits until a goroutine waits on the clock and returns the
// earliest waiter. It fails the test after 5 seconds of real time.
func (c *fakeClock) nextWaiter(t *testing.T) *clockWaiter {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		var first *clockWaiter
		for _, w := range c.waiters {
			if first == nil || w.deadline.Before(first.deadline) {
				first = w
			}
		}
		c.mu.Unlock()
		if first != nil {
			return first
		}
		select {
		case <-c.added:
		case <-timeout:
			t.Fatal("timed out waiting for a goroutine to wait on the fake clock")
		}
	}
}

// step advances the clock to the next waiter's deadline and returns that
// waiter.
func (c *fakeClock) step(t *testing.T) *clockWaiter {
	t.Helper()
	w := c.nextWaiter(t)
	c.Advance(w.deadline.Sub(c.Now()))
	return w
}
