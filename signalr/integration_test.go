package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

// startServer starts the reference hub on 127.0.0.1 and returns its hub
// URL.
func startServer(t *testing.T, opts conformance.Options) (*conformance.Server, string) {
	t.Helper()
	srv := conformance.NewServer(opts)
	if _, err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.HubURL()
}

// startClient starts a client and stops it when the test ends.
func startClient(t *testing.T, hubURL string, cfg signalr.Config) *signalr.Client {
	t.Helper()
	c := signalr.NewClient(hubURL, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start(%s): %v", hubURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// hubProtocols are the hub protocols the integration tests run with.
var hubProtocols = []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}}

// forEachProtocol runs f in one subtest per hub protocol, named after the
// protocol.
func forEachProtocol(t *testing.T, f func(t *testing.T, proto protocol.HubProtocol)) {
	t.Helper()
	for _, proto := range hubProtocols {
		t.Run(proto.Name(), func(t *testing.T) { f(t, proto) })
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exerciseHub calls every method of the reference hub and checks the
// results.
func exerciseHub(t *testing.T, c *signalr.Client) {
	t.Helper()
	ctx := testContext(t)

	var echoed map[string]any
	if err := c.Invoke(ctx, "Echo", &echoed, map[string]any{"text": "héllo\x1e", "n": 1.5}); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if echoed["text"] != "héllo\x1e" || echoed["n"] != 1.5 {
		t.Errorf("Echo returned %v", echoed)
	}

	var sum int
	if err := c.Invoke(ctx, "Add", &sum, 40, 2); err != nil || sum != 42 {
		t.Errorf("Add(40, 2) = %d, %v; want 42", sum, err)
	}

	var he *signalr.HubError
	if err := c.Invoke(ctx, "Fail", nil, "bad input"); !errors.As(err, &he) || he.Message != "bad input" {
		t.Errorf("Fail = %v; want HubError bad input", err)
	}

	var void protocol.RawValue = protocol.RawValue("x")
	if err := c.Invoke(ctx, "Void", &void); err != nil || len(void) != 0 {
		t.Errorf("Void = %q, %v; want no result", void, err)
	}

	s, err := c.Stream(ctx, "Counter", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	var items []int
	for s.Next() {
		var n int
		if err := s.Decode(&n); err != nil {
			t.Fatal(err)
		}
		items = append(items, n)
	}
	if s.Err() != nil || len(items) != 5 || items[4] != 4 {
		t.Errorf("Counter(5) = %v, %v; want 0..4", items, s.Err())
	}

	up := signalr.NewClientStream()
	done := make(chan error, 1)
	go func() { done <- c.Invoke(ctx, "Sum", &sum, up) }()
	for i := 1; i <= 4; i++ {
		if err := up.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	up.Close()
	if err := <-done; err != nil || sum != 10 {
		t.Errorf("Sum(1..4) = %d, %v; want 10", sum, err)
	}

	var answer string
	if err := c.Invoke(ctx, "CallMe", &answer, "Shout", "quiet", true); err != nil || answer != "QUIET" {
		t.Errorf("CallMe with result = %q, %v; want QUIET", answer, err)
	}
	if err := c.Invoke(ctx, "CallMe", nil, "Shout", "fire and forget", false); err != nil {
		t.Errorf("CallMe without result: %v", err)
	}
	if err := c.Invoke(ctx, "CallMe", &answer, "NoSuchHandler", 1, true); !errors.As(err, &he) || !strings.Contains(he.Message, "Client didn't provide a result.") {
		t.Errorf("CallMe of a missing handler = %v; want the client's error text", err)
	}
}

// newExerciseClient starts a client for exerciseHub. When cfg has no Trace,
// it checks that every message the client sends and every message after
// the handshake response that it receives has the frame type of the hub
// protocol.
func newExerciseClient(t *testing.T, hubURL string, cfg signalr.Config) *signalr.Client {
	if cfg.Trace == nil {
		want := protocol.JSON{}.TransferFormat()
		if cfg.Protocol != nil {
			want = cfg.Protocol.TransferFormat()
		}
		var mu sync.Mutex
		var wrong []string
		received := 0
		cfg.Trace = func(dir signalr.Direction, format protocol.TransferFormat, data []byte) {
			mu.Lock()
			defer mu.Unlock()
			if dir == signalr.Received {
				received++
			}
			if format != want && (dir == signalr.Sent || received > 1) {
				wrong = append(wrong, fmt.Sprintf("%s %v message %q", dir, format, data))
			}
		}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, w := range wrong {
				t.Errorf("the client's connection carried a %s; want %v", w, want)
			}
		})
	}
	c := signalr.NewClient(hubURL, cfg)
	c.On("shout", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var s string
		if err := inv.Decode(&s); err != nil {
			return nil, err
		}
		return strings.ToUpper(s), nil
	})
	ctx := testContext(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func TestHubMethods(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		exerciseHub(t, newExerciseClient(t, hubURL, signalr.Config{Protocol: proto}))
	})
}

func TestMisbehavingServer(t *testing.T) {
	for _, tt := range []struct {
		name string
		mis  conformance.Misbehavior
	}{
		{"SplitFrames", conformance.Misbehavior{SplitFrames: 7}},
		{"BatchMessages", conformance.Misbehavior{BatchMessages: 4}},
		{"CoalesceHandshake", conformance.Misbehavior{CoalesceHandshake: true}},
		{"UnknownTypeBeforeEach", conformance.Misbehavior{UnknownTypeBeforeEach: true}},
		{"StrayCompletions", conformance.Misbehavior{StrayCompletions: true}},
		{"PingDelay", conformance.Misbehavior{PingDelay: 50 * time.Millisecond}},
		{"DropPings", conformance.Misbehavior{DropPings: true}},
		{"TextHandshake", conformance.Misbehavior{HandshakeFormat: protocol.TransferFormatText}},
		{"BinaryHandshake", conformance.Misbehavior{HandshakeFormat: protocol.TransferFormatBinary}},
		{"All", conformance.Misbehavior{SplitFrames: 3, BatchMessages: 3, CoalesceHandshake: true, UnknownTypeBeforeEach: true, StrayCompletions: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, hubURL := startServer(t, conformance.Options{Misbehave: tt.mis, KeepAliveInterval: 20 * time.Millisecond})
			forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
				exerciseHub(t, newExerciseClient(t, hubURL, signalr.Config{Protocol: proto}))
			})
		})
	}
}

