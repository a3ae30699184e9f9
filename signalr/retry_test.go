package signalr

import (
	"errors"
	"testing"
	"time"
)

func TestDefaultRetryPolicyDelays(t *testing.T) {
	p := DefaultRetryPolicy()
	cause := errors.New("connection lost")
	want := []time.Duration{0, 2 * time.Second, 10 * time.Second, 30 * time.Second}
	for i, w := range want {
		got, ok := p.NextRetryDelay(RetryContext{PreviousRetryCount: i, RetryReason: cause})
		if !ok {
			t.Fatalf("attempt %d: policy stopped; want a delay of %v", i, w)
		}
		if got != w {
			t.Errorf("attempt %d: delay %v; want %v", i, got, w)
		}
	}
	if d, ok := p.NextRetryDelay(RetryContext{PreviousRetryCount: len(want)}); ok {
		t.Errorf("attempt %d: delay %v; want the policy to stop", len(want), d)
	}
}

func TestExponentialRetryPolicy(t *testing.T) {
	half := func() float64 { return 0.5 }
	tests := []struct {
		name   string
		policy ExponentialRetryPolicy
		retry  RetryContext
		want   time.Duration
		stop   bool
	}{
		{"defaults first", ExponentialRetryPolicy{Rand: half}, RetryContext{}, 900 * time.Millisecond, false},
		{"defaults third", ExponentialRetryPolicy{Rand: half}, RetryContext{PreviousRetryCount: 2}, 3600 * time.Millisecond, false},
		{"capped", ExponentialRetryPolicy{Initial: time.Second, Max: 5 * time.Second, Jitter: -1}, RetryContext{PreviousRetryCount: 10}, 5 * time.Second, false},
		{"no jitter", ExponentialRetryPolicy{Initial: 100 * time.Millisecond, Jitter: -1}, RetryContext{PreviousRetryCount: 3}, 800 * time.Millisecond, false},
		{"full jitter at zero", ExponentialRetryPolicy{Jitter: 1, Rand: func() float64 { return 0 }}, RetryContext{PreviousRetryCount: 1}, 2 * time.Second, false},
		{"huge count stays capped", ExponentialRetryPolicy{Jitter: -1}, RetryContext{PreviousRetryCount: 5000}, time.Minute, false},
		{"max attempts", ExponentialRetryPolicy{MaxAttempts: 3}, RetryContext{PreviousRetryCount: 3}, 0, true},
		{"max elapsed", ExponentialRetryPolicy{MaxElapsed: time.Minute}, RetryContext{ElapsedTime: time.Minute}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.policy.NextRetryDelay(tt.retry)
			if ok == tt.stop {
				t.Fatalf("NextRetryDelay continues = %v; want %v", ok, !tt.stop)
			}
			if got != tt.want {
				t.Errorf("NextRetryDelay = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestExponentialRetryPolicyJitterBounds(t *testing.T) {
	p := ExponentialRetryPolicy{Initial: time.Second, Max: 8 * time.Second, Jitter: 0.5}
	for count := range 6 {
		for range 200 {
			d, ok := p.NextRetryDelay(RetryContext{PreviousRetryCount: count})
			if !ok {
				t.Fatal("policy without limits stopped")
			}
			full := min(time.Second<<count, 8*time.Second)
			if d > full || d < full/2 {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", count, d, full/2, full)
			}
		}
	}
}

func TestExponentialRetryPolicyMaxElapsedShortensDelay(t *testing.T) {
	p := ExponentialRetryPolicy{Initial: 4 * time.Second, Jitter: -1, MaxElapsed: time.Second}
	d, ok := p.NextRetryDelay(RetryContext{ElapsedTime: 800 * time.Millisecond})
	if !ok || d != 200*time.Millisecond {
		t.Errorf("NextRetryDelay = %v, %v; want 200ms, true: the attempt must start by MaxElapsed", d, ok)
	}
}
