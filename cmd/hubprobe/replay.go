package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

const replayDescription = `Prints a capture file, as written by --record, serve --record-dir or the
conformance server, one hub message per line, with the file line and the
peer that sent it. A MessagePack hub message is printed as the JSON array it
converts to, as described under 'hubprobe help call'. An invalid hub message
is printed with the parser's error and its payload, escaped as in the
capture file.

With --check it instead parses every hub message with the hub protocol of
the capture, json or messagepack, and reports the first invalid one with
its line, its sender and its place in the WebSocket message; the exit
status is then 1. A hub message may continue in the next WebSocket message
of the same sender, but not across a "= reattach" line, which marks a new
WebSocket of a connection with stateful reconnect.`

// runReplay implements "hubprobe replay".
func runReplay(env *environment, args []string) error {
	cmd := lookupCommand("replay")
	fs := newFlagSet(env, cmd, replayDescription)
	check := fs.Bool("check", false, "parse every message with the hub protocol and report the first invalid one")
	jsonOut := fs.Bool("json", false, "print one JSON object per line instead of text, with the members line and direction for each message; an error that ends the command is printed as {\"event\":\"error\",...} on stdout")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(cmd.name, "expected one FILE, got %d arguments", fs.NArg())
	}
	path := fs.Arg(0)
	c, err := conformance.ReadCaptureFile(path)
	if err != nil {
		return err
	}
	p := newPrinter(env, *jsonOut)
	if *check {
		n, err := checkCapture(c)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		webSocketMessages := len(c.Messages)
		p.print(event{
			Event:             "checked",
			Message:           fmt.Sprintf("%s: %d WebSocket messages, %d hub messages, all valid", path, webSocketMessages, n),
			WebSocketMessages: &webSocketMessages,
			HubMessages:       &n,
		})
		return nil
	}
	printCapture(p, c)
	return nil
}

// messageLines returns the file line of each message of c. The header has
// the magic line, three fixed lines and the extra fields, and a
// "= reattach" line comes before each message that starts a reattached
// WebSocket.
func messageLines(c *conformance.Capture) []int {
	lines := make([]int, len(c.Messages))
	line := 5 + len(c.Fields)
	for i, m := range c.Messages {
		if m.Reattached {
			line++
		}
		lines[i] = line
		line++
	}
	return lines
}

// An invalidMessageError locates an invalid hub message in a capture file.
type invalidMessageError struct {
	line      int // file line of the WebSocket message in which the hub message starts
	direction conformance.Direction
	record    int // 1-based hub message among those that start on line
	data      []byte
	err       error
}

func (e *invalidMessageError) Error() string {
	return fmt.Sprintf("line %d (sent by the %s), hub message %d: %s", e.line, senderName(directionName(e.direction)), e.record, describeInvalid(e.err, e.data))
}

func (e *invalidMessageError) Unwrap() error { return e.err }

// describeInvalid returns the text for an invalid hub message: the error
// and the payload, escaped as in a capture file.
func describeInvalid(err error, data []byte) string {
	return fmt.Sprintf("%v; payload: %s", err, escapePayload(data))
}

// maxPayloadShown is the number of payload bytes an error message shows.
const maxPayloadShown = 64

// escapePayload escapes data as in a capture file, cut after
// maxPayloadShown bytes.
func escapePayload(data []byte) string {
	if len(data) <= maxPayloadShown {
		return string(conformance.AppendEscaped(nil, data))
	}
	escaped := conformance.AppendEscaped(nil, data[:maxPayloadShown])
	return fmt.Sprintf("%s... (%d bytes in all)", escaped, len(data))
}

// directionName returns the JSON name of a direction.
func directionName(d conformance.Direction) string {
	if d == conformance.ServerToClient {
		return "server-to-client"
	}
	return "client-to-server"
}

// senderName returns the peer that sends in the direction directionName
// returned.
func senderName(direction string) string {
	if direction == "server-to-client" {
		return "server"
	}
	return "client"
}

// A checkState follows the hub messages of one direction of a capture.
type checkState struct {
	handshakeDone bool

	// pending holds the start of a hub message that the next WebSocket
	// message of the direction must continue. pendingLine and
	// pendingRecord locate where the next hub message starts.
	pending       []byte
	pendingLine   int
	pendingRecord int
}