func TestNegotiateVersionZero(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL+"?negotiateVersion=0", signalr.Config{})
	if c.ConnectionID() == "" {
		t.Error("no connection ID after a version 0 negotiate")
	}
	var sum int
	if err := c.Invoke(testContext(t), "Add", &sum, 1, 1); err != nil || sum != 2 {
		t.Errorf("Add = %d, %v", sum, err)
	}
}

func TestRedirectChainWithAccessToken(t *testing.T) {
	var srv *conformance.Server
	var mu sync.Mutex
	var seenTokens []string
	opts := conformance.Options{
		Authorize: func(r *http.Request) bool {
			mu.Lock()
			seenTokens = append(seenTokens, r.Header.Get("Authorization"))
			mu.Unlock()
			return r.Header.Get("Authorization") != ""
		},
		Redirect: func(r *http.Request) *conformance.Redirect {
			switch r.URL.Query().Get("hop") {
			case "":
				return &conformance.Redirect{URL: srv.HubURL() + "?hop=1", AccessToken: "token-1"}
			case "1":
				return &conformance.Redirect{URL: srv.HubURL() + "?hop=2", AccessToken: "token-2"}
			}
			return nil
		},
	}

	srv, hubURL := startServer(t, opts)
	c := startClient(t, hubURL, signalr.Config{
		AccessTokenProvider: func(ctx context.Context) (string, error) { return "user-token", nil },
	})
	var sum int
	if err := c.Invoke(testContext(t), "Add", &sum, 2, 2); err != nil || sum != 4 {
		t.Fatalf("Add = %d, %v", sum, err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{"Bearer user-token", "Bearer token-1", "Bearer token-2", "Bearer token-2"}
	if strings.Join(seenTokens, ",") != strings.Join(want, ",") {
		t.Errorf("Authorization headers = %q; want %q", seenTokens, want)
	}
}

func TestRedirectLoop(t *testing.T) {
	var srv *conformance.Server
	srv, hubURL := startServer(t, conformance.Options{
		Redirect: func(r *http.Request) *conformance.Redirect { return &conformance.Redirect{URL: srv.HubURL()} },
	})
	c := signalr.NewClient(hubURL, signalr.Config{})
	if err := c.Start(testContext(t)); !errors.Is(err, transport.ErrNegotiateRedirectLimit) {
		t.Fatalf("Start = %v; want ErrNegotiateRedirectLimit", err)
	}
}

func TestNegotiateError(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{
		NegotiateError: func(r *http.Request) string { return "hub is full" },
	})
	c := signalr.NewClient(hubURL, signalr.Config{})
	err := c.Start(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "hub is full") {
		t.Fatalf("Start = %v; want the server's negotiate error", err)
	}
}

func TestSkipNegotiation(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL, signalr.Config{SkipNegotiation: true})
	if id := c.ConnectionID(); id != "" {
		t.Errorf("ConnectionID = %q; want none without negotiation", id)
	}
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		exerciseHub(t, newExerciseClient(t, hubURL, signalr.Config{SkipNegotiation: true, Protocol: proto}))
	})
}

