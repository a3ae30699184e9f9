package resonite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is the base URL of the Resonite REST API.
const DefaultBaseURL = "https://api.resonite.com"

// maxResponseBody is the largest response body an API method reads. Login
// responses are a few kilobytes.
const maxResponseBody = 1 << 20

// An API is a client of the Resonite REST API. The zero value uses
// [DefaultBaseURL] and [http.DefaultClient]. An API may be used by several
// goroutines at once, but its fields must not change after the first call.
type API struct {
	// BaseURL is the base URL of the REST API, without a trailing slash.
	// The default is DefaultBaseURL.
	BaseURL string

	// HTTPClient sends the requests. The default is http.DefaultClient.
	HTTPClient *http.Client

	// UserAgent is the User-Agent header of every request. The default is
	// DefaultUserAgent.
	UserAgent string

	// Logger receives a debug record for every request and its outcome.
	// The default discards everything. Passwords, tokens, TOTP codes and
	// Authorization values are never logged.
	Logger *slog.Logger

	// now is the clock for Retry-After dates. Tests set it.
	now func() time.Time
}

// A request is one call of the REST API.
type request struct {
	method string
	path   string // escaped, may contain secrets
	// endpoint is the method and path pattern for errors and logs, such as
	// "PATCH /userSessions".
	endpoint string
	header   http.Header
	body     []byte
	// secrets are the strings that errors and logs must not contain.
	secrets []string
}

// A response is the status, header and body of a REST response.
type response struct {
	statusCode int
	header     http.Header
	body       []byte
}

func (a *API) baseURL() string {
	if a.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimSuffix(a.BaseURL, "/")
}

func (a *API) httpClient() *http.Client {
	if a.HTTPClient == nil {
		return http.DefaultClient
	}
	return a.HTTPClient
}

func (a *API) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

func (a *API) clock() time.Time {
	if a.now == nil {
		return time.Now()
	}
	return a.now()
}

// send sends req and reads the response body, up to maxResponseBody bytes.
// It returns an error only when no complete response arrived; the caller
// checks the status.
func (a *API) send(ctx context.Context, req *request) (*response, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, a.baseURL()+req.path, body)
	if err != nil {
		return nil, a.transportError(req, err)
	}
	for key, values := range req.header {
		httpReq.Header[key] = values
	}
	userAgent := a.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	httpReq.Header.Set("User-Agent", userAgent)

	start := time.Now()
	httpResp, err := a.httpClient().Do(httpReq)
	if err != nil {
		err = a.transportError(req, err)
		a.logger().DebugContext(ctx, "resonite: request failed", "endpoint", req.endpoint, "err", err)
		return nil, err
	}
	defer httpResp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBody+1))
	if err != nil {
		err = a.transportError(req, err)
		a.logger().DebugContext(ctx, "resonite: reading the response failed", "endpoint", req.endpoint, "status", httpResp.StatusCode, "err", err)
		return nil, err
	}
	if len(data) > maxResponseBody {
		err := fmt.Errorf("resonite: %s: response body exceeds %d bytes", req.endpoint, maxResponseBody)
		a.logger().DebugContext(ctx, "resonite: response too large", "endpoint", req.endpoint, "status", httpResp.StatusCode)
		return nil, err
	}
	a.logger().DebugContext(ctx, "resonite: request done", "endpoint", req.endpoint, "status", httpResp.StatusCode,
		"duration", time.Since(start))
	return &response{statusCode: httpResp.StatusCode, header: httpResp.Header, body: data}, nil
}

// transportError wraps err, the failure of a request that got no response.
// The text of a *url.Error contains the URL, which can contain the token,
// so the URL is left out and the remaining text is redacted.
func (a *API) transportError(req *request, err error) error {
	cause := err
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		cause = urlErr.Err
	}
	return &transportError{endpoint: req.endpoint, text: redact(cause.Error(), req.secrets), err: cause}
}

// statusError returns the error for resp, a response with a status the
// caller does not accept. kind is the sentinel error the status means, or
// nil.
func (a *API) statusError(req *request, resp *response, kind error) error {
	if resp.statusCode == http.StatusTooManyRequests {
		return &RateLimitError{
			Endpoint:   req.endpoint,
			RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), a.clock()),
		}
	}
	body := redact(string(resp.body), req.secrets)
	return &StatusError{
		Endpoint:   req.endpoint,
		StatusCode: resp.statusCode,
		Body:       truncate(strings.TrimSpace(body), MaxErrorBody),
		kind:       kind,
	}
}

// decodeJSON decodes the body of resp into v.
func decodeJSON(req *request, resp *response, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("resonite: %s: invalid JSON in the %d response: %w", req.endpoint, resp.statusCode, err)
	}
	return nil
}

// is2xx reports whether code is a success status.
func is2xx(code int) bool { return code >= 200 && code < 300 }