// checkCapture parses every hub message of c, the handshake included, and
// returns how many there were or the first invalid one. A hub message may
// continue in the next WebSocket message of the same direction.
func checkCapture(c *conformance.Capture) (int, error) {
	proto, err := captureProtocol(c)
	if err != nil {
		return 0, err
	}
	states := map[conformance.Direction]*checkState{
		conformance.ClientToServer: {},
		conformance.ServerToClient: {},
	}
	count := 0
	var m protocol.Message
	lines := messageLines(c)
	for i, msg := range c.Messages {
		line := lines[i]
		if msg.Reattached {
			// A hub message cut off by the lost WebSocket does not
			// continue on the new one, because stateful reconnect sends
			// it again in full.
			for _, st := range states {
				st.pending = nil
			}
		}
		st := states[msg.Direction]
		if st == nil {
			return count, fmt.Errorf("line %d: unknown direction %d", line, msg.Direction)
		}
		if msg.Format != proto.TransferFormat() && st.handshakeDone {
			return count, &invalidMessageError{line: line, direction: msg.Direction, record: 1, data: msg.Data,
				err: fmt.Errorf("%s frame, but the %s protocol uses %s frames", formatName(msg.Format), proto.Name(), formatName(proto.TransferFormat()))}
		}
		data := msg.Data
		if len(st.pending) == 0 {
			st.pendingLine, st.pendingRecord = line, 1
		} else {
			data = append(st.pending, msg.Data...)
		}
		for len(data) > 0 {
			textFraming := !st.handshakeDone || proto.TransferFormat() == protocol.TransferFormatText
			payload, rest, err := splitHubMessage(data, textFraming)
			if err != nil {
				return count, &invalidMessageError{line: st.pendingLine, direction: msg.Direction, record: st.pendingRecord, data: data, err: err}
			}
			if payload == nil {
				break
			}
			count++
			if err := parseOne(proto, msg.Direction, !st.handshakeDone, payload, &m); err != nil {
				return count, &invalidMessageError{line: st.pendingLine, direction: msg.Direction, record: st.pendingRecord, data: payload, err: err}
			}
			st.handshakeDone = true
			// The next hub message starts in this WebSocket message.
			if st.pendingLine == line {
				st.pendingRecord++
			} else {
				st.pendingLine, st.pendingRecord = line, 1
			}
			data = rest
		}
		st.pending = append([]byte(nil), data...)
	}
	for _, dir := range []conformance.Direction{conformance.ClientToServer, conformance.ServerToClient} {
		st := states[dir]
		if len(st.pending) == 0 {
			continue
		}
		textFraming := !st.handshakeDone || proto.TransferFormat() == protocol.TransferFormatText
		err := fmt.Errorf("%w, and no later %s message continues it", incompleteError(st.pending, textFraming), senderName(directionName(dir)))
		return count, &invalidMessageError{line: st.pendingLine, direction: dir, record: st.pendingRecord, data: st.pending, err: err}
	}
	return count, nil
}

// splitHubMessage splits the first hub message off data: a record that
// ends with the record separator when textFraming is set, otherwise a
// MessagePack hub message after its varint length prefix. It returns a nil
// payload when data holds no whole hub message, and an error for an
// invalid length prefix.
func splitHubMessage(data []byte, textFraming bool) (payload, rest []byte, err error) {
	if textFraming {
		payload, rest, ok := protocol.SplitRecord(data)
		if !ok {
			return nil, data, nil
		}
		if payload == nil {
			payload = []byte{}
		}
		return payload, rest, nil
	}
	n, size, err := protocol.ConsumeVarint(data)
	if err != nil {
		return nil, data, err
	}
	if size == 0 || n > len(data)-size {
		return nil, data, nil
	}
	return data[size : size+n], data[size+n:], nil
}

// incompleteError describes bytes that form no whole hub message: with
// textFraming a record without its separator, otherwise a MessagePack hub
// message shorter than its length prefix announces. An invalid length
// prefix gets the error of the prefix instead.
func incompleteError(data []byte, textFraming bool) error {
	if textFraming {
		return errors.New("incomplete hub message: no record separator (0x1e) ends it")
	}
	n, size, err := protocol.ConsumeVarint(data)
	switch {
	case err != nil:
		return err
	case size == 0:
		return errors.New("incomplete hub message: its length prefix is cut off")
	}
	return fmt.Errorf("incomplete hub message: its length prefix announces %s, but %s follow",
		plural(n, "byte"), plural(len(data)-size, "byte"))
}

