package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

const (
	bodyV1 = `{"negotiateVersion":1,"connectionId":"public-id","connectionToken":"secret token",` +
		`"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`
	bodyV0 = `{"negotiateVersion":0,"connectionId":"conn-0",` +
		`"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`
)

func TestNegotiateURL(t *testing.T) {
	tests := []struct {
		name     string
		hubURL   string
		version  int
		stateful bool
		want     string
	}{
		{
			name:    "trailing slash",
			hubURL:  "http://x/hub/",
			version: 1,
			want:    "http://x/hub/negotiate?negotiateVersion=1",
		},
		{
			name:    "query kept",
			hubURL:  "http://x/ep?q=a",
			version: 1,
			want:    "http://x/ep/negotiate?q=a&negotiateVersion=1",
		},
		{
			name:    "no path",
			hubURL:  "https://x",
			version: 1,
			want:    "https://x/negotiate?negotiateVersion=1",
		},
		{
			name:    "version already present",
			hubURL:  "http://x/hub?negotiateVersion=0",
			version: 1,
			want:    "http://x/hub/negotiate?negotiateVersion=0",
		},
		{
			name:    "escaped version name present",
			hubURL:  "http://x/hub?negotiate%56ersion=0",
			version: 1,
			want:    "http://x/hub/negotiate?negotiate%56ersion=0",
		},
		{
			name:    "similar name is not the version",
			hubURL:  "http://x/hub?mynegotiateVersion=3",
			version: 1,
			want:    "http://x/hub/negotiate?mynegotiateVersion=3&negotiateVersion=1",
		},
		{
			name:     "stateful",
			hubURL:   "http://x/hub",
			version:  1,
			stateful: true,
			want:     "http://x/hub/negotiate?negotiateVersion=1&useStatefulReconnect=true",
		},
		{
			name:     "stateful already present",
			hubURL:   "http://x/hub?useStatefulReconnect=true",
			version:  1,
			stateful: true,
			want:     "http://x/hub/negotiate?useStatefulReconnect=true&negotiateVersion=1",
		},
		{
			name:    "escaped path kept",
			hubURL:  "http://x/a%2Fb/hub",
			version: 1,
			want:    "http://x/a%2Fb/hub/negotiate?negotiateVersion=1",
		},
		{
			name:    "fragment dropped",
			hubURL:  "http://x/hub?a=1#frag",
			version: 1,
			want:    "http://x/hub/negotiate?a=1&negotiateVersion=1",
		},
		{
			name:    "query ending in ampersand",
			hubURL:  "http://x/hub?a=1&",
			version: 1,
			want:    "http://x/hub/negotiate?a=1&negotiateVersion=1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transport.NegotiateURL(tt.hubURL, tt.version, tt.stateful)
			if err != nil {
				t.Fatalf("NegotiateURL(%q) error: %v", tt.hubURL, err)
			}
			if got != tt.want {
				t.Errorf("NegotiateURL(%q, %d, %v) = %q; want %q", tt.hubURL, tt.version, tt.stateful, got, tt.want)
			}
		})
	}
}

func TestNegotiateURLInvalid(t *testing.T) {
	for _, hubURL := range []string{
		"ws://x/hub",
		"/hub",
		"http:///hub",
		"http://x/%zz",
		"ftp://x/hub",
		"",
	} {
		_, err := transport.NegotiateURL(hubURL, 1, false)
		if !errors.Is(err, transport.ErrInvalidURL) {
			t.Errorf("NegotiateURL(%q) error = %v; want ErrInvalidURL", hubURL, err)
		}
	}
}

func TestParseNegotiateResponseErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		property string
	}{
		{name: "empty", body: ``, property: ""},
		{name: "string body", body: `"x"`, property: ""},
		{name: "truncated", body: `{"connectionId":"1"`, property: ""},
		{name: "trailing garbage", body: `{"connectionId":"1","availableTransports":[]} x`, property: ""},
		{name: "null connectionId", body: `{"connectionId":null,"availableTransports":[]}`, property: "connectionId"},
		{name: "numeric token", body: `{"connectionId":"1","connectionToken":5,"availableTransports":[]}`,
			property: "connectionToken"},
		{name: "fractional version", body: `{"negotiateVersion":1.5,"connectionId":"1","availableTransports":[]}`,
			property: "negotiateVersion"},
		{name: "version overflow", body: `{"negotiateVersion":4294967296,"connectionId":"1","availableTransports":[]}`,
			property: "negotiateVersion"},
		{name: "string version", body: `{"negotiateVersion":"1","connectionId":"1","availableTransports":[]}`,
			property: "negotiateVersion"},
		{name: "stateful not bool", body: `{"useStatefulReconnect":"yes","connectionId":"1","availableTransports":[]}`,
			property: "useStatefulReconnect"},
		{name: "stateful null", body: `{"useStatefulReconnect":null,"connectionId":"1","availableTransports":[]}`,
			property: "useStatefulReconnect"},
		{name: "transports object", body: `{"connectionId":"1","availableTransports":{}}`,
			property: "availableTransports"},
		{name: "transport entry not object", body: `{"connectionId":"1","availableTransports":["WebSockets"]}`,
			property: "availableTransports[0]"},
		{name: "transport name null", body: `{"connectionId":"1","availableTransports":[{"transport":null,"transferFormats":[]}]}`,
			property: "availableTransports[0].transport"},
		{name: "format not string", body: `{"connectionId":"1","availableTransports":[{"transport":"LongPolling","transferFormats":[1]}]}`,
			property: "availableTransports[0].transferFormats[0]"},
		{name: "formats null", body: `{"connectionId":"1","availableTransports":[{"transport":"LongPolling","transferFormats":null}]}`,
			property: "availableTransports[0].transferFormats"},
		{name: "second entry", body: `{"connectionId":"1","availableTransports":[{"transport":"a","transferFormats":[]},{"transport":"b"}]}`,
			property: "availableTransports[1].transferFormats"},
		{name: "empty redirect url", body: `{"url":""}`, property: "url"},
		{name: "url null", body: `{"url":null}`, property: "url"},
		{name: "error not string", body: `{"error":{}}`, property: "error"},
		{name: "missing transports", body: `{"connectionId":"1"}`, property: "availableTransports"},
		{name: "case-sensitive names", body: `{"ConnectionId":"1","availableTransports":[]}`, property: "connectionId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := transport.ParseNegotiateResponse([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseNegotiateResponse(%s) = %+v; want an error", tt.body, resp)
			}
			var respErr *transport.ResponseError
			if !errors.As(err, &respErr) {
				t.Fatalf("ParseNegotiateResponse(%s) error %T is not a *ResponseError", tt.body, err)
			}
			if !errors.Is(err, transport.ErrInvalidNegotiateResponse) {
				t.Errorf("ParseNegotiateResponse(%s) error = %v; want ErrInvalidNegotiateResponse", tt.body, err)
			}
			if respErr.Property != tt.property {
				t.Errorf("ParseNegotiateResponse(%s) error property = %q; want %q (error: %v)",
					tt.body, respErr.Property, tt.property, err)
			}
		})
	}
}

