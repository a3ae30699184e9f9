package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// recordClient is the client name written into the captures of --record.
const recordClient = "hubwire hubprobe"

// A frameLog receives every WebSocket message of a session through
// signalr.Config.Trace. With -v it prints each message to stderr, and with
// --record it keeps a copy for the capture file. Known secrets are replaced
// by [REDACTED] in both.
type frameLog struct {
	secrets  *redactor
	trace    *tracer // nil without -v
	record   bool
	stateful bool // --stateful-reconnect

	mu       sync.Mutex
	messages []conformance.Message
	// starts contains, for each connection that automatic reconnect
	// opened, the index in messages of its first message.
	starts []int
	// handshakeSeen records the directions whose first message on the
	// current connection, which starts with the handshake, has passed.
	handshakeSeen [2]bool
}

// observe is the signalr.Config.Trace function of a session. It runs on
// the client's read or write goroutine, so a stderr pipe that is not
// drained stalls the connection.
//
// The "= reattach" mark goes before the Sequence message the client
// sends, because the client sends one only as the first message on a
// WebSocket that reattached for stateful reconnect, in a WebSocket
// message of its own. Config.OnReattached cannot place the mark: it runs
// after the client has also sent the unacknowledged messages again.
func (f *frameLog) observe(dir signalr.Direction, format protocol.TransferFormat, data []byte) {
	reattached := f.stateful && dir == signalr.Sent && isSequence(format, data)
	side := 0
	if dir == signalr.Received {
		side = 1
	}
	f.mu.Lock()
	newConnection := dir == signalr.Sent && f.handshakeSeen[0] && isHandshakeRequest(data)
	if newConnection {
		f.handshakeSeen = [2]bool{}
		f.starts = append(f.starts, len(f.messages))
	}
	handshake := !f.handshakeSeen[side]
	f.handshakeSeen[side] = true
	f.mu.Unlock()

	if format == protocol.TransferFormatBinary {
		data = f.secrets.redactBinary(data, handshake)
	} else {
		data = f.secrets.redact(data)
	}
	if f.trace != nil {
		if newConnection {
			f.trace.printf("= new connection: handshake again")
		}
		if reattached {
			f.trace.printf("= reattach: a new WebSocket for the same connection")
		}
		f.print(dir, format, data, handshake)
	}
	if !f.record {
		return
	}
	msg := conformance.Message{Direction: conformance.ClientToServer, Data: bytes.Clone(data), Reattached: reattached}
	if dir == signalr.Received {
		msg.Direction = conformance.ServerToClient
	}
	if msg.Data == nil {
		msg.Data = []byte{}
	}
	msg.Format = format
	f.mu.Lock()
	f.messages = append(f.messages, msg)
	f.mu.Unlock()
}

// isHandshakeRequest reports whether data, a message the client sent,
// starts with a handshake request. The client sends one first on every
// new connection. No hub message starts with the same bytes, because the
// client writes a JSON hub message starting with {"type", and a
// MessagePack hub message has an array after its length prefix.
func isHandshakeRequest(data []byte) bool {
	return bytes.HasPrefix(data, []byte(`{"protocol":`))
}

