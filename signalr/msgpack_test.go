package signalr_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// messagePackConfig is the configuration of the MessagePack tests.
var messagePackConfig = signalr.Config{Protocol: protocol.MessagePack{}}

// A point has no tags, so its MessagePack keys are the field names.
type point struct {
	X, Y int
}

// A record mixes msgpack and json tags, as one type serving both hub
// protocols does.
type record struct {
	Name    string    `msgpack:"name"`
	Count   int       `json:"count"`
	When    time.Time `msgpack:"when"`
	Data    []byte    `msgpack:"data"`
	Tags    []string  `msgpack:"tags"`
	Nested  *point    `msgpack:"nested"`
	Skipped string    `msgpack:"-"`
}

func sampleRecord() record {
	return record{
		Name:   "héllo\x1e",
		Count:  -3,
		When:   time.Date(2026, 5, 17, 10, 30, 0, 123456789, time.UTC),
		Data:   []byte{0, 1, 0xff},
		Tags:   []string{"a", ""},
		Nested: &point{X: 1, Y: -70000},
	}
}

// equalValues compares decoded values. Times compare with Equal, because
// a MessagePack timestamp decodes in the local time zone.
func equalValues(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	if ra, ok := a.(record); ok {
		rb, ok := b.(record)
		if !ok || !ra.When.Equal(rb.When) {
			return false
		}
		ra.When, rb.When = time.Time{}, time.Time{}
		return reflect.DeepEqual(ra, rb)
	}
	return reflect.DeepEqual(a, b)
}

func TestMessagePackEchoDecodesValues(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL, messagePackConfig)
	ctx := testContext(t)
	values := []struct {
		name  string
		value any
	}{
		{"int", 42},
		{"negative int", -1},
		{"int64", int64(1) << 40},
		{"uint64 max", uint64(1<<64 - 1)},
		{"int8 min", int8(-128)},
		{"float64", 1.5},
		{"float32", float32(0.25)},
		{"string", "héllo\x1e"},
		{"empty string", ""},
		{"bool", true},
		{"bytes", []byte{0, 1, 0xff}},
		{"time", time.Date(2026, 5, 17, 10, 30, 0, 123456789, time.UTC)},
		{"time before 1970", time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC)},
		{"slice", []int{1, -2, 300}},
		{"map", map[string]int{"a": 1, "b": 2}},
		{"struct without tags", point{X: 3, Y: 4}},
		{"struct with tags", sampleRecord()},
		{"nil pointer", (*point)(nil)},
	}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			got := reflect.New(reflect.TypeOf(tt.value))
			if err := c.Invoke(ctx, "Echo", got.Interface(), tt.value); err != nil {
				t.Fatalf("Echo: %v", err)
			}
			if !equalValues(got.Elem().Interface(), tt.value) {
				t.Errorf("Echo(%#v) decoded %#v", tt.value, got.Elem().Interface())
			}
		})
	}
}

func TestMessagePackWireForms(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL, messagePackConfig)
	ctx := testContext(t)
	tests := []struct {
		name  string
		value any
		want  protocol.RawValue
	}{
		{"compact int", 300, protocol.RawValue{0xcd, 0x01, 0x2c}},
		{"bytes as bin", []byte{7}, protocol.RawValue{0xc4, 0x01, 0x07}},
		{"time as timestamp", time.Unix(1, 0), protocol.RawValue{0xd6, 0xff, 0, 0, 0, 1}},
		{"json tag as key", struct {
			N int `json:"n"`
		}{1}, protocol.RawValue{0x81, 0xa1, 'n', 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw protocol.RawValue
			if err := c.Invoke(ctx, "Echo", &raw, tt.value); err != nil {
				t.Fatal(err)
			}
			if string(raw) != string(tt.want) {
				t.Errorf("Echo(%v) sent % x; want % x", tt.value, raw, tt.want)
			}
		})
	}
}