func TestParseNegotiateResponseNullVersion(t *testing.T) {
	resp, err := transport.ParseNegotiateResponse([]byte(`{"negotiateVersion":null,"connectionId":"1","availableTransports":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.NegotiateVersion != 0 {
		t.Errorf("NegotiateVersion = %d; want 0", resp.NegotiateVersion)
	}
}

func TestParseNegotiateResponseClassicServerFirst(t *testing.T) {
	// The classic server check wins over a type error elsewhere, because it
	// is the more useful message.
	_, err := transport.ParseNegotiateResponse([]byte(`{"connectionId":5,"ProtocolVersion":"1.5"}`))
	if !errors.Is(err, transport.ErrClassicServer) {
		t.Errorf("error = %v; want ErrClassicServer", err)
	}
	if !strings.Contains(err.Error(), "ASP.NET SignalR") {
		t.Errorf("error %q does not name the classic ASP.NET SignalR server", err)
	}
}

// hubServer is an httptest server whose handler receives every negotiate
// request. It counts requests and records their Authorization headers.
type hubServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	auth     []string
}

func newHubServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *hubServer {
	t.Helper()
	s := new(hubServer)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) != 0 {
			t.Errorf("negotiate request has a body of %d bytes; want none", len(body))
		}
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hubServer) authHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

func (s *hubServer) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

func (s *hubServer) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func writeBody(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func TestNegotiateVersion1(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV1))
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.URL != srv.URL+"/hub" {
		t.Errorf("URL = %q; want %q", res.URL, srv.URL+"/hub")
	}
	if res.Response.ConnectionID != "public-id" {
		t.Errorf("ConnectionID = %q; want public-id", res.Response.ConnectionID)
	}
	if res.Response.ConnectionToken != "secret token" {
		t.Errorf("ConnectionToken = %q; want the token of the response", res.Response.ConnectionToken)
	}
	r := srv.request(0)
	if r.Method != http.MethodPost {
		t.Errorf("method = %s; want POST", r.Method)
	}
	if r.URL.Path != "/hub/negotiate" || r.URL.RawQuery != "negotiateVersion=1" {
		t.Errorf("request URL = %s; want /hub/negotiate?negotiateVersion=1", r.URL)
	}
	if got := srv.authHeaders()[0]; got != "" {
		t.Errorf("Authorization = %q; want none without a provider", got)
	}
}

func TestNegotiateVersion0(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV0))
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.NegotiateVersion != 0 {
		t.Errorf("NegotiateVersion = %d; want 0", res.Response.NegotiateVersion)
	}
	if res.Response.ConnectionToken != "conn-0" {
		t.Errorf("ConnectionToken = %q; want the connectionId conn-0", res.Response.ConnectionToken)
	}
}

func TestNegotiateRedirectChain(t *testing.T) {
	var srv *hubServer
	srv = newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first/negotiate":
			fmt.Fprintf(w, `{"url":%q,"accessToken":"token-1"}`, srv.URL+"/second?app=1")
		case "/second/negotiate":
			// A redirect without a token keeps the previous one.
			fmt.Fprintf(w, `{"url":%q}`, srv.URL+"/third")
		case "/third/negotiate":
			fmt.Fprintf(w, `{"url":%q,"accessToken":"token-3"}`, srv.URL+"/final")
		case "/final/negotiate":
			io.WriteString(w, bodyV1)
		default:
			http.NotFound(w, r)
		}
	})

	var calls atomic.Int32
	provider := func(ctx context.Context) (string, error) {
		calls.Add(1)
		return "user-token", nil
	}
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/first",
		transport.NegotiateOptions{AccessTokenProvider: provider})
	if err != nil {
		t.Fatal(err)
	}

	if res.URL != srv.URL+"/final" {
		t.Errorf("URL = %q; want the last redirect %q", res.URL, srv.URL+"/final")
	}
	wantAuth := []string{"Bearer user-token", "Bearer token-1", "Bearer token-1", "Bearer token-3"}
	if got := srv.authHeaders(); strings.Join(got, ",") != strings.Join(wantAuth, ",") {
		t.Errorf("Authorization headers = %q; want %q", got, wantAuth)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("provider called %d times; want 1, before the first redirect token", n)
	}
	if q := srv.request(1).URL.RawQuery; q != "app=1&negotiateVersion=1" {
		t.Errorf("second request query = %q; want the redirect's query plus negotiateVersion", q)
	}
	if res.AccessToken != "token-3" {
		t.Errorf("AccessToken = %q; want token-3", res.AccessToken)
	}
	token, err := res.AccessTokenProvider(context.Background())
	if err != nil || token != "token-3" {
		t.Errorf("AccessTokenProvider() = %q, %v; want token-3", token, err)
	}
}

func TestNegotiateRedirectLimit(t *testing.T) {
	// Every response redirects to the next path: /hop/1, /hop/2, ...
	var srv *hubServer
	srv = newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/hop/%d/negotiate", &n)
		fmt.Fprintf(w, `{"url":"%s/hop/%d"}`, srv.URL, n+1)
	})
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hop/0", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrNegotiateRedirectLimit) {
		t.Fatalf("error = %v; want ErrNegotiateRedirectLimit", err)
	}
	if err.Error() != "signalr/transport: negotiate redirection limit exceeded" {
		t.Errorf("error text = %q", err)
	}
	if n := srv.requestCount(); n != transport.MaxNegotiateRequests {
		t.Errorf("sent %d requests; want %d", n, transport.MaxNegotiateRequests)
	}
}

func TestNegotiateRedirectLongestChain(t *testing.T) {
	// 99 redirects and a final response: 100 requests, the most allowed.
	var srv *hubServer
	srv = newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/hop/%d/negotiate", &n)
		if n == transport.MaxNegotiateRequests-1 {
			io.WriteString(w, bodyV1)
			return
		}
		fmt.Fprintf(w, `{"url":"%s/hop/%d"}`, srv.URL, n+1)
	})
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hop/0", transport.NegotiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s/hop/%d", srv.URL, transport.MaxNegotiateRequests-1); res.URL != want {
		t.Errorf("URL = %q; want %q", res.URL, want)
	}
}

func TestNegotiateRedirectLoop(t *testing.T) {
	var srv *hubServer
	srv = newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"url":"%s/loop"}`, srv.URL)
	})
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/loop", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrNegotiateRedirectLimit) {
		t.Fatalf("error = %v; want ErrNegotiateRedirectLimit", err)
	}
	if n := srv.requestCount(); n != transport.MaxNegotiateRequests {
		t.Errorf("sent %d requests; want %d", n, transport.MaxNegotiateRequests)
	}
}

