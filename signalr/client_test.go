package signalr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func TestStartSendsHandshakeAndPing(t *testing.T) {
	c, p := newTestClient(t, Config{})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	req := p.acceptHandshake("{}\x1e")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if req.Protocol != "json" || req.Version != 1 {
		t.Errorf("handshake request = %+v; want json version 1", req)
	}
	if m := p.next(true); m.Type != protocol.TypePing {
		t.Errorf("first message = %v; want Ping", m.Type)
	}
	if got := c.ConnectionID(); got != "conn-1" {
		t.Errorf("ConnectionID = %q; want conn-1", got)
	}
}

func TestStartHandshakeError(t *testing.T) {
	c, p := newTestClient(t, Config{})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake(`{"error":"The protocol 'json' is not supported."}` + "\x1e")
	err := <-errc
	var he *HandshakeError
	if !errors.As(err, &he) || he.Message != "The protocol 'json' is not supported." {
		t.Fatalf("Start = %v; want a HandshakeError with the server text", err)
	}
	if c.current() != nil {
		t.Error("client is connected after a failed handshake")
	}
}

func TestStartHandshakeTimeout(t *testing.T) {
	c, p := newTestClient(t, Config{HandshakeTimeout: 50 * time.Millisecond})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("")
	if err := <-errc; !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("Start = %v; want ErrHandshakeTimeout", err)
	}
}

func TestStartRejectsHubMessageAsResponse(t *testing.T) {
	c, p := newTestClient(t, Config{})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake(`{"type":6}` + "\x1e")
	if err := <-errc; !errors.Is(err, protocol.ErrNotHandshakeResponse) {
		t.Fatalf("Start = %v; want ErrNotHandshakeResponse", err)
	}
}

func TestHandshakeResponseSharesFrame(t *testing.T) {
	c, p := newTestClient(t, Config{})
	got := make(chan string, 1)
	c.On("hello", func(ctx context.Context, inv *Invocation) (any, error) {
		var s string
		err := inv.Decode(&s)
		got <- s
		return nil, err
	})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("{}\x1e" + `{"type":1,"target":"Hello","arguments":["first"]}` + "\x1e")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	select {
	case s := <-got:
		if s != "first" {
			t.Errorf("handler got %q; want first", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message after the handshake response was dropped")
	}
}

func TestInvokeResult(t *testing.T) {
	c, p := startTestClient(t, Config{})
	done := make(chan error, 1)
	var sum int
	go func() { done <- c.Invoke(context.Background(), "Add", &sum, 2, 3) }()
	m := p.next(false)
	if m.Type != protocol.TypeInvocation || m.Target != "Add" || m.InvocationID == "" {
		t.Fatalf("sent %+v; want an Invocation of Add with an ID", m)
	}
	if len(m.Arguments) != 2 || string(m.Arguments[0]) != "2" || string(m.Arguments[1]) != "3" {
		t.Errorf("arguments = %q; want [2 3]", m.Arguments)
	}
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: protocol.RawValue("5"), HasResult: true})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sum != 5 {
		t.Errorf("result = %d; want 5", sum)
	}
}

func TestInvokeHubError(t *testing.T) {
	c, p := startTestClient(t, Config{})
	done := make(chan error, 1)
	go func() { done <- c.Invoke(context.Background(), "Fail", nil) }()
	m := p.next(false)
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Error: "boom", HasError: true})
	var he *HubError
	if err := <-done; !errors.As(err, &he) || he.Message != "boom" {
		t.Fatalf("Invoke = %v; want HubError boom", err)
	}
}

func TestInvokeCanceledIgnoresLateCompletion(t *testing.T) {
	c, p := startTestClient(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Invoke(ctx, "Slow", nil) }()
	m := p.next(false)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke = %v; want context.Canceled", err)
	}
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: protocol.RawValue("1"), HasResult: true})
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: "999999", Result: protocol.RawValue("1"), HasResult: true})

	var n int
	done2 := make(chan error, 1)
	go func() { done2 <- c.Invoke(context.Background(), "Next", &n) }()
	m2 := p.next(false)
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m2.InvocationID, Result: protocol.RawValue("7"), HasResult: true})
	if err := <-done2; err != nil || n != 7 {
		t.Fatalf("Invoke after a late Completion = %d, %v; want 7", n, err)
	}
}