func TestMessagePackResultTypes(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL, messagePackConfig)
	ctx := testContext(t)

	var asInt8 int8
	if err := c.Invoke(ctx, "Add", &asInt8, 40, 2); err != nil || asInt8 != 42 {
		t.Errorf("Add into int8 = %d, %v; want 42", asInt8, err)
	}
	var asFloat float64
	if err := c.Invoke(ctx, "Add", &asFloat, 1, 2); err != nil || asFloat != 3 {
		t.Errorf("Add into float64 = %v, %v; want 3", asFloat, err)
	}
	var asAny any
	if err := c.Invoke(ctx, "Add", &asAny, 1, 2); err != nil || asAny != int64(3) {
		t.Errorf("Add into any = %#v, %v; want int64(3)", asAny, err)
	}
	var big string
	if err := c.Invoke(ctx, "Big", &big, 70000); err != nil || big != strings.Repeat("x", 70000) {
		t.Errorf("Big(70000) = %d bytes, %v; want 70000", len(big), err)
	}
	var notString string
	if err := c.Invoke(ctx, "Add", &notString, 1, 2); err == nil {
		t.Errorf("Add decoded into a string %q without an error", notString)
	}
	var he *signalr.HubError
	if err := c.Invoke(ctx, "Add", nil, "one", 2); !errors.As(err, &he) || !strings.Contains(he.Message, "Error binding arguments") {
		t.Errorf("Add(\"one\", 2) = %v; want a binding error from the hub", err)
	}
}

func TestMessagePackClientResults(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := signalr.NewClient(hubURL, messagePackConfig)
	c.On("Stamp", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var r record
		if err := inv.Decode(&r); err != nil {
			return nil, err
		}
		r.Count++
		r.When = r.When.Add(time.Hour)
		return r, nil
	})
	c.On("Bytes", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		return []byte("raw\x00"), nil
	})
	c.On("Nil", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		return protocol.RawValue{0xc0}, nil
	})
	c.On("Refuse", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		return nil, errors.New("not today")
	})
	ctx := testContext(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })

	var stamped record
	if err := c.Invoke(ctx, "CallMe", &stamped, "Stamp", sampleRecord(), true); err != nil {
		t.Fatalf("CallMe(Stamp): %v", err)
	}
	want := sampleRecord()
	want.Count++
	want.When = want.When.Add(time.Hour)
	if !equalValues(stamped, want) {
		t.Errorf("CallMe(Stamp) = %+v; want %+v", stamped, want)
	}

	var b []byte
	if err := c.Invoke(ctx, "CallMe", &b, "Bytes", nil, true); err != nil || string(b) != "raw\x00" {
		t.Errorf("CallMe(Bytes) = %q, %v; want raw\\x00", b, err)
	}
	p := &point{}
	if err := c.Invoke(ctx, "CallMe", &p, "Nil", nil, true); err != nil || p != nil {
		t.Errorf("CallMe(Nil) = %v, %v; want a nil pointer", p, err)
	}
	var he *signalr.HubError
	if err := c.Invoke(ctx, "CallMe", nil, "Refuse", nil, true); !errors.As(err, &he) || he.Message != "not today" {
		t.Errorf("CallMe(Refuse) = %v; want the handler's error text", err)
	}
}

// relayHub is the test hub plus Relay, which streams every item of its
// client stream back to the caller.
func relayHub() *conformance.Hub {
	h := conformance.NewTestHub()
	h.HandleStream("Relay", func(call *conformance.Call, send func(any) error) error {
		if len(call.Streams()) != 1 {
			return errors.New("Relay needs one client stream")
		}
		for {
			item, err := call.Streams()[0].Recv(call.Context())
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := send(item); err != nil {
				return err
			}
		}
	})
	return h
}

