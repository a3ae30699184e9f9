package main

import (
	"bytes"
	"fmt"
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
	secrets *redactor
	trace   *tracer // nil without -v
	record  bool

	mu       sync.Mutex
	messages []conformance.Message
}

// observe is the signalr.Config.Trace function. It runs on the client's
// read or write goroutine, so a stderr pipe that is not drained stalls the
// connection.
func (f *frameLog) observe(dir signalr.Direction, format protocol.TransferFormat, data []byte) {
	data = f.secrets.redact(data)
	if f.trace != nil {
		arrow := ">"
		if dir == signalr.Received {
			arrow = "<"
		}
		f.trace.printf("%s ws %s", arrow, conformance.AppendEscaped(nil, data))
	}
	if !f.record {
		return
	}
	msg := conformance.Message{Direction: conformance.ClientToServer, Data: bytes.Clone(data)}
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

// capture returns the recorded messages as a capture of the session that
// ran the command scenario. Call it after the client has stopped.
func (f *frameLog) capture(protocolName, scenario string) *conformance.Capture {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &conformance.Capture{
		Protocol: protocolName,
		Scenario: scenario,
		Client:   recordClient,
		Messages: append([]conformance.Message(nil), f.messages...),
	}
}

// writeRecording writes the --record file of a finished session and notes
// it on stderr. It writes nothing when no WebSocket message was exchanged,
// so that a session that failed to connect leaves an earlier file intact.
func writeRecording(env *environment, cf *connFlags, s *session, scenario string) error {
	if cf.record == "" || s == nil || s.frames == nil {
		return nil
	}
	c := s.frames.capture(strings.ToLower(cf.protocol), scenario)
	if len(c.Messages) == 0 {
		fmt.Fprintf(env.stderr, "hubprobe %s: --record: no WebSocket message was exchanged; %s not written\n", scenario, cf.record)
		return nil
	}
	if err := writeCaptureFile(cf.record, c); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "hubprobe %s: wrote %d WebSocket messages to %s; read them with 'hubprobe replay %s'\n", scenario, len(c.Messages), cf.record, cf.record)
	return nil
}