func TestSendHasNoInvocationID(t *testing.T) {
	c, p := startTestClient(t, Config{})
	if err := c.Send(context.Background(), "Notify", "x", protocol.RawValue(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	m := p.next(false)
	if m.InvocationID != "" || m.Target != "Notify" {
		t.Errorf("sent %+v; want a non-blocking Invocation of Notify", m)
	}
	if len(m.Arguments) != 2 || string(m.Arguments[0]) != `"x"` || string(m.Arguments[1]) != `{"a":1}` {
		t.Errorf("arguments = %q; want [\"x\" {\"a\":1}]", m.Arguments)
	}
}

func TestConcurrentInvokesHaveDistinctIDs(t *testing.T) {
	c, p := startTestClient(t, Config{})
	const n = 10000

	// The peer replies to each invocation with its own argument.
	go func() {
		for range n {
			m := p.next(false)
			p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: m.Arguments[0], HasResult: true})
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var got int
			if err := c.Invoke(context.Background(), "Echo", &got, i); err != nil {
				errs <- err
				return
			}
			if got != i {
				errs <- fmt.Errorf("call %d got result %d", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestHandlerClientResult(t *testing.T) {
	c, p := startTestClient(t, Config{})
	c.On("GetName", func(ctx context.Context, inv *Invocation) (any, error) {
		var prefix string
		if err := inv.Decode(&prefix); err != nil {
			return nil, err
		}
		return prefix + "bot", nil
	})
	c.On("fails", func(ctx context.Context, inv *Invocation) (any, error) { return nil, errTest })
	c.On("nothing", func(ctx context.Context, inv *Invocation) (any, error) { return nil, nil })

	for _, tt := range []struct {
		target, want string
		isError      bool
	}{
		{"getname", `"my-bot"`, false},
		{"Fails", errTest.Error(), true},
		{"Nothing", noResultText, true},
		{"Unknown", noResultText, true},
	} {
		p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "s1", Target: tt.target, Arguments: []protocol.RawValue{protocol.RawValue(`"my-"`)}})
		m := p.next(false)
		if m.Type != protocol.TypeCompletion || m.InvocationID != "s1" {
			t.Fatalf("%s: client sent %+v; want a Completion for s1", tt.target, m)
		}
		if tt.isError && (!m.HasError || m.Error != tt.want) {
			t.Errorf("%s: Completion error = %q (%v); want %q", tt.target, m.Error, m.HasError, tt.want)
		}
		if !tt.isError && (!m.HasResult || string(m.Result) != tt.want) {
			t.Errorf("%s: Completion result = %s; want %s", tt.target, m.Result, tt.want)
		}
	}
}

func TestHandlersRunInOrderOffReadLoop(t *testing.T) {
	c, p := startTestClient(t, Config{KeepAliveInterval: -1})
	release := make(chan struct{})
	var mu sync.Mutex
	var order []int
	c.On("step", func(ctx context.Context, inv *Invocation) (any, error) {
		var i int
		inv.Decode(&i)
		if i == 0 {
			<-release
		}
		mu.Lock()
		order = append(order, i)
		mu.Unlock()
		return nil, nil
	})
	for i := range 5 {
		p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "step", Arguments: []protocol.RawValue{protocol.RawValue(strconv.Itoa(i))}})
	}

	// The first handler blocks, yet a Completion still reaches its call.
	done := make(chan error, 1)
	go func() { done <- c.Invoke(context.Background(), "X", nil) }()
	m := p.next(false)
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked handler delayed the read loop")
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != "[0 1 2 3 4]" {
		t.Errorf("handlers ran in order %v; want [0 1 2 3 4]", order)
	}
}

func TestStreamItemsAndCancel(t *testing.T) {
	c, p := startTestClient(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Stream(ctx, "Counter", 10)
	if err != nil {
		t.Fatal(err)
	}
	m := p.next(false)
	if m.Type != protocol.TypeStreamInvocation || m.Target != "Counter" {
		t.Fatalf("sent %+v; want a StreamInvocation", m)
	}

	for i := range 3 {
		p.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: m.InvocationID, Item: protocol.RawValue(strconv.Itoa(i))})
	}
	for i := range 3 {
		if !s.Next() {
			t.Fatalf("Next = false at item %d: %v", i, s.Err())
		}
		var v int
		if err := s.Decode(&v); err != nil || v != i {
			t.Fatalf("item %d = %d, %v", i, v, err)
		}
	}

	cancel()
	cm := p.next(false)
	if cm.Type != protocol.TypeCancelInvocation || cm.InvocationID != m.InvocationID {
		t.Fatalf("after cancel the client sent %+v; want CancelInvocation %s", cm, m.InvocationID)
	}

	p.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: m.InvocationID, Item: protocol.RawValue("99")})
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID})
	if s.Next() {
		t.Errorf("Next after cancel = true with item %s; want false", s.Item())
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("Err = %v; want context.Canceled", s.Err())
	}
}