func TestNegotiateRedirectInvalidURL(t *testing.T) {
	srv := newHubServer(t, writeBody(`{"url":"/relative"}`))
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrInvalidURL) {
		t.Errorf("error = %v; want ErrInvalidURL", err)
	}
}

func TestNegotiateErrorProperty(t *testing.T) {
	srv := newHubServer(t, writeBody(`{"error":"This connection is not allowed."}`))
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	var serverErr *transport.ServerError
	if !errors.As(err, &serverErr) {
		t.Fatalf("error = %v; want a *ServerError", err)
	}
	if serverErr.Message != "This connection is not allowed." {
		t.Errorf("Message = %q; want the server's text", serverErr.Message)
	}
	if !strings.Contains(err.Error(), "This connection is not allowed.") {
		t.Errorf("error text %q lacks the server's text", err)
	}
}

func TestNegotiateEmptyErrorProperty(t *testing.T) {
	srv := newHubServer(t, writeBody(`{"error":""}`))
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	var serverErr *transport.ServerError
	if !errors.As(err, &serverErr) {
		t.Fatalf("error = %v; want a *ServerError", err)
	}
}

func TestNegotiateStatus(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError, http.StatusUnauthorized, http.StatusNoContent} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			srv := newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
			})
			_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub?access_token=secret",
				transport.NegotiateOptions{})
			var statusErr *transport.StatusError
			if !errors.As(err, &statusErr) {
				t.Fatalf("error = %v; want a *StatusError", err)
			}
			if statusErr.StatusCode != code {
				t.Errorf("StatusCode = %d; want %d", statusErr.StatusCode, code)
			}
			if statusErr.URL != srv.URL+"/hub/negotiate" {
				t.Errorf("URL = %q; want the negotiate URL without its query", statusErr.URL)
			}
			hint := strings.Contains(err.Error(), "not a SignalR hub")
			if hint != (code == http.StatusNotFound) {
				t.Errorf("error %q: hint present = %v; want it only for 404", err, hint)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q contains the query", err)
			}
		})
	}
}

