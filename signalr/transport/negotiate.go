package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// NegotiateVersion is the negotiate protocol version that [Negotiate]
// requests. Version 1 servers return a connection token separate from the
// connection ID.
const NegotiateVersion = 1

// MaxNegotiateRequests is the maximum number of negotiate requests one call
// to [Negotiate] sends while it follows redirects. The official .NET,
// TypeScript, Java, C++ and Swift clients use the same limit: at most 99
// redirects are followed, and a redirect in the 100th response fails.
const MaxNegotiateRequests = 100

// DefaultMaxNegotiateResponseSize is the default maximum size in bytes of a
// negotiate response body.
const DefaultMaxNegotiateResponseSize = 1 << 20

// Operation names used in [StatusError.Op].
const (
	opNegotiate = "negotiate"
	opHandshake = "WebSocket handshake"
)

// A TokenProvider returns the access token to send as
// "Authorization: Bearer <token>". It is called once for every HTTP request,
// so it may refresh an expiring token. An empty token sends no header.
type TokenProvider func(ctx context.Context) (string, error)

// NegotiateOptions configures [Negotiate]. The zero value is ready to use.
type NegotiateOptions struct {
	// Header holds extra headers for every negotiate request. Nil adds
	// none. A Host entry replaces the Host header. An Authorization header
	// here takes precedence over AccessTokenProvider and over a token from
	// a redirect.
	Header http.Header

	// AccessTokenProvider supplies the bearer token for each request. Nil
	// sends no token until a redirect supplies one.
	AccessTokenProvider TokenProvider

	// StatefulReconnect requests stateful reconnect from the server by
	// adding useStatefulReconnect=true to the negotiate URL. The default is
	// false.
	StatefulReconnect bool

	// MaxResponseSize is the maximum size in bytes of a response body.
	// Zero or a negative value means DefaultMaxNegotiateResponseSize.
	MaxResponseSize int64
}

// A NegotiateResult is the outcome of a successful [Negotiate] call.
type NegotiateResult struct {
	// URL is the hub URL after all redirects. Transports connect to it.
	URL string

	// Response is the final negotiate response. For a version 0 response,
	// Negotiate has set ConnectionToken to ConnectionID, the id version 0
	// servers expect.
	Response *NegotiateResponse

	// AccessTokenProvider supplies the token for the transport requests. It
	// returns the accessToken of the last redirect that carried one, or else
	// it is NegotiateOptions.AccessTokenProvider, which may be nil.
	AccessTokenProvider TokenProvider

	// AccessToken is the bearer token sent with the final negotiate
	// request, or empty when none was sent.
	AccessToken string
}

// NegotiateURL returns the negotiate URL for a hub URL. It appends
// "/negotiate" to the path without doubling a trailing slash, keeps the
// query, adds negotiateVersion unless the query already has it, and adds
// useStatefulReconnect=true when statefulReconnect is set. The hub URL must
// be an absolute http or https URL. The fragment is dropped.
func NegotiateURL(hubURL string, negotiateVersion int, statefulReconnect bool) (string, error) {
	u, err := parseHubURL(hubURL, "http", "https")
	if err != nil {
		return "", err
	}
	u.Path = appendPathSegment(u.Path, "negotiate")
	if u.RawPath != "" {
		u.RawPath = appendPathSegment(u.RawPath, "negotiate")
	}
	if !hasQueryKey(u.RawQuery, "negotiateVersion") {
		u.RawQuery = appendQuery(u.RawQuery, "negotiateVersion="+strconv.Itoa(negotiateVersion))
	}
	if statefulReconnect && !hasQueryKey(u.RawQuery, "useStatefulReconnect") {
		u.RawQuery = appendQuery(u.RawQuery, "useStatefulReconnect=true")
	}
	return u.String(), nil
}

// Negotiate sends the negotiate request for the hub at hubURL and follows
// redirects until a response describes a connection. A nil client means
// http.DefaultClient.
//
// Each request is a POST with an empty body and the headers of opts. The
// Authorization header is "Bearer <token>" with a token from the provider,
// called once per request, unless opts.Header sets Authorization itself. A
// redirect replaces the hub URL with its url and, when it carries an
// accessToken, replaces the provider with that token for all later requests.
//
// Negotiate fails with a [*ServerError] when the server returns an "error"
// property, a [*StatusError] for any status but 200, a [*ResponseError] for
// an invalid body, and [ErrNegotiateRedirectLimit] after
// [MaxNegotiateRequests] requests that all redirect. Both version 0 and
// version 1 responses are accepted.
func Negotiate(ctx context.Context, client *http.Client, hubURL string, opts NegotiateOptions) (*NegotiateResult, error) {
	if client == nil {
		client = http.DefaultClient
	}
	provider := opts.AccessTokenProvider
	current := hubURL

	for n := 1; ; n++ {
		resp, token, err := negotiateOnce(ctx, client, current, provider, &opts)
		if err != nil {
			if n > 1 && errors.Is(err, ErrInvalidURL) {
				err = fmt.Errorf("signalr/transport: negotiate redirect URL from the server: %w", err)
			}
			return nil, err
		}
		if resp.hasError {
			return nil, &ServerError{Message: resp.Error}
		}

		if resp.URL == "" {
			if resp.UseStatefulReconnect && !opts.StatefulReconnect {
				return nil, ErrUnrequestedStatefulReconnect
			}
			if resp.NegotiateVersion < 1 {
				resp.ConnectionToken = resp.ConnectionID
			}
			return &NegotiateResult{
				URL:                 current,
				Response:            resp,
				AccessTokenProvider: provider,
				AccessToken:         token,
			}, nil
		}

		if n == MaxNegotiateRequests {
			return nil, ErrNegotiateRedirectLimit
		}
		current = resp.URL
		if resp.AccessToken != "" {
			provider = staticToken(resp.AccessToken)
		}
	}
}