// parseOne parses one hub message payload: the handshake when handshake
// is set, otherwise a hub message of proto.
func parseOne(proto protocol.HubProtocol, dir conformance.Direction, handshake bool, payload []byte, m *protocol.Message) error {
	if handshake {
		if dir == conformance.ClientToServer {
			_, err := protocol.ParseHandshakeRequest(payload)
			return err
		}
		_, err := protocol.ParseHandshakeResponse(payload)
		return err
	}
	if err := proto.ParseMessage(payload, m); err != nil {
		return err
	}
	if !m.Type.IsKnown() {
		return fmt.Errorf("unknown message type %d", int(m.Type))
	}
	return nil
}

func captureProtocol(c *conformance.Capture) (protocol.HubProtocol, error) {
	switch c.Protocol {
	case "json", "":
		return protocol.JSON{}, nil
	case "messagepack":
		return protocol.MessagePack{}, nil
	}
	return nil, fmt.Errorf("the capture uses the %q hub protocol; hubprobe can check only json and messagepack", c.Protocol)
}

func formatName(f protocol.TransferFormat) string {
	if f == protocol.TransferFormatBinary {
		return "binary"
	}
	return "text"
}

// printCapture prints each hub message of c on one line, with its
// direction. A MessagePack hub message is printed as the JSON array it
// converts to. An invalid hub message is printed with the error of the
// hub protocol parser and its escaped payload.
func printCapture(p *printer, c *conformance.Capture) {
	header := fmt.Sprintf("capture: protocol %q", c.Protocol)
	if c.Scenario != "" {
		header += fmt.Sprintf(", scenario %q", c.Scenario)
	}
	if c.Client != "" {
		header += fmt.Sprintf(", client %q", c.Client)
	}
	p.print(event{Event: "note", Message: header})
	handshakeSeen := map[conformance.Direction]bool{}
	lines := messageLines(c)
	for i, msg := range c.Messages {
		line := lines[i]
		if msg.Reattached {
			p.print(event{Event: "reattach", Line: line - 1})
		}
		handshake := !handshakeSeen[msg.Direction]
		handshakeSeen[msg.Direction] = true
		at := event{Event: "frame", Line: line, Direction: directionName(msg.Direction)}
		if msg.Format == protocol.TransferFormatBinary {
			for _, part := range splitBinaryMessage(msg.Data, handshake) {
				if part.kind == partHandshake {
					p.print(textFrameEvent(at, msg.Direction, true, part.data, true))
				} else {
					p.print(binaryFrameEvent(at, part))
				}
			}
			continue
		}
		data := msg.Data
		for first := true; len(data) > 0; first = false {
			payload, rest, ok := protocol.SplitRecord(data)
			if !ok {
				p.print(textFrameEvent(at, msg.Direction, handshake && first, data, false))
				break
			}
			p.print(textFrameEvent(at, msg.Direction, handshake && first, payload, true))
			data = rest
		}
	}
}

// binaryFrameEvent fills at with one MessagePack part of a binary message.
func binaryFrameEvent(at event, part binaryPart) event {
	if part.kind == partHubMessage {
		if v, err := messagePackToJSON(part.data); err == nil {
			at.Item = v
			return at
		}
	}
	at.Error = part.describe()
	return at
}

// textFrameEvent fills at with one JSON record, the handshake when
// handshake is set. complete reports that a record separator ended it.
func textFrameEvent(at event, dir conformance.Direction, handshake bool, payload []byte, complete bool) event {
	if complete && json.Valid(payload) {
		at.Item = append(json.RawMessage(nil), payload...)
		return at
	}
	var err error
	if complete {
		var m protocol.Message
		err = parseOne(protocol.JSON{}, dir, handshake, payload, &m)
		if err == nil {
			err = errors.New("invalid JSON")
		}
	} else {
		err = incompleteError(payload, true)
	}
	at.Error = describeInvalid(err, payload)
	return at
}
