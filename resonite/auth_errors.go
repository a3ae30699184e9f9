package resonite

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Errors that the errors returned by [API] methods match with errors.Is.
// Each of them comes wrapped in a [*StatusError] that has the status code
// and the response body.
var (
	// ErrTOTPRequired means that the login needs a TOTP code, or that the
	// code sent was wrong. The server responds 403 with the body "TOTP".
	ErrTOTPRequired = errors.New("resonite: TOTP code required or wrong")

	// ErrInvalidCredentials means that the login was rejected with 400 Bad
	// Request: the user does not exist or the password is wrong.
	ErrInvalidCredentials = errors.New("resonite: invalid credentials")

	// ErrSessionExpired means that the server rejected the session token
	// with 401 or 403, because it expired or was revoked. Retrying does not
	// help: sign in again.
	ErrSessionExpired = errors.New("resonite: session token expired or revoked")
)

// A StatusError reports a response with a status code the method does not
// accept as success. Unwrap returns [ErrTOTPRequired],
// [ErrInvalidCredentials] or [ErrSessionExpired] when the status means one of
// them, and nil otherwise.
type StatusError struct {
	// Endpoint is the method and the path pattern of the request, such as
	// "DELETE /userSessions/{userId}/{token}". The pattern leaves out the
	// values, because paths can contain the token.
	Endpoint string

	StatusCode int

	// Body is the start of the response body, at most [MaxErrorBody]
	// bytes, with the request's secrets replaced by "[redacted]".
	Body string

	kind error
}

// MaxErrorBody is the maximum length in bytes of [StatusError.Body].
const MaxErrorBody = 512

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "resonite: %s: %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.kind != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.kind.Error(), "resonite: "))
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": response body %q", e.Body)
	}
	return b.String()
}

// Unwrap returns the sentinel error the status means, or nil.
func (e *StatusError) Unwrap() error { return e.kind }

// A RateLimitError reports a 429 Too Many Requests response. The API
// publishes no limits; clients have hit them at about two requests per
// second.
type RateLimitError struct {
	// Endpoint is the method and path pattern, as in [StatusError].
	Endpoint string

	// RetryAfter is the wait the Retry-After header requested, in seconds
	// or as an HTTP date. It is zero when the header is missing or
	// invalid.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("resonite: %s: rate limited (429 Too Many Requests), retry after %v", e.Endpoint, e.RetryAfter)
	}
	return fmt.Sprintf("resonite: %s: rate limited (429 Too Many Requests)", e.Endpoint)
}

// A transportError reports a request that got no response. Its text has
// the request's secrets replaced, and Unwrap returns the cause, such as
// context.Canceled.
type transportError struct {
	endpoint string
	text     string // the cause's text without secrets
	err      error
}

func (e *transportError) Error() string {
	return "resonite: " + e.endpoint + ": " + e.text
}

func (e *transportError) Unwrap() error { return e.err }

// parseRetryAfter returns the wait a Retry-After header value requests, in
// delay-seconds or as an HTTP date relative to now. It returns zero for an
// empty or invalid value and for a date in the past.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if seconds, ok := parseSeconds(value); ok {
		return seconds
	}
	if date, err := http.ParseTime(value); err == nil {
		if d := date.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// parseSeconds parses a non-negative decimal number of seconds, capped at
// one day so that the Duration cannot overflow.
func parseSeconds(s string) (time.Duration, bool) {
	const maxSeconds = 24 * 60 * 60
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxSeconds {
			n = n*10 + int(c-'0')
		}
	}
	return time.Duration(min(n, maxSeconds)) * time.Second, true
}

// redact replaces every non-empty secret in s with "[redacted]".
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
