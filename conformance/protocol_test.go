package conformance

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// binaryJSON is a hub protocol for tests that writes JSON messages with the
// binary framing, a varint length prefix, so that the server's binary path
// runs without a MessagePack implementation.
type binaryJSON struct{ protocol.JSON }

func (binaryJSON) Name() string { return "binaryjson" }

func (binaryJSON) TransferFormat() protocol.TransferFormat { return protocol.TransferFormatBinary }

func (binaryJSON) AppendMessage(dst []byte, m *protocol.Message) ([]byte, error) {
	record, err := protocol.JSON{}.AppendMessage(nil, m)
	if err != nil {
		return dst, err
	}
	return protocol.AppendFrame(dst, record[:len(record)-1]), nil
}

func TestPluggedBinaryProtocol(t *testing.T) {
	srv := startServer(t, Options{Protocols: []protocol.HubProtocol{protocol.JSON{}, binaryJSON{}}})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"binaryjson","version":1}`)
	op, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if op != ws.OpBinary || string(payload) != "{}\x1e" {
		t.Fatalf("handshake response = %v %q; want a Binary frame with {}\\x1e", op, payload)
	}

	request := protocol.AppendFrame(nil, []byte(`{"type":1,"invocationId":"1","target":"Add","arguments":[2,2]}`))
	c.sendFrame(ws.OpBinary, true, request)
	op, payload, err = c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.AppendFrame(nil, []byte(`{"type":3,"invocationId":"1","result":4}`))
	if op != ws.OpBinary || !bytes.Equal(payload, want) {
		t.Errorf("Completion = %v %q; want Binary %q", op, payload, want)
	}
}