// unknownProtocol is the JSON hub protocol under a name the server does not
// support.
type unknownProtocol struct{ protocol.JSON }

func (unknownProtocol) Name() string { return "nope" }

func TestHandshakeRejected(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := signalr.NewClient(hubURL, signalr.Config{Protocol: unknownProtocol{}})
	err := c.Start(testContext(t))
	var he *signalr.HandshakeError
	if !errors.As(err, &he) || he.Message != "The protocol 'nope' is not supported." {
		t.Fatalf("Start = %v; want HandshakeError for protocol nope", err)
	}
}

func TestServerClose(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		for _, tt := range []struct {
			errText        string
			allowReconnect bool
		}{
			{"", false},
			{"maintenance", false},
			{"deploying", true},
		} {
			c := startClient(t, hubURL, signalr.Config{Protocol: proto})
			c.Invoke(testContext(t), "CloseMe", nil, tt.errText, tt.allowReconnect)
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection still open after the server's Close")
			}
			var ce *signalr.CloseError
			if !errors.As(c.Err(), &ce) {
				t.Fatalf("Err = %v; want CloseError", c.Err())
			}
			if ce.Message != tt.errText || ce.HasError != (tt.errText != "") || ce.AllowReconnect != tt.allowReconnect {
				t.Errorf("CloseError = %+v; want error %q, allowReconnect %v", ce, tt.errText, tt.allowReconnect)
			}
		}
	})
}

func TestMessageLargerThanMaximum(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		c := startClient(t, hubURL, signalr.Config{MaxMessageSize: 1000, Protocol: proto})
		err := c.Invoke(testContext(t), "Big", nil, 5000)
		if !errors.Is(err, signalr.ErrConnectionClosed) {
			t.Fatalf("Invoke(Big) = %v; want ErrConnectionClosed", err)
		}
		<-c.Done()
		if !errors.Is(c.Err(), protocol.ErrMessageTooLarge) && !errors.Is(c.Err(), transport.ErrMessageTooLarge) {
			t.Errorf("Err = %v; want a message-too-large error", c.Err())
		}
	})
}

func TestServerTimeoutOnSilentServer(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{KeepAliveInterval: -1})
	c := startClient(t, hubURL, signalr.Config{ServerTimeout: 200 * time.Millisecond})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after the server timeout")
	}
	if !errors.Is(c.Err(), signalr.ErrServerTimeout) {
		t.Errorf("Err = %v; want ErrServerTimeout", c.Err())
	}
}

func TestKeepAlivePingsOnTheWire(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		captures := make(chan *conformance.Capture, 1)
		_, hubURL := startServer(t, conformance.Options{Record: func(c *conformance.Capture) { captures <- c }})
		c := signalr.NewClient(hubURL, signalr.Config{KeepAliveInterval: 30 * time.Millisecond, Protocol: proto})
		if err := c.Start(testContext(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		c.Stop(testContext(t))
		capture := <-captures
		pings := 0
		for _, f := range capture.Messages {
			if f.Direction == conformance.ClientToServer && conformance.IgnorePings(f) {
				pings++
			}
		}
		if pings < 3 {
			t.Errorf("client sent %d pings in 300 ms with a 30 ms keep-alive interval; want at least 3", pings)
		}
	})
}

// capturedTypes returns the types of the hub messages in the client's
// messages of a capture, parsed with proto.
func capturedTypes(t *testing.T, capture *conformance.Capture, proto protocol.HubProtocol) []protocol.MessageType {
	t.Helper()
	var types []protocol.MessageType
	for _, m := range capture.Messages[1:] { // after the handshake request
		if m.Direction != conformance.ClientToServer {
			continue
		}
		framer := protocol.Framer{Format: proto.TransferFormat()}
		if err := framer.Feed(m.Data); err != nil {
			t.Fatal(err)
		}
		for {
			payload, err := framer.Next()
			if err != nil {
				t.Fatalf("client message %q: %v", m.Data, err)
			}
			if payload == nil {
				break
			}
			var parsed protocol.Message
			if err := proto.ParseMessage(payload, &parsed); err != nil {
				t.Fatalf("client message %q: %v", payload, err)
			}
			types = append(types, parsed.Type)
		}
	}
	return types
}

