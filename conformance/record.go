package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A recorder collects the capture of one connection. The read and write
// goroutines add messages in the order they pass the network connection.
type recorder struct {
	mu         sync.Mutex // guards following
	capture    Capture
	reattached bool // the next message is the first after a reattach
}

func newRecorder(scenario, client string) *recorder {
	return &recorder{capture: Capture{Scenario: scenario, Client: client}}
}

func (r *recorder) setProtocol(name string) {
	r.mu.Lock()
	r.capture.Protocol = name
	r.mu.Unlock()
}

// add appends a copy of data.
func (r *recorder) add(dir Direction, format protocol.TransferFormat, data []byte) {
	m := Message{Direction: dir, Format: format, Data: bytes.Clone(data)}
	if m.Data == nil {
		m.Data = []byte{}
	}
	r.mu.Lock()
	m.Reattached, r.reattached = r.reattached, false
	r.capture.Messages = append(r.capture.Messages, m)
	r.mu.Unlock()
}

// markReattach marks the next message as the first one of a reattached
// WebSocket.
func (r *recorder) markReattach() {
	r.mu.Lock()
	r.reattached = true
	r.mu.Unlock()
}

// result returns the capture. The recorder must not be used afterwards.
func (r *recorder) result() *Capture {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.capture
	return &c
}

// deliverCapture passes a finished capture to Options.Record and writes it
// to Options.RecordDir.
func (s *Server) deliverCapture(c *Capture) {
	if s.opts.Record != nil {
		s.opts.Record(c)
	}
	if s.opts.RecordDir == "" {
		return
	}
	name := captureFileName(c.Scenario)
	if name == "" {
		name = "session-" + strconv.Itoa(s.nextSessionNumber())
	}
	if suffix := captureFileName(c.Protocol); suffix != "" && c.Protocol != (protocol.JSON{}).Name() {
		name += "." + suffix
	}
	path := filepath.Join(s.opts.RecordDir, name+".capture")
	data, err := AppendCapture(nil, c)
	if err == nil {
		err = writeFileAtomic(path, data)
	}
	if err != nil {
		s.opts.Logger.Error("writing a capture failed", "path", path, "error", err)
	}
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it to path, so that a reader never sees a partly written capture.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// captureFileName turns a scenario name into a file name: letters, digits,
// '.', '_' and '-' stay, other bytes become '_'. A name of only dots
// becomes empty.
func captureFileName(scenario string) string {
	b := []byte(scenario)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(bytes.Trim(b, ".")) == 0 {
		return ""
	}
	return string(b)
}