func TestStreamCompletes(t *testing.T) {
	c, p := startTestClient(t, Config{})
	s, err := c.Stream(context.Background(), "Counter", 2)
	if err != nil {
		t.Fatal(err)
	}
	m := p.next(false)
	p.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: m.InvocationID, Item: protocol.RawValue("0")})
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Error: "stream failed", HasError: true})
	var items int
	for s.Next() {
		items++
	}
	var he *HubError
	if items != 1 || !errors.As(s.Err(), &he) || he.Message != "stream failed" {
		t.Errorf("stream gave %d items and %v; want 1 item and HubError", items, s.Err())
	}
}

func TestClientStreamUpload(t *testing.T) {
	c, p := startTestClient(t, Config{})
	up := NewClientStream()
	done := make(chan error, 1)
	var sum int
	go func() { done <- c.Invoke(context.Background(), "Sum", &sum, up) }()
	m := p.next(false)
	if len(m.StreamIDs) != 1 || len(m.Arguments) != 0 {
		t.Fatalf("sent %+v; want one stream ID and no arguments", m)
	}

	for i := 1; i <= 3; i++ {
		if err := up.Send(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	up.Close()

	for i := 1; i <= 3; i++ {
		item := p.next(false)
		if item.Type != protocol.TypeStreamItem || item.InvocationID != m.StreamIDs[0] || string(item.Item) != strconv.Itoa(i) {
			t.Fatalf("item %d = %+v", i, item)
		}
	}

	end := p.next(false)
	if end.Type != protocol.TypeCompletion || end.InvocationID != m.StreamIDs[0] || end.HasError {
		t.Fatalf("stream end = %+v; want a Completion for the stream", end)
	}

	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: protocol.RawValue("6"), HasResult: true})
	if err := <-done; err != nil || sum != 6 {
		t.Fatalf("Invoke = %d, %v; want 6", sum, err)
	}
	if err := up.Send(context.Background(), 4); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("Send after the end = %v; want ErrStreamClosed", err)
	}
}

func TestServerCloseFailsPendingCalls(t *testing.T) {
	c, p := startTestClient(t, Config{})
	done := make(chan error, 1)
	go func() { done <- c.Invoke(context.Background(), "Wait", nil) }()
	p.next(false)
	p.send(`{"type":7,"error":"going away","allowReconnect":true}` + "\x1e")
	err := <-done
	if !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("pending Invoke = %v; want ErrConnectionClosed", err)
	}
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Message != "going away" || !ce.AllowReconnect {
		t.Errorf("pending Invoke = %v; want it to wrap the CloseError", err)
	}
	<-c.Done()
	if !errors.As(c.Err(), &ce) {
		t.Errorf("Err = %v; want a CloseError", c.Err())
	}
	if err := c.Invoke(context.Background(), "After", nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Invoke after close = %v; want ErrNotConnected", err)
	}
}

