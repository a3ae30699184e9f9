package conformance

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestMisbehaveSplitFrames(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{SplitFrames: 3}})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`)
	op, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":3,"invocationId":"1","result":3}` + "\x1e"; op != ws.OpText || string(payload) != want {
		t.Errorf("message = %v %q; want Text %q", op, payload, want)
	}
	if len(c.frames) != 3 {
		t.Fatalf("message came in %d frames; want 3", len(c.frames))
	}
	wantOps := []ws.OpCode{ws.OpText, ws.OpContinuation, ws.OpContinuation}
	for i, f := range c.frames {
		if f.op != wantOps[i] || f.fin != (i == 2) || len(f.payload) == 0 {
			t.Errorf("frame %d: op %v fin %v %d bytes; want op %v fin %v and a payload", i, f.op, f.fin, len(f.payload), wantOps[i], i == 2)
		}
	}
}

func TestMisbehaveSplitShortMessage(t *testing.T) {
	// The handshake response has 3 bytes, so 10 frames become 3.
	srv := startServer(t, Options{Misbehave: Misbehavior{SplitFrames: 10}})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"json","version":1}`)
	if _, payload, err := c.readMessage(); err != nil || string(payload) != "{}\x1e" {
		t.Fatalf("handshake response = %q, %v; want {}\\x1e", payload, err)
	}
	if len(c.frames) != 3 {
		t.Errorf("handshake response came in %d frames; want 3", len(c.frames))
	}
}

func TestMisbehaveBatchMessages(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{BatchMessages: 3, BatchDelay: time.Second}})
	c.sendRecord(`{"type":4,"invocationId":"s","target":"Counter","arguments":[5,0]}`)

	// Five items and a Completion are six hub messages, two full batches.
	var want strings.Builder
	for i := range 5 {
		want.WriteString(`{"type":2,"invocationId":"s","item":` + strconv.Itoa(i) + "}\x1e")
	}
	want.WriteString(`{"type":3,"invocationId":"s"}` + "\x1e")
	var got []string
	var total string
	for len(total) < want.Len() {
		_, payload, err := c.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(payload))
		total += string(payload)
	}
	if total != want.String() {
		t.Fatalf("messages = %q; want the records %q", got, want.String())
	}
	if len(got) != 2 {
		t.Errorf("six hub messages came in %d WebSocket messages; want 2: %q", len(got), got)
	}
}

func TestMisbehaveBatchSendsPartialBatch(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{BatchMessages: 5, BatchDelay: 10 * time.Millisecond}})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
}

func TestMisbehaveCoalesceHandshake(t *testing.T) {
	srv := startServer(t, Options{
		Misbehave: Misbehavior{CoalesceHandshake: true},
		OnConnected: func(conn *Conn) {
			conn.Send(context.Background(), "Welcome", "hi")
		},
	})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"json","version":1}`)
	_, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := "{}\x1e" + `{"type":6}` + "\x1e" + `{"type":1,"target":"Welcome","arguments":["hi"]}` + "\x1e"
	if string(payload) != want {
		t.Errorf("first message = %q; want %q", payload, want)
	}
}

func TestMisbehaveUnknownTypeBeforeEach(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{UnknownTypeBeforeEach: true}})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`)
	unknown := strings.TrimSuffix(string(unknownTypeJSON), "\x1e")
	if got := c.readRecord(); got != unknown {
		t.Errorf("first record = %s; want %s", got, unknown)
	}
	if got, want := c.readRecord(), `{"type":3,"invocationId":"1","result":3}`; got != want {
		t.Errorf("second record = %s; want %s", got, want)
	}
}

func TestMisbehaveStrayCompletions(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{StrayCompletions: true}})
	for i := 1; i <= 2; i++ {
		id := strconv.Itoa(i)
		c.sendRecord(`{"type":1,"invocationId":"` + id + `","target":"Void","arguments":[]}`)
		if got, want := c.readRecord(), `{"type":3,"invocationId":"stray-`+id+`"}`; got != want {
			t.Errorf("record = %s; want %s", got, want)
		}
		if got, want := c.readRecord(), `{"type":3,"invocationId":"`+id+`"}`; got != want {
			t.Errorf("record = %s; want %s", got, want)
		}
	}
}

func TestMisbehavePingDelay(t *testing.T) {
	const interval, delay = 20 * time.Millisecond, 150 * time.Millisecond
	_, c := connect(t, Options{KeepAliveInterval: interval, Misbehave: Misbehavior{PingDelay: delay}})
	start := time.Now()
	if got := c.readRecord(); got != `{"type":6}` {
		t.Fatalf("record = %s; want a Ping", got)
	}
	// The Ping is due interval+delay after the handshake response was
	// written, which was before start, so a margin is subtracted.
	if elapsed := time.Since(start); elapsed < interval+delay-50*time.Millisecond {
		t.Errorf("Ping came %v after the handshake; want at least %v", elapsed, interval+delay-50*time.Millisecond)
	}
}

func TestMisbehaveDropPings(t *testing.T) {
	_, c := connect(t, Options{
		KeepAliveInterval: 10 * time.Millisecond,
		ClientTimeout:     200 * time.Millisecond,
		Misbehave:         Misbehavior{DropPings: true},
	})
	if got := c.readRecord(); !strings.HasPrefix(got, `{"type":7,`) {
		t.Errorf("record = %s; want the Close of the client timeout and no Ping before it", got)
	}
}

func TestMisbehaveCombined(t *testing.T) {
	_, c := connect(t, Options{Misbehave: Misbehavior{
		SplitFrames:           2,
		BatchMessages:         4,
		BatchDelay:            time.Second,
		UnknownTypeBeforeEach: true,
		StrayCompletions:      true,
	}})
	// Each Completion becomes three hub messages: the unknown message, a
	// stray Completion and the Completion. The first fills three places of
	// the batch of four, and the second, added whole, completes it.
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	c.sendRecord(`{"type":1,"invocationId":"2","target":"Void","arguments":[]}`)
	unknown := string(unknownTypeJSON)
	want := unknown + `{"type":3,"invocationId":"stray-1"}` + "\x1e" + `{"type":3,"invocationId":"1"}` + "\x1e" +
		unknown + `{"type":3,"invocationId":"stray-2"}` + "\x1e" + `{"type":3,"invocationId":"2"}` + "\x1e"
	_, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != want {
		t.Errorf("message = %q; want %q", payload, want)
	}
	if len(c.frames) != 2 {
		t.Errorf("message came in %d frames; want 2", len(c.frames))
	}
}
