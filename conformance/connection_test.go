package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"pgregory.net/rapid"
)

func TestClientTimeout(t *testing.T) {
	_, c := connect(t, Options{ClientTimeout: 100 * time.Millisecond, KeepAliveInterval: -1})
	c.expectRecord(`{"type":7,"error":"Connection closed with an error. Client timeout (100ms) elapsed without receiving a message from the client.","allowReconnect":true}`)
	c.expectClosed()
}

func TestClientPingsResetTimeout(t *testing.T) {
	_, c := connect(t, Options{ClientTimeout: 300 * time.Millisecond, KeepAliveInterval: -1})
	// Ten Pings 50 ms apart span 500 ms, longer than the timeout, which
	// only each Ping keeps from expiring.
	for range 10 {
		c.sendRecord(`{"type":6}`)
		time.Sleep(50 * time.Millisecond)
	}
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,1]}`)
	c.expectRecord(`{"type":3,"invocationId":"1","result":2}`)
}

func TestClientPingGetsNoReply(t *testing.T) {
	_, c := connect(t, Options{KeepAliveInterval: -1})
	c.sendRecord(`{"type":6}`)
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	if got := c.readRecord(); got != `{"type":3,"invocationId":"1"}` {
		t.Errorf("first record after a client Ping = %s; want the Completion", got)
	}
}

func TestKeepAlivePings(t *testing.T) {
	_, c := connect(t, Options{KeepAliveInterval: 30 * time.Millisecond})
	for range 3 {
		if got := c.readRecord(); got != `{"type":6}` {
			t.Fatalf("record = %s; want a Ping", got)
		}
	}
}

func TestKeepAliveDisabled(t *testing.T) {
	_, c := connect(t, Options{KeepAliveInterval: -1, ClientTimeout: 200 * time.Millisecond})
	// Nothing but the timeout's Close may arrive.
	if got := c.readRecord(); !strings.HasPrefix(got, `{"type":7,`) {
		t.Errorf("record = %s; want the Close of the client timeout", got)
	}
}

func TestWebSocketPingGetsPong(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendFrame(ws.OpPing, true, []byte("hello"))
	f, err := c.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.op != ws.OpPong || string(f.payload) != "hello" {
		t.Errorf("frame = %v %q; want Pong \"hello\"", f.op, f.payload)
	}
}

func TestMaxReceiveMessageSize(t *testing.T) {
	const limit = 100
	const closeText = `{"type":7,"error":"Connection closed with an error. InvalidDataException: The maximum message size of 100B was exceeded. The message size can be configured in AddHubOptions."}`

	t.Run("at the limit", func(t *testing.T) {
		_, c := connect(t, Options{MaxReceiveMessageSize: limit})
		request := `{"type":1,"invocationId":"1","target":"Echo","arguments":["`
		request += strings.Repeat("a", limit-len(request)-3) + `"]}`
		c.sendRecord(request)
		c.expectRecord(`{"type":3,"invocationId":"1","result":"` + strings.Repeat("a", limit-len(`{"type":1,"invocationId":"1","target":"Echo","arguments":["`)-3) + `"}`)
	})
	t.Run("one byte over", func(t *testing.T) {
		_, c := connect(t, Options{MaxReceiveMessageSize: limit})
		c.sendRecord(`{"type":6,"pad":"` + strings.Repeat("a", limit-len(`{"type":6,"pad":""}`)+1) + `"}`)
		c.expectRecord(closeText)
		c.expectClosed()
	})
	t.Run("incomplete record", func(t *testing.T) {
		_, c := connect(t, Options{MaxReceiveMessageSize: limit})
		c.send(strings.Repeat(" ", limit+1))
		c.expectRecord(closeText)
		c.expectClosed()
	})
	t.Run("default", func(t *testing.T) {
		_, c := connect(t, Options{})
		c.sendRecord(`{"type":6,"pad":"` + strings.Repeat("a", 32<<10) + `"}`)
		if got := c.readRecord(); !strings.Contains(got, "The maximum message size of 32768B was exceeded.") {
			t.Errorf("record = %s; want the Close of a message too large", got)
		}
	})
	t.Run("several records in one message", func(t *testing.T) {
		// The limit applies to each hub message, not to the WebSocket
		// message that carries them.
		_, c := connect(t, Options{MaxReceiveMessageSize: limit})
		var batch strings.Builder
		for range 20 {
			batch.WriteString(`{"type":6}` + "\x1e")
		}
		batch.WriteString(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}` + "\x1e")
		c.send(batch.String())
		c.expectRecord(`{"type":3,"invocationId":"1"}`)
	})
}

func TestMalformedMessages(t *testing.T) {
	const prefix = `{"type":7,"error":"Connection closed with an error. InvalidDataException: `
	tests := []struct {
		name    string
		message string
		want    string
	}{
		{"garbage", "\x00\xff garbage", prefix},
		{"truncated JSON", `{"type":1,`, prefix},
		{"array", `[1,2]`, prefix},
		{"empty record", ``, prefix},
		{"missing type", `{"target":"Add"}`, prefix + `signalr/protocol: missing required property`},
		{"type as string", `{"type":"1"}`, prefix + `signalr/protocol: property has the wrong type`},
		{"invocationId as number", `{"type":1,"invocationId":5,"target":"Add","arguments":[]}`, prefix},
		{"arguments as object", `{"type":1,"target":"Add","arguments":{}}`, prefix},
		{"header value as number", `{"type":1,"headers":{"a":1},"target":"Add","arguments":[]}`, prefix},
		{"result and error", `{"type":3,"invocationId":"1","result":1,"error":"x"}`, prefix},
		{"missing arguments", `{"type":1,"invocationId":"1","target":"Add"}`, prefix},
		{"stream item without item", `{"type":2,"invocationId":"1"}`, prefix},
		{"allowReconnect as string", `{"type":7,"allowReconnect":"yes"}`, prefix},
		{"deep nesting", `{"type":1,"target":"Echo","arguments":[` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `]}`, prefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := connect(t, Options{MaxReceiveMessageSize: -1})
			c.sendRecord(tt.message)
			got := c.readRecord()
			if !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, `"}`) {
				t.Errorf("record = %s; want a Close starting with %s", got, tt.want)
			}
			c.expectClosed()
		})
	}
}

func TestUnknownMessageTypesIgnored(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":99,"payload":[1,2,{"x":null}]}`)
	c.sendRecord(`{"type":0}`)
	c.sendRecord(`{"type":-5}`)
	c.sendRecord(`{"type":8,"sequenceId":3}`)
	c.sendRecord(`{"type":9,"sequenceId":1}`)
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
}

func TestClientCloseMessage(t *testing.T) {
	srv, c := connect(t, Options{})
	c.sendRecord(`{"type":7,"error":"client is leaving"}`)
	c.expectClosed()
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })
}

