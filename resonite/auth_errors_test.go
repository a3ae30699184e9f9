package resonite

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"99999999999999999999999", 24 * time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Saturday, 01-Mar-25 12:01:00 GMT", time.Minute},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tt.value, got, tt.want)
		}
	}
}

func TestRetryAfterUsesAPIClock(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	api := &API{now: func() time.Time { return now }}
	resp := &response{statusCode: http.StatusTooManyRequests, header: http.Header{}}
	resp.header.Set("Retry-After", now.Add(time.Minute).Format(http.TimeFormat))
	err := api.statusError(&request{endpoint: "PATCH /userSessions"}, resp, nil)
	rateErr, ok := err.(*RateLimitError)
	if !ok {
		t.Fatalf("statusError = %T; want *RateLimitError", err)
	}
	if rateErr.RetryAfter != time.Minute {
		t.Errorf("RetryAfter = %v; want 1m", rateErr.RetryAfter)
	}
}

func TestRedact(t *testing.T) {
	got := redact("user pw1 token tok2 pw1", []string{"pw1", "", "tok2"})
	if want := "user [redacted] token [redacted] [redacted]"; got != want {
		t.Errorf("redact = %q; want %q", got, want)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},
		{"日本", 4, "日"},
		{"日本", 3, "日"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
