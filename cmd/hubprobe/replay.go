package main

import (
	"encoding/json"
	"fmt"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

const replayDescription = `Prints a capture file, as written by --record or the conformance server, one
hub message per line. A MessagePack hub message is printed as the JSON
array it converts to, as described under 'hubprobe help call'. With
--check it parses every message with the hub protocol of the capture, json
or messagepack, instead and reports the first invalid one with its line;
the exit status is then 1.`

// runReplay implements "hubprobe replay".
func runReplay(env *environment, args []string) error {
	cmd := lookupCommand("replay")
	fs := newFlagSet(env, cmd, replayDescription)
	check := fs.Bool("check", false, "parse every message with the hub protocol and report the first invalid one")
	jsonOut := fs.Bool("json", false, "print one JSON object per message instead of text")
	if err := parseFlags(fs, cmd, args); err != nil {
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
	if *check {
		n, err := checkCapture(c)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(env.stdout, "%s: %d WebSocket messages, %d hub messages, all valid\n", path, len(c.Messages), n)
		return nil
	}
	p := newPrinter(env, *jsonOut)
	printCapture(p, c)
	return nil
}

// firstMessageLine returns the file line of the first message of c: the
// header has the magic line, three fixed lines and the extra fields.
func firstMessageLine(c *conformance.Capture) int { return 5 + len(c.Fields) }

// An invalidMessageError names the capture line of an invalid message.
type invalidMessageError struct {
	line   int
	record int // 1-based hub message within the WebSocket message
	data   []byte
	err    error
}

func (e *invalidMessageError) Error() string {
	return fmt.Sprintf("line %d, hub message %d: %v: %s", e.line, e.record, e.err, shorten(string(e.data)))
}

// checkCapture parses every hub message of c, the handshake included, and
// returns how many there were or the first invalid one.
func checkCapture(c *conformance.Capture) (int, error) {
	proto, err := captureProtocol(c)
	if err != nil {
		return 0, err
	}
	handshakeDone := map[conformance.Direction]bool{}
	pending := map[conformance.Direction][]byte{}
	pendingLine := map[conformance.Direction]int{}
	count := 0
	var m protocol.Message
	for i, msg := range c.Messages {
		line := firstMessageLine(c) + i
		if msg.Format != proto.TransferFormat() && handshakeDone[msg.Direction] {
			return count, &invalidMessageError{line: line, record: 1, data: msg.Data, err: fmt.Errorf("%s frame, but the %s protocol uses %s frames", formatName(msg.Format), proto.Name(), formatName(proto.TransferFormat()))}
		}
		if len(pending[msg.Direction]) == 0 {
			pendingLine[msg.Direction] = line
		}
		data := append(pending[msg.Direction], msg.Data...)
		record := 0
		for len(data) > 0 {
			var payload []byte
			var ok bool
			if !handshakeDone[msg.Direction] || proto.TransferFormat() == protocol.TransferFormatText {
				payload, data, ok = protocol.SplitRecord(data)
			} else {
				payload, data, ok = splitBinary(data)
			}
			if !ok {
				break
			}
			record++
			count++
			if err := parseOne(proto, msg.Direction, handshakeDone, payload, &m); err != nil {
				return count, &invalidMessageError{line: pendingLine[msg.Direction], record: record, data: payload, err: err}
			}
			pendingLine[msg.Direction] = line
		}
		pending[msg.Direction] = append([]byte(nil), data...)
	}
	for dir, rest := range pending {
		if len(rest) > 0 {
			return count, &invalidMessageError{line: pendingLine[dir], record: 1, data: rest, err: fmt.Errorf("incomplete hub message at the end of the capture")}
		}
	}
	return count, nil
}

// parseOne parses one hub message payload: the first of each direction as
// the handshake, the others with proto.
func parseOne(proto protocol.HubProtocol, dir conformance.Direction, handshakeDone map[conformance.Direction]bool, payload []byte, m *protocol.Message) error {
	if handshakeDone[dir] {
		if err := proto.ParseMessage(payload, m); err != nil {
			return err
		}
		if !m.Type.IsKnown() {
			return fmt.Errorf("unknown message type %d", int(m.Type))
		}
		return nil
	}
	handshakeDone[dir] = true
	if dir == conformance.ClientToServer {
		_, err := protocol.ParseHandshakeRequest(payload)
		return err
	}
	_, err := protocol.ParseHandshakeResponse(payload)
	return err
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
// converts to.
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
	for i, msg := range c.Messages {
		line := firstMessageLine(c) + i
		from := "client"
		if msg.Direction == conformance.ServerToClient {
			from = "server"
		}
		if msg.Format == protocol.TransferFormatBinary {
			for _, part := range splitBinaryMessage(msg.Data, !handshakeSeen[msg.Direction]) {
				p.print(binaryFrameEvent(line, from, part))
			}
		} else {
			for _, payload := range splitRecords(msg.Data) {
				p.print(frameEvent(line, from, payload))
			}
		}
		handshakeSeen[msg.Direction] = true
	}
}

// binaryFrameEvent returns the event of one part of a binary message.
func binaryFrameEvent(line int, from string, part binaryPart) event {
	if part.kind == partHandshake {
		return frameEvent(line, from, part.data)
	}
	e := event{Event: "frame", Message: fmt.Sprintf("line %d %s", line, from)}
	if part.kind == partHubMessage {
		if v, err := messagePackToJSON(part.data); err == nil {
			e.Item = v
			return e
		}
	}
	e.Error = part.describe()
	return e
}

// splitRecords splits a text message into its hub messages. Bytes after
// the last record separator are returned as the last element.
func splitRecords(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		payload, rest, ok := protocol.SplitRecord(data)
		if !ok {
			out = append(out, data)
			break
		}
		out = append(out, payload)
		data = rest
	}
	return out
}

func frameEvent(line int, from string, payload []byte) event {
	e := event{Event: "frame", Message: fmt.Sprintf("line %d %s", line, from)}
	if json.Valid(payload) {
		e.Item = append(json.RawMessage(nil), payload...)
	} else {
		e.Error = string(conformance.AppendEscaped(nil, payload))
	}
	return e
}