func TestWebSocketProtocolError(t *testing.T) {
	_, c := connect(t, Options{})
	// Frames from a client must be masked.
	if err := ws.WriteFrame(c.conn, ws.NewTextFrame([]byte(`{"type":6}`+"\x1e"))); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			t.Fatalf("reading the close frame: %v", err)
		}
		if f.op != ws.OpClose {
			continue
		}
		code, _ := ws.ParseCloseFrameData(f.payload)
		if code != ws.StatusProtocolError {
			t.Errorf("close code = %d; want %d", code, ws.StatusProtocolError)
		}
		return
	}
}

func TestClientWebSocketClose(t *testing.T) {
	srv, c := connect(t, Options{})
	c.sendFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))
	f, err := c.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	code, _ := ws.ParseCloseFrameData(f.payload)
	if f.op != ws.OpClose || code != ws.StatusNormalClosure {
		t.Errorf("frame = %v code %d; want the echoed close frame", f.op, code)
	}
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })
}

func TestServerCloseEndsConnections(t *testing.T) {
	srv := NewServer(Options{})
	if _, err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, srv.HubURL(), nil)
	c.handshake()
	c.sendRecord(`{"type":4,"invocationId":"1","target":"Counter","arguments":[1000000,10]}`)
	c.expectRecord(`{"type":2,"invocationId":"1","item":0}`)

	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for {
		if _, err := c.tryReadRecord(); err != nil {
			break
		}
	}
	if _, err := srv.Listen(); err != ErrServerClosed {
		t.Errorf("Listen after Close: error %v; want ErrServerClosed", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRandomInputNeverPanics(t *testing.T) {
	srv := startServer(t, Options{MaxReceiveMessageSize: 256})
	rapid.Check(t, func(rt *rapid.T) {
		c := dialRaw(t, srv.HubURL(), nil)
		defer c.conn.Close()
		if rapid.Bool().Draw(rt, "handshake first") {
			c.handshake()
		}
		for _, payload := range rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 300), 1, 4).Draw(rt, "messages") {
			op := rapid.SampledFrom([]ws.OpCode{ws.OpText, ws.OpBinary}).Draw(rt, "op")
			c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
			if ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewFrame(op, true, payload))) != nil {
				break
			}
		}
		// Whatever the input, the server keeps serving new connections.
		probe := dialRaw(t, srv.HubURL(), nil)
		defer probe.conn.Close()
		probe.handshake()
		probe.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,1]}`)
		probe.expectRecord(`{"type":3,"invocationId":"1","result":2}`)
	})
}