// negotiateOnce sends one negotiate request and parses the response. It also
// returns the bearer token it sent.
func negotiateOnce(ctx context.Context, client *http.Client, hubURL string, provider TokenProvider,
	opts *NegotiateOptions) (*NegotiateResponse, string, error) {
	negotiateURL, err := NegotiateURL(hubURL, NegotiateVersion, opts.StatefulReconnect)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, negotiateURL, http.NoBody)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	copyHeader(req.Header, opts.Header)
	if host := req.Header.Get("Host"); host != "" {
		// net/http ignores a Host entry in Header.
		req.Host = host
		req.Header.Del("Host")
	}
	token, err := authorize(ctx, req.Header, provider)
	if err != nil {
		return nil, "", err
	}

	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("signalr/transport: negotiate: %w", redactURLError(err))
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		// Read a little of the body so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, "", &StatusError{Op: opNegotiate, URL: redactURL(req.URL), StatusCode: resp.StatusCode}
	}
	body, err := readBody(resp, opts.MaxResponseSize)
	if err != nil {
		return nil, "", err
	}
	r, err := ParseNegotiateResponse(body)
	if err != nil {
		return nil, "", err
	}
	return r, token, nil
}

// readBody reads the response body, failing with
// ErrNegotiateResponseTooLarge as soon as it exceeds limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxNegotiateResponseSize
	}
	if resp.ContentLength > limit {
		return nil, ErrNegotiateResponseTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("signalr/transport: reading negotiate response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, ErrNegotiateResponseTooLarge
	}
	return body, nil
}

// authorize sets "Authorization: Bearer <token>" on h with a token from
// provider, unless h already has an Authorization header or provider is nil.
// It returns the token it set.
func authorize(ctx context.Context, h http.Header, provider TokenProvider) (string, error) {
	if provider == nil || len(h.Values("Authorization")) > 0 {
		return "", nil
	}
	token, err := provider(ctx)
	if err != nil {
		return "", fmt.Errorf("signalr/transport: access token provider: %w", err)
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return token, nil
}

func staticToken(token string) TokenProvider {
	return func(context.Context) (string, error) { return token, nil }
}

// copyHeader adds the values of src to dst under canonical keys, so that a
// caller's "authorization" key is found as Authorization.
func copyHeader(dst, src http.Header) {
	for key, values := range src {
		for _, v := range values {
			dst.Add(key, v)
		}
	}
}

// parseHubURL parses an absolute URL whose scheme is one of schemes.
func parseHubURL(rawURL string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The url package quotes the whole input, which may hold a secret
		// in its query, so only the reason is kept.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: the URL is not absolute; it needs one of the schemes %s",
			ErrInvalidURL, strings.Join(schemes, ", "))
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, fmt.Errorf("%w: scheme %q is not one of %s", ErrInvalidURL, u.Scheme, strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: the URL has no host", ErrInvalidURL)
	}
	u.Fragment = ""
	u.RawFragment = ""
	return u, nil
}

// appendPathSegment appends "/"+segment to path, adding no slash when path
// already ends with one.
func appendPathSegment(path, segment string) string {
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return path + segment
}

// appendQuery appends the encoded pair to a raw query string.
func appendQuery(rawQuery, pair string) string {
	if rawQuery == "" || strings.HasSuffix(rawQuery, "&") {
		return rawQuery + pair
	}
	return rawQuery + "&" + pair
}

// hasQueryKey reports whether the raw query has a parameter named key. It
// compares decoded names, so "negotiate%56ersion" matches
// "negotiateVersion", and falls back to the raw name when decoding fails.
func hasQueryKey(rawQuery, key string) bool {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if name == key {
			return true
		}
	}
	return false
}

// redactURL returns u without its query, userinfo and fragment, for error
// messages.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// redactURLError removes the query from the URL that net/http puts in a
// *url.Error, because the query may carry a secret.
func redactURLError(err error) error {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return err
	}
	u, parseErr := url.Parse(urlErr.URL)
	if parseErr != nil {
		return urlErr.Err
	}
	return &url.Error{Op: urlErr.Op, URL: redactURL(u), Err: urlErr.Err}
}
