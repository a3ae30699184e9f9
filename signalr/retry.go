package signalr

import (
	"math"
	"math/rand/v2"
	"time"
)

// A RetryPolicy decides whether and when the client tries to reconnect
// after it lost a started connection. The client calls it before every
// attempt, from one goroutine at a time.
type RetryPolicy interface {
	// NextRetryDelay returns how long to wait before the next attempt, or
	// false to stop reconnecting and close the client.
	NextRetryDelay(retry RetryContext) (time.Duration, bool)
}

// A RetryContext describes the reconnect in progress.
type RetryContext struct {
	// PreviousRetryCount is the number of attempts made since the
	// connection was lost: 0 before the first one.
	PreviousRetryCount int

	// ElapsedTime is the time since the connection was lost.
	ElapsedTime time.Duration

	// RetryReason is the error that ended the connection before the first
	// attempt, and the error of the last attempt after that.
	RetryReason error
}

// DelayRetryPolicy waits the given delays in turn, one per attempt, and
// stops reconnecting after the last.
type DelayRetryPolicy []time.Duration

// NextRetryDelay returns the delay for the next attempt, or false once every
// delay has been used.
func (p DelayRetryPolicy) NextRetryDelay(retry RetryContext) (time.Duration, bool) {
	if retry.PreviousRetryCount < 0 || retry.PreviousRetryCount >= len(p) {
		return 0, false
	}
	return p[retry.PreviousRetryCount], true
}

// DefaultRetryPolicy returns the policy of the official SignalR clients:
// four attempts, after waits of 0, 2, 10 and 30 seconds, so the client gives
// up about 42 seconds after the connection was lost, plus the time the
// attempts themselves take.
func DefaultRetryPolicy() RetryPolicy {
	return DelayRetryPolicy{0, 2 * time.Second, 10 * time.Second, 30 * time.Second}
}

// ExponentialRetryPolicy doubles the delay after every attempt, up to a cap,
// and shortens each delay by a random part so that many clients cut off at
// the same moment do not reconnect in step. The zero value retries forever,
// starting at one second with a cap of one minute and 20 % jitter.
type ExponentialRetryPolicy struct {
	// Initial is the delay before the first attempt. Zero or a negative
	// value means one second.
	Initial time.Duration

	// Max caps every delay. Zero means one minute.
	Max time.Duration

	// Jitter is the largest fraction of each delay that is removed at
	// random, between 0 and 1. Zero means 0.2. A negative value disables
	// jitter.
	Jitter float64

	// MaxAttempts stops reconnecting after that many attempts. Zero means
	// no limit.
	MaxAttempts int

	// MaxElapsed stops reconnecting once that much time has passed since
	// the connection was lost, and shortens the last delay so that its
	// attempt starts by then. Zero means no limit.
	MaxElapsed time.Duration

	// Rand returns a number in [0, 1) for the jitter. Nil uses
	// math/rand/v2; tests set it to get fixed delays.
	Rand func() float64
}

// NextRetryDelay returns Initial times 2^PreviousRetryCount, capped at Max
// and reduced by the jitter, or false when a limit has been reached.
func (p ExponentialRetryPolicy) NextRetryDelay(retry RetryContext) (time.Duration, bool) {
	if p.MaxAttempts > 0 && retry.PreviousRetryCount >= p.MaxAttempts {
		return 0, false
	}
	if p.MaxElapsed > 0 && retry.ElapsedTime >= p.MaxElapsed {
		return 0, false
	}
	initial, maxDelay, jitter := p.Initial, p.Max, p.Jitter
	if initial <= 0 {
		initial = time.Second
	}
	if maxDelay <= 0 {
		maxDelay = time.Minute
	}
	switch {
	case jitter == 0:
		jitter = 0.2
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}

	delay := float64(initial) * math.Pow(2, float64(max(retry.PreviousRetryCount, 0)))
	delay = min(delay, float64(maxDelay))
	random := rand.Float64
	if p.Rand != nil {
		random = p.Rand
	}
	delay -= delay * jitter * random()
	if p.MaxElapsed > 0 {
		delay = min(delay, float64(p.MaxElapsed-retry.ElapsedTime))
	}
	return time.Duration(delay), true
}
