package conformance

import (
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func TestHandshakeSuccess(t *testing.T) {
	srv := startServer(t, Options{})
	tests := []struct {
		name    string
		op      ws.OpCode
		request string
	}{
		{"version 1", ws.OpText, `{"protocol":"json","version":1}`},
		{"version 2", ws.OpText, `{"protocol":"json","version":2}`},
		{"version 0", ws.OpText, `{"protocol":"json","version":0}`},
		{"binary frame", ws.OpBinary, `{"protocol":"json","version":1}`},
		{"white space and unknown property", ws.OpText, ` { "version" : 1 , "x":[null], "protocol" : "json" } `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, srv.HubURL(), nil)
			c.sendFrame(tt.op, true, []byte(tt.request+"\x1e"))
			op, payload, err := c.readMessage()
			if err != nil {
				t.Fatal(err)
			}
			if op != ws.OpText || string(payload) != "{}\x1e" {
				t.Errorf("response = %v %q; want a Text frame with {}\\x1e", op, payload)
			}
		})
	}
}

func TestHandshakeErrors(t *testing.T) {
	srv := startServer(t, Options{})
	tests := []struct {
		name    string
		request string
		want    string
	}{
		{
			name:    "unknown protocol",
			request: `{"protocol":"xml","version":1}`,
			want:    `{"error":"The protocol 'xml' is not supported."}`,
		},
		{
			name:    "version too high",
			request: `{"protocol":"json","version":3}`,
			want:    `{"error":"The server does not support version 3 of the 'json' protocol."}`,
		},
		{
			name:    "missing protocol",
			request: `{"version":1}`,
			want:    `{"error":"An unexpected error occurred during connection handshake. InvalidDataException: signalr/protocol: missing required property at offset 13: property \"protocol\": required by the handshake request"}`,
		},
		{
			name:    "garbage",
			request: `hello`,
			want:    `{"error":"An unexpected error occurred during connection handshake. InvalidDataException: `,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, srv.HubURL(), nil)
			c.sendRecord(tt.request)
			got := c.readRecord()
			if len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
				t.Errorf("response = %s; want %s", got, tt.want)
			}
			c.expectClosed()
		})
	}
}

func TestHandshakeProtocolNotConfigured(t *testing.T) {
	srv := startServer(t, Options{Protocols: []protocol.HubProtocol{protocol.JSON{}}})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"messagepack","version":1}`)
	if got, want := c.readRecord(), `{"error":"The protocol 'messagepack' is not supported."}`; got != want {
		t.Errorf("response = %s; want %s", got, want)
	}
	c.expectClosed()
}

func TestHandshakeTimeout(t *testing.T) {
	srv := startServer(t, Options{HandshakeTimeout: 50 * time.Millisecond})
	c := dialRaw(t, srv.HubURL(), nil)
	if got, want := c.readRecord(), `{"error":"Handshake was canceled."}`; got != want {
		t.Errorf("response = %s; want %s", got, want)
	}
	c.expectClosed()
}

func TestHandshakeWithFirstMessage(t *testing.T) {
	srv := startServer(t, Options{})
	c := dialRaw(t, srv.HubURL(), nil)
	c.send(`{"protocol":"json","version":1}` + "\x1e" + `{"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}` + "\x1e")
	c.expectRecord("{}")
	c.expectRecord(`{"type":3,"invocationId":"1","result":5}`)
}

func TestHandshakeSplitAcrossFrames(t *testing.T) {
	srv := startServer(t, Options{})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendFrame(ws.OpText, false, []byte(`{"protocol":`))
	c.sendFrame(ws.OpPing, true, []byte("in between"))
	c.sendFrame(ws.OpContinuation, true, []byte(`"json","version":1}`))
	c.send("\x1e")
	c.expectRecord("{}")
}