func TestStreamCancelSendsCancelInvocation(t *testing.T) {
	forEachProtocol(t, testStreamCancel)
}

func testStreamCancel(t *testing.T, proto protocol.HubProtocol) {
	captures := make(chan *conformance.Capture, 1)
	_, hubURL := startServer(t, conformance.Options{Record: func(c *conformance.Capture) { captures <- c }})

	// The CancelInvocation is written by a goroutine of its own, so the
	// test waits for it before Stop, which would otherwise end the
	// connection first on a busy machine.
	cancelSent := make(chan struct{})
	var once sync.Once
	trace := func(dir signalr.Direction, format protocol.TransferFormat, data []byte) {
		var m protocol.Message
		framer := protocol.Framer{Format: proto.TransferFormat()}
		if dir != signalr.Sent || framer.Feed(data) != nil {
			return
		}
		for payload, err := framer.Next(); payload != nil && err == nil; payload, err = framer.Next() {
			if proto.ParseMessage(payload, &m) == nil && m.Type == protocol.TypeCancelInvocation {
				once.Do(func() { close(cancelSent) })
			}
		}
	}
	c := signalr.NewClient(hubURL, signalr.Config{Protocol: proto, Trace: trace})
	if err := c.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(testContext(t))
	s, err := c.Stream(ctx, "Counter", 1000000, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() {
		t.Fatal(s.Err())
	}
	cancel()
	for s.Next() {
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("stream Err = %v; want context.Canceled", s.Err())
	}

	// The connection stays usable.
	var sum int
	if err := c.Invoke(testContext(t), "Add", &sum, 1, 2); err != nil || sum != 3 {
		t.Errorf("Add after a canceled stream = %d, %v", sum, err)
	}

	select {
	case <-cancelSent:
	case <-testContext(t).Done():
		t.Error("the client sent no CancelInvocation")
	}
	c.Stop(testContext(t))
	capture := <-captures
	if !slices.Contains(capturedTypes(t, capture, proto), protocol.TypeCancelInvocation) {
		t.Error("no CancelInvocation in the session capture")
	}
}

func TestConcurrentInvokesAgainstHub(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{MaxParallelInvocations: 64})
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		testConcurrentInvokes(t, startClient(t, hubURL, signalr.Config{Protocol: proto}))
	})
}

func testConcurrentInvokes(t *testing.T, c *signalr.Client) {
	ctx := testContext(t)
	const n = 10000

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var got int
			if err := c.Invoke(ctx, "Echo", &got, i); err != nil {
				errs <- err
				return
			}
			if got != i {
				errs <- fmt.Errorf("Echo(%d) returned %d", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestLogsContainNoToken(t *testing.T) {
	const token = "secret-token-4711"
	_, hubURL := startServer(t, conformance.Options{
		Authorize: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token },
	})
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))

	c := newExerciseClient(t, hubURL+"?access_token="+token, signalr.Config{
		Logger:              logger,
		AccessTokenProvider: func(ctx context.Context) (string, error) { return token, nil },
	})
	exerciseHub(t, c)
	c.Invoke(testContext(t), "CloseMe", nil, "bye", false)
	<-c.Done()

	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("the client logged nothing at debug level; the check would prove nothing")
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs contain the access token:\n%s", logs.String())
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestResultDecodeErrors(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		_, hubURL := startServer(t, conformance.Options{})
		c := startClient(t, hubURL, signalr.Config{Protocol: proto})
		ctx := testContext(t)

		var s string
		err := c.Invoke(ctx, "Add", &s, 1, 2)
		if err == nil || !strings.Contains(err.Error(), "decoding the result of Add into *string") {
			t.Errorf("Invoke(Add) into *string: error %v; want one naming the method and the type", err)
		}

		var small int8
		err = c.Invoke(ctx, "Add", &small, 100, 100)
		if proto.Name() == "messagepack" && !errors.Is(err, protocol.ErrOutOfRange) {
			t.Errorf("Invoke(Add 100+100) into *int8: error %v; want ErrOutOfRange", err)
		}
		if err == nil {
			t.Errorf("Invoke(Add 100+100) into *int8 = %d; want an error", small)
		}

		for _, bad := range []any{5, (*int)(nil), "x"} {
			if err := c.Invoke(ctx, "Add", bad, 1, 2); err == nil || !strings.Contains(err.Error(), "non-nil pointer") {
				t.Errorf("Invoke(Add) into %#v: error %v; want one about a non-nil pointer", bad, err)
			}
		}
	})
}