func TestMalformedMessageEndsConnection(t *testing.T) {
	c, p := startTestClient(t, Config{})
	p.send(`{"type":3,"invocationId":42}` + "\x1e")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after a malformed message")
	}
	if !errors.Is(c.Err(), protocol.ErrWrongType) {
		t.Errorf("Err = %v; want ErrWrongType", c.Err())
	}
}

func TestOversizeMessageEndsConnection(t *testing.T) {
	c, p := startTestClient(t, Config{MaxMessageSize: 64})
	p.send(`{"type":1,"target":"x","arguments":["` + string(make([]byte, 100)) + `"]}`)
	<-c.Done()
	if !errors.Is(c.Err(), protocol.ErrMessageTooLarge) {
		t.Errorf("Err = %v; want ErrMessageTooLarge", c.Err())
	}
}

func TestKeepAlivePings(t *testing.T) {
	_, p := startTestClient(t, Config{KeepAliveInterval: 20 * time.Millisecond, ServerTimeout: time.Minute})
	for range 3 {
		if m := p.next(true); m.Type != protocol.TypePing {
			t.Fatalf("got %v; want Ping", m.Type)
		}
	}
}

func TestServerTimeout(t *testing.T) {
	c, _ := startTestClient(t, Config{ServerTimeout: 50 * time.Millisecond})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after the server timeout")
	}
	if !errors.Is(c.Err(), ErrServerTimeout) {
		t.Errorf("Err = %v; want ErrServerTimeout", c.Err())
	}
}

func TestStopSendsClose(t *testing.T) {
	c, p := newTestClient(t, Config{})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("{}\x1e")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := p.next(false); m.Type != protocol.TypeClose {
		t.Errorf("last message = %v; want Close", m.Type)
	}
	if c.Err() != nil {
		t.Errorf("Err after Stop = %v; want nil", c.Err())
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start on a stopped client with a closed transport succeeded")
	}
}

func TestFallbackHandler(t *testing.T) {
	c, p := startTestClient(t, Config{})
	got := make(chan string, 2)
	c.On("known", func(ctx context.Context, inv *Invocation) (any, error) { got <- "known"; return nil, nil })
	c.OnFallback(func(ctx context.Context, inv *Invocation) (any, error) {
		got <- "fallback:" + inv.Target
		return nil, nil
	})
	p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Known"})
	p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Other"})
	for _, want := range []string{"known", "fallback:Other"} {
		select {
		case g := <-got:
			if g != want {
				t.Errorf("handler ran %q; want %q", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no handler ran for %s", want)
		}
	}
}

func TestTraceSeesEveryMessage(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	c, p := newTestClient(t, Config{Trace: func(dir Direction, _ protocol.TransferFormat, data []byte) {
		mu.Lock()
		trace = append(trace, dir.String()+" "+string(data))
		mu.Unlock()
	}})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("{}\x1e")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	p.next(true) // the Ping after the handshake
	c.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"sent {\"protocol\":\"json\",\"version\":1}\x1e",
		"received {}\x1e",
		"sent {\"type\":6}\x1e",
		"sent {\"type\":7}\x1e",
	}
	if fmt.Sprintf("%q", trace) != fmt.Sprintf("%q", want) {
		t.Errorf("trace = %q; want %q", trace, want)
	}
}

func TestHandshakeResponseTooLarge(t *testing.T) {
	c, p := newTestClient(t, Config{MaxMessageSize: 64})
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake(`{"padding":"` + strings.Repeat("x", 100))
	if err := <-errc; !errors.Is(err, protocol.ErrMessageTooLarge) {
		t.Fatalf("Start = %v; want ErrMessageTooLarge", err)
	}
}

func TestCompletionIDMustBeCanonical(t *testing.T) {
	c, p := startTestClient(t, Config{})
	done := make(chan error, 1)
	var n int
	go func() { done <- c.Invoke(context.Background(), "Add", &n) }()
	m := p.next(false)

	// "0" followed by the ID names the same number in another spelling.
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: "0" + m.InvocationID, Result: protocol.RawValue("1"), HasResult: true})
	p.sendMessage(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: protocol.RawValue("2"), HasResult: true})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("result = %d; want 2 from the Completion with the canonical ID", n)
	}
}