// print traces one message. A binary message is printed escaped, as in a
// capture file, and then each MessagePack hub message in it as JSON on a
// line of its own.
func (f *frameLog) print(dir signalr.Direction, format protocol.TransferFormat, data []byte, handshake bool) {
	arrow := ">"
	if dir == signalr.Received {
		arrow = "<"
	}
	if format != protocol.TransferFormatBinary {
		f.trace.printf("%s ws %s", arrow, conformance.AppendEscaped(nil, data))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ws binary %s", arrow, conformance.AppendEscaped(nil, data))
	for _, part := range splitBinaryMessage(data, handshake) {
		if part.kind == partHandshake {
			continue // readable in the escaped line
		}
		b.WriteString("\n    = ")
		b.WriteString(part.describe())
	}
	f.trace.printf("%s", b.String())
}

// captures returns the recorded messages as one capture per connection,
// for the session that ran the command scenario. A capture holds one
// connection, and automatic reconnect opens each new one with a handshake
// of its own. Call it after the client has stopped.
func (f *frameLog) captures(protocolName, scenario string) []*conformance.Capture {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*conformance.Capture
	bounds := append(append([]int{0}, f.starts...), len(f.messages))
	for i := 0; i+1 < len(bounds); i++ {
		out = append(out, &conformance.Capture{
			Protocol: protocolName,
			Scenario: scenario,
			Client:   recordClient,
			Messages: append([]conformance.Message(nil), f.messages[bounds[i]:bounds[i+1]]...),
		})
	}
	return out
}

// writeRecording writes the --record file of a finished session and notes
// it on stderr. It writes nothing when no WebSocket message was exchanged,
// so that a session that failed to connect leaves an earlier file intact.
// After automatic reconnect, each connection gets a file of its own: the
// first the --record path, the second that path with ".2" before its
// extension, and so on.
func writeRecording(env *environment, cf *connFlags, s *session, scenario string) error {
	if cf.record == "" || s == nil || s.frames == nil {
		return nil
	}
	captures := s.frames.captures(s.values.proto.Name(), scenario)
	if len(captures) == 0 || len(captures[0].Messages) == 0 {
		fmt.Fprintf(env.stderr, "hubprobe %s: --record: no WebSocket message was exchanged; %s not written\n", scenario, cf.record)
		return nil
	}
	for i, c := range captures {
		path := connectionRecordPath(cf.record, i+1)
		if err := writeCaptureFile(path, c); err != nil {
			return err
		}
		connectionNote := ""
		if len(captures) > 1 {
			connectionNote = fmt.Sprintf(" of connection %d", i+1)
		}
		fmt.Fprintf(env.stderr, "hubprobe %s: wrote %d WebSocket messages%s to %s; read them with 'hubprobe replay %s'\n", scenario, len(c.Messages), connectionNote, path, path)
	}
	return nil
}

// connectionRecordPath returns the --record path of the nth connection of
// a session: path itself for the first, and for later ones path with
// ".n" before its extension, such as session.2.capture.
func connectionRecordPath(path string, n int) string {
	if n == 1 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(path, ext), n, ext)
}

// The kinds of a binaryPart.
const (
	partHubMessage = iota
	partHandshake
	partIncomplete
)

// A binaryPart is one piece of a binary WebSocket message: the JSON
// handshake that starts the first message of each direction, a MessagePack
// hub message, or trailing bytes that form no whole hub message. Such
// trailing bytes can be the start of a hub message that continues in the
// next WebSocket message.
type binaryPart struct {
	kind int
	data []byte // without the record separator or the length prefix

	// handshake reports that an incomplete part is the start of the
	// handshake, which a record separator ends.
	handshake bool
}

// splitBinaryMessage splits a binary WebSocket message into its parts.
// handshake reports that the message is the first of its direction.
func splitBinaryMessage(data []byte, handshake bool) []binaryPart {
	var parts []binaryPart
	if handshake {
		record, rest, ok := protocol.SplitRecord(data)
		if !ok {
			return []binaryPart{{kind: partIncomplete, data: data, handshake: true}}
		}
		parts = append(parts, binaryPart{kind: partHandshake, data: record})
		data = rest
	}
	for len(data) > 0 {
		payload, rest, ok := splitBinary(data)
		if !ok {
			return append(parts, binaryPart{kind: partIncomplete, data: data})
		}
		parts = append(parts, binaryPart{kind: partHubMessage, data: payload})
		data = rest
	}
	return parts
}

// describe returns the part as one line of text: a hub message as JSON
// converted from MessagePack, anything else escaped. The error of a hub
// message that does not convert is the parser error of the MessagePack hub
// protocol, the one 'replay --check' reports, where the parser finds one.
func (p binaryPart) describe() string {
	switch p.kind {
	case partHubMessage:
		v, err := messagePackToJSON(p.data)
		if err == nil {
			return string(v)
		}
		var m protocol.Message
		if parseErr := (protocol.MessagePack{}).ParseMessage(p.data, &m); parseErr != nil {
			err = parseErr
		}
		return describeInvalid(err, p.data)
	case partHandshake:
		return string(conformance.AppendEscaped(nil, p.data))
	}
	return describeInvalid(incompleteError(p.data, p.handshake), p.data)
}

// splitBinary splits one hub message, with its varint length prefix, off
// data. It reports false when data holds no whole hub message or the
// prefix is invalid.
func splitBinary(data []byte) (payload, rest []byte, ok bool) {
	n, size, err := protocol.ConsumeVarint(data)
	if err != nil || size == 0 || n > len(data)-size {
		return nil, data, false
	}
	return data[size : size+n], data[size+n:], true
}