func TestMessagePackStreamsBothDirections(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{Hub: relayHub()})
	c := startClient(t, hubURL, messagePackConfig)
	ctx := testContext(t)

	up := signalr.NewClientStream()
	s, err := c.Stream(ctx, "Relay", up)
	if err != nil {
		t.Fatal(err)
	}
	sent := []record{sampleRecord(), {Name: "second", Tags: []string{}}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, r := range sent {
			if err := up.Send(ctx, r); err != nil {
				t.Errorf("Send: %v", err)
				return
			}
		}
		up.Close()
	})
	var got []record
	for s.Next() {
		var r record
		if err := s.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	wg.Wait()
	if err := s.Err(); err != nil {
		t.Fatalf("stream ended with %v", err)
	}
	if len(got) != len(sent) {
		t.Fatalf("relayed %d items; want %d", len(got), len(sent))
	}
	for i := range sent {
		if !equalValues(got[i], sent[i]) {
			t.Errorf("item %d = %+v; want %+v", i, got[i], sent[i])
		}
	}
}

func TestMessagePackUploadError(t *testing.T) {
	_, hubURL := startServer(t, conformance.Options{})
	c := startClient(t, hubURL, messagePackConfig)
	ctx := testContext(t)

	up := signalr.NewClientStream()
	done := make(chan error, 1)
	go func() { done <- c.Invoke(ctx, "Sum", nil, up) }()
	if err := up.Send(ctx, 1); err != nil {
		t.Fatal(err)
	}
	up.CloseWithError(errors.New("sensor failed"))
	var he *signalr.HubError
	if err := <-done; !errors.As(err, &he) || he.Message != "sensor failed" {
		t.Errorf("Sum = %v; want the upload's error text", err)
	}
}

// traceRecorder stores the frame types of traced messages.
type traceRecorder struct {
	mu       sync.Mutex
	received []protocol.TransferFormat
	first    []byte // the first message received
	sent     []protocol.TransferFormat
}

func (r *traceRecorder) trace(dir signalr.Direction, format protocol.TransferFormat, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dir == signalr.Sent {
		r.sent = append(r.sent, format)
		return
	}
	if r.received == nil {
		r.first = append([]byte(nil), data...)
	}
	r.received = append(r.received, format)
}

func TestMessagePackHandshakeResponseFrames(t *testing.T) {
	tests := []struct {
		name      string
		mis       conformance.Misbehavior
		wantFirst protocol.TransferFormat
		coalesced bool
	}{
		{"Binary", conformance.Misbehavior{}, protocol.TransferFormatBinary, false},
		{"Text", conformance.Misbehavior{HandshakeFormat: protocol.TransferFormatText}, protocol.TransferFormatText, false},
		{"with hub messages", conformance.Misbehavior{CoalesceHandshake: true}, protocol.TransferFormatBinary, true},
		{"split with hub messages", conformance.Misbehavior{CoalesceHandshake: true, SplitFrames: 4}, protocol.TransferFormatBinary, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, hubURL := startServer(t, conformance.Options{
				Misbehave: tt.mis,
				OnConnected: func(conn *conformance.Conn) {
					conn.Send(conn.Context(), "Welcome", "hi", 7)
				},
			})
			rec := &traceRecorder{}
			cfg := messagePackConfig
			cfg.Trace = rec.trace
			c := signalr.NewClient(hubURL, cfg)
			welcomed := make(chan string, 1)
			c.On("Welcome", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
				var s string
				var n int
				err := inv.Decode(&s, &n)
				welcomed <- s + strings.Repeat("!", n)
				return nil, err
			})
			ctx := testContext(t)
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Stop(context.Background()) })

			select {
			case got := <-welcomed:
				if got != "hi!!!!!!!" {
					t.Errorf("Welcome handler got %q; want hi and 7", got)
				}
			case <-ctx.Done():
				t.Fatal("the Welcome invocation did not arrive")
			}
			var sum int
			if err := c.Invoke(ctx, "Add", &sum, 1, 2); err != nil || sum != 3 {
				t.Errorf("Add after the handshake = %d, %v; want 3", sum, err)
			}

			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.received[0] != tt.wantFirst {
				t.Errorf("handshake response in a %v message; want %v", rec.received[0], tt.wantFirst)
			}
			if coalesced := len(rec.first) > len("{}\x1e"); coalesced != tt.coalesced {
				t.Errorf("first message %q carries hub messages: %v; want %v", rec.first, coalesced, tt.coalesced)
			}
			for i, f := range rec.received[1:] {
				if f != protocol.TransferFormatBinary {
					t.Errorf("received message %d is %v; want Binary", i+1, f)
				}
			}
			for i, f := range rec.sent {
				if f != protocol.TransferFormatBinary {
					t.Errorf("sent message %d is %v; want Binary", i, f)
				}
			}
		})
	}
}