func TestNegotiateBodyTooLarge(t *testing.T) {
	big := `{"connectionId":"1","availableTransports":[],"pad":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
	}{
		{
			name:    "content length",
			handler: writeBody(big),
		},
		{
			name: "chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// Flushing before the body is complete makes the server
				// send it chunked, without Content-Length.
				io.WriteString(w, big[:10])
				w.(http.Flusher).Flush()
				io.WriteString(w, big[10:])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHubServer(t, tt.handler)
			_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub",
				transport.NegotiateOptions{MaxResponseSize: 1000})
			if !errors.Is(err, transport.ErrNegotiateResponseTooLarge) {
				t.Errorf("error = %v; want ErrNegotiateResponseTooLarge", err)
			}
		})
	}
}

func TestNegotiateBodyDefaultLimit(t *testing.T) {
	// A body that never ends is cut at the default limit.
	srv := newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat(" ", 64<<10)
		for range (transport.DefaultMaxNegotiateResponseSize / len(chunk)) + 2 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrNegotiateResponseTooLarge) {
		t.Errorf("error = %v; want ErrNegotiateResponseTooLarge", err)
	}
}

func TestNegotiateClassicServer(t *testing.T) {
	srv := newHubServer(t, writeBody(`{"Url":"/signalr","ConnectionToken":"X","ConnectionId":"1","ProtocolVersion":"1.5"}`))
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/signalr", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrClassicServer) {
		t.Errorf("error = %v; want ErrClassicServer", err)
	}
}

func TestNegotiateTokenProviderPerRequest(t *testing.T) {
	var srv *hubServer
	srv = newHubServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a/negotiate" {
			fmt.Fprintf(w, `{"url":"%s/b"}`, srv.URL)
			return
		}
		io.WriteString(w, bodyV1)
	})
	var calls atomic.Int32
	provider := func(ctx context.Context) (string, error) {
		n := calls.Add(1)
		return fmt.Sprintf("token-%d", n), nil
	}
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/a",
		transport.NegotiateOptions{AccessTokenProvider: provider})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Bearer token-1", "Bearer token-2"}
	if got := srv.authHeaders(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Authorization headers = %q; want %q", got, want)
	}
	if res.AccessToken != "token-2" {
		t.Errorf("AccessToken = %q; want token-2", res.AccessToken)
	}
	// Without a redirect token, the transport calls the caller's provider.
	if token, _ := res.AccessTokenProvider(context.Background()); token != "token-3" {
		t.Errorf("AccessTokenProvider() = %q; want a fresh token from the caller's provider", token)
	}
}

func TestNegotiateEmptyToken(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV1))
	provider := func(ctx context.Context) (string, error) { return "", nil }
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub",
		transport.NegotiateOptions{AccessTokenProvider: provider})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.authHeaders()[0]; got != "" {
		t.Errorf("Authorization = %q; want none for an empty token", got)
	}
}

func TestNegotiateTokenProviderError(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV1))
	errToken := errors.New("token expired")
	provider := func(ctx context.Context) (string, error) { return "", errToken }
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub",
		transport.NegotiateOptions{AccessTokenProvider: provider})
	if !errors.Is(err, errToken) {
		t.Errorf("error = %v; want the provider's error", err)
	}
	if n := srv.requestCount(); n != 0 {
		t.Errorf("sent %d requests; want none after the provider failed", n)
	}
}

func TestNegotiateCallerAuthorizationWins(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV1))
	var calls atomic.Int32
	provider := func(ctx context.Context) (string, error) {
		calls.Add(1)
		return "provider-token", nil
	}
	header := http.Header{}
	header.Set("authorization", "res U-1:abc")
	header.Set("X-Extra", "1")
	header.Set("Host", "hub.example")
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub",
		transport.NegotiateOptions{Header: header, AccessTokenProvider: provider})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.authHeaders()[0]; got != "res U-1:abc" {
		t.Errorf("Authorization = %q; want the caller's header", got)
	}
	if got := srv.request(0).Header.Get("X-Extra"); got != "1" {
		t.Errorf("X-Extra = %q; want 1", got)
	}
	if got := srv.request(0).Host; got != "hub.example" {
		t.Errorf("Host = %q; want the caller's Host header", got)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("provider called %d times; want 0 when the caller sets Authorization", n)
	}
}

func TestNegotiateStatefulReconnect(t *testing.T) {
	stateful := `{"useStatefulReconnect":true,"negotiateVersion":1,"connectionId":"1","connectionToken":"2",` +
		`"availableTransports":[{"transport":"WebSockets","transferFormats":["Text"]}]}`
	srv := newHubServer(t, writeBody(stateful))

	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub",
		transport.NegotiateOptions{StatefulReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Response.UseStatefulReconnect {
		t.Error("UseStatefulReconnect = false; want true")
	}
	if q := srv.request(0).URL.RawQuery; q != "negotiateVersion=1&useStatefulReconnect=true" {
		t.Errorf("query = %q; want useStatefulReconnect=true", q)
	}

	_, err = transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if !errors.Is(err, transport.ErrUnrequestedStatefulReconnect) {
		t.Errorf("error = %v; want ErrUnrequestedStatefulReconnect", err)
	}
}

func TestNegotiateContextCanceled(t *testing.T) {
	srv := newHubServer(t, writeBody(bodyV1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := transport.Negotiate(ctx, srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v; want context.Canceled", err)
	}
}

func TestNegotiateInvalidBody(t *testing.T) {
	srv := newHubServer(t, writeBody(`{"connectionId":"1"}`))
	_, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	var respErr *transport.ResponseError
	if !errors.As(err, &respErr) || respErr.Property != "availableTransports" {
		t.Errorf("error = %v; want a *ResponseError for availableTransports", err)
	}
}

func TestSelectTransport(t *testing.T) {
	ws := transport.AvailableTransport{Transport: "WebSockets", TransferFormats: []string{"Text", "Binary"}}
	wsText := transport.AvailableTransport{Transport: "WebSockets", TransferFormats: []string{"Text"}}
	sse := transport.AvailableTransport{Transport: "ServerSentEvents", TransferFormats: []string{"Text"}}
	lp := transport.AvailableTransport{Transport: "LongPolling", TransferFormats: []string{"Text", "Binary"}}
	unknown := transport.AvailableTransport{Transport: "Carrier pigeon", TransferFormats: []string{"Text", "Binary"}}
	lower := transport.AvailableTransport{Transport: "websockets", TransferFormats: []string{"Text", "Binary"}}

	tests := []struct {
		name     string
		offered  []transport.AvailableTransport
		enabled  transport.TransportType
		format   protocol.TransferFormat
		stateful bool
		want     transport.TransportType
		reasons  []string // substrings of the skip reasons, in order, when no transport fits
	}{
		{
			name:    "first fits",
			offered: []transport.AvailableTransport{ws, sse, lp},
			format:  protocol.TransferFormatText,
			want:    transport.TransportWebSockets,
		},
		{
			name:    "unknown skipped",
			offered: []transport.AvailableTransport{unknown, lower, ws},
			format:  protocol.TransferFormatBinary,
			want:    transport.TransportWebSockets,
		},
		{
			name:    "binary needs Binary",
			offered: []transport.AvailableTransport{wsText, sse},
			format:  protocol.TransferFormatBinary,
			reasons: []string{"Binary transfer format", "Binary transfer format"},
		},
		{
			name:    "disabled",
			offered: []transport.AvailableTransport{ws, lp},
			enabled: transport.TransportLongPolling,
			format:  protocol.TransferFormatText,
			reasons: []string{"disabled", "not implemented"},
		},
		{
			name:    "only unimplemented",
			offered: []transport.AvailableTransport{sse, lp},
			format:  protocol.TransferFormatText,
			reasons: []string{"not implemented", "not implemented"},
		},
		{
			name:     "stateful needs WebSockets",
			offered:  []transport.AvailableTransport{lp, ws},
			format:   protocol.TransferFormatText,
			stateful: true,
			want:     transport.TransportWebSockets,
		},
		{
			name:     "stateful without WebSockets",
			offered:  []transport.AvailableTransport{lp},
			format:   protocol.TransferFormatText,
			stateful: true,
			reasons:  []string{"stateful reconnect"},
		},
		{
			name:    "none offered",
			offered: []transport.AvailableTransport{},
			format:  protocol.TransferFormatText,
			reasons: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &transport.NegotiateResponse{AvailableTransports: tt.offered, UseStatefulReconnect: tt.stateful}
			got, err := transport.SelectTransport(resp, tt.enabled, tt.format)
			if tt.reasons == nil {
				if err != nil || got != tt.want {
					t.Fatalf("SelectTransport = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			var noTransport *transport.NoTransportError
			if !errors.As(err, &noTransport) {
				t.Fatalf("SelectTransport = %v, %v; want a *NoTransportError", got, err)
			}
			if !errors.Is(err, transport.ErrNoTransport) {
				t.Errorf("error %v is not ErrNoTransport", err)
			}
			if len(noTransport.Skipped) != len(tt.reasons) {
				t.Fatalf("skipped %+v; want %d entries", noTransport.Skipped, len(tt.reasons))
			}
			for i, reason := range tt.reasons {
				if !strings.Contains(noTransport.Skipped[i].Reason, reason) {
					t.Errorf("skip reason %d = %q; want it to contain %q", i, noTransport.Skipped[i].Reason, reason)
				}
			}
		})
	}
}

func TestTransportWithoutNegotiation(t *testing.T) {
	for _, enabled := range []transport.TransportType{0, transport.TransportAll, transport.TransportWebSockets} {
		got, err := transport.TransportWithoutNegotiation(enabled)
		if err != nil || got != transport.TransportWebSockets {
			t.Errorf("TransportWithoutNegotiation(%v) = %v, %v; want WebSockets", enabled, got, err)
		}
	}
	_, err := transport.TransportWithoutNegotiation(transport.TransportLongPolling | transport.TransportServerSentEvents)
	if !errors.Is(err, transport.ErrNoTransport) {
		t.Errorf("TransportWithoutNegotiation(LongPolling|ServerSentEvents) error = %v; want ErrNoTransport", err)
	}
}

func TestTransportTypeString(t *testing.T) {
	tests := []struct {
		t    transport.TransportType
		want string
	}{
		{transport.TransportWebSockets, "WebSockets"},
		{transport.TransportAll, "WebSockets|ServerSentEvents|LongPolling"},
		{0, "None"},
		{transport.TransportLongPolling | 0x10, "LongPolling|TransportType(0x10)"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("TransportType(%d).String() = %q; want %q", uint8(tt.t), got, tt.want)
		}
	}
}

func FuzzParseNegotiateResponse(f *testing.F) {
	f.Add([]byte(bodyV1))
	f.Add([]byte(bodyV0))
	f.Add([]byte(`{"url":"http://x","accessToken":"t"}`))
	f.Add([]byte(`{"error":"no"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := transport.ParseNegotiateResponse(body)
		if err != nil {
			if !errors.Is(err, transport.ErrInvalidNegotiateResponse) && !errors.Is(err, transport.ErrClassicServer) {
				t.Fatalf("error %v is neither ErrInvalidNegotiateResponse nor ErrClassicServer", err)
			}
			return
		}
		if resp.URL == "" && resp.Error == "" {
			// A connection response, or a rejection with an empty error
			// text, which parses to the same fields. Selecting a
			// transport must not fail in any other way.
			_, err := transport.SelectTransport(resp, 0, protocol.TransferFormatBinary)
			if err != nil && !errors.Is(err, transport.ErrNoTransport) {
				t.Fatalf("SelectTransport error %v is not ErrNoTransport", err)
			}
		}
	})
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{
			err:  &transport.ServerError{Message: "not allowed"},
			want: "signalr/transport: the server rejected the negotiate request: not allowed",
		},
		{
			err:  &transport.ServerError{},
			want: "signalr/transport: the server rejected the negotiate request without a reason",
		},
		{
			err:  &transport.NoTransportError{},
			want: "signalr/transport: no usable transport: the server offered no transports",
		},
		{
			err: &transport.NoTransportError{Skipped: []transport.SkippedTransport{
				{Name: "LongPolling", Reason: "is not implemented by this client"},
				{Name: "WebSockets", Reason: "is disabled by the client options"},
			}},
			want: `signalr/transport: no usable transport: "LongPolling" is not implemented by this client; ` +
				`"WebSockets" is disabled by the client options`,
		},
		{
			err:  &transport.CloseError{Code: 1011, Reason: "boom"},
			want: "signalr/transport: the server closed the WebSocket with status 1011: boom",
		},
		{
			err:  &transport.CloseError{Code: 1005},
			want: "signalr/transport: the server closed the WebSocket with status 1005",
		},
		{
			err: &transport.StatusError{Op: "negotiate", URL: "http://x/hub/negotiate", StatusCode: 404},
			want: "signalr/transport: negotiate request to http://x/hub/negotiate failed with HTTP status 404; " +
				"the URL is probably not a SignalR hub endpoint",
		},
		{
			err:  &transport.ResponseError{Property: "url", Detail: "the redirect URL is empty", Err: transport.ErrInvalidNegotiateResponse},
			want: `signalr/transport: invalid negotiate response: property "url": the redirect URL is empty`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%T.Error() = %q; want %q", tt.err, got, tt.want)
		}
	}
}