func TestMessagePackMalformedServerMessage(t *testing.T) {
	frame := func(body string) []byte { return protocol.AppendFrame(nil, []byte(body)) }
	tests := []struct {
		name    string
		message []byte // sent after the handshake, framing included
		want    error
	}{
		{"never-used byte", frame("\xc1"), protocol.ErrInvalidMessagePack},
		{"not an array", frame("\x06"), protocol.ErrWrongType},
		{"type as string", frame("\x91\xa11"), protocol.ErrWrongType},
		{"empty message", frame(""), protocol.ErrInvalidMessage},
		{"array shorter than its header", frame("\x95\x03\x80"), protocol.ErrInvalidMessagePack},
		{"Completion without result kind", frame("\x93\x03\x80\xa11"), protocol.ErrMissingProperty},
		{"unknown result kind", frame("\x95\x03\x80\xa11\x09\xc0"), protocol.ErrInvalidMessage},
		{"invocation id as int", frame("\x94\x02\x80\x01\xc0"), protocol.ErrWrongType},
		{"invalid byte in arguments", frame("\x96\x01\x80\xc0\xa1T\x91\xc1\x90"), protocol.ErrInvalidMessagePack},
		{"string cut off in arguments", frame("\x96\x01\x80\xc0\xa1T\x91\xa5ab"), protocol.ErrInvalidMessagePack},
		{"huge array in arguments", frame("\x96\x01\x80\xc0\xa1T\xdd\xff\xff\xff\xff"), protocol.ErrInvalidMessagePack},
		{"huge header map", frame("\x96\x01\xdf\xff\xff\xff\xff"), protocol.ErrInvalidMessagePack},
		{"header value as int", frame("\x96\x01\x81\xa1k\x01\xc0\xa1T\x90\x90"), protocol.ErrWrongType},
		{"deep nesting", frame("\x96\x01\x80\xc0\xa1T\x91" + strings.Repeat("\x91", 20000) + "\xc0\x90"), protocol.ErrInvalidMessagePack},
		{"bytes after the array", frame("\x91\x06\xc0"), protocol.ErrInvalidMessage},
		{"Close with a non-boolean allowReconnect", frame("\x93\x07\xc0\x01"), protocol.ErrWrongType},
		{"length prefix too long", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, protocol.ErrInvalidFraming},
		{"length above the maximum", []byte{0x80, 0x80, 0x80, 0x08}, protocol.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, hubURL := startServer(t, conformance.Options{
				OnConnected: func(conn *conformance.Conn) { conn.SendRaw(conn.Context(), tt.message) },
			})
			c := signalr.NewClient(hubURL, messagePackConfig)
			ctx := testContext(t)
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Stop(context.Background()) })
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the connection is still open after a malformed message")
			}
			if !errors.Is(c.Err(), tt.want) {
				t.Errorf("Err = %v; want %v", c.Err(), tt.want)
			}
			var me *protocol.MessageError
			if !errors.As(c.Err(), &me) {
				t.Errorf("Err = %T; want a *protocol.MessageError", c.Err())
			}
		})
	}
}
