package fuzz

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// repoRoot is the repository root relative to the package directory, which
// is the working directory of go test.
const repoRoot = ".."

// maxSeedSize bounds a seed taken from a capture file, so that one large
// capture does not slow every run of the seed corpus.
const maxSeedSize = 1 << 20

const recordSeparator = 0x1E

// vectorLine is the part of a conformance vector line that seeds use. Input
// is set on read vectors and Output on write vectors.
type vectorLine struct {
	Name     string  `json:"name"`
	Encoding string  `json:"encoding"`
	Input    *string `json:"input"`
	Output   *string `json:"output"`
}

// seedStreams returns the wire bytes of the conformance vectors and of the
// captured traffic, as streams of zero or more records that may end in a
// record separator.
func seedStreams(f *testing.F) [][]byte {
	f.Helper()
	var streams [][]byte
	streams = append(streams, vectorStreams(f, "json-hub.jsonl", true)...)
	streams = append(streams, vectorStreams(f, "handshake.jsonl", true)...)
	streams = append(streams, vectorStreams(f, "framing.jsonl", false)...)
	return append(streams, captureStreams(f)...)
}

// seedRecords returns the records of seedStreams without their separators.
// A stream without a separator is returned whole, as an incomplete record.
func seedRecords(f *testing.F) [][]byte {
	f.Helper()
	var records [][]byte
	for _, stream := range seedStreams(f) {
		if !bytes.Contains(stream, []byte{recordSeparator}) {
			records = append(records, stream)
			continue
		}
		for record := range bytes.SplitSeq(stream, []byte{recordSeparator}) {
			if len(record) > 0 {
				records = append(records, record)
			}
		}
	}
	return records
}

// seedBinaryStreams returns the wire bytes of the MessagePack and binary
// framing vectors and the Binary messages of the captures: streams of
// varint-prefixed frames, some of them incomplete or malformed.
func seedBinaryStreams(f *testing.F) [][]byte {
	f.Helper()
	var streams [][]byte
	streams = append(streams, binaryVectorStreams(f, "msgpack-hub.jsonl")...)
	streams = append(streams, binaryVectorStreams(f, "framing.jsonl")...)
	for _, c := range readCaptures(f) {
		for _, m := range c.Messages {
			if m.Format == protocol.TransferFormatBinary {
				streams = append(streams, m.Data)
			}
		}
	}
	return streams
}

// seedBinaryPayloads returns the frames of seedBinaryStreams without their
// length prefixes. What does not split into frames is returned whole.
func seedBinaryPayloads(f *testing.F) [][]byte {
	f.Helper()
	var payloads [][]byte
	for _, stream := range seedBinaryStreams(f) {
		framer := protocol.Framer{Format: protocol.TransferFormatBinary}
		split := false
		if framer.Feed(stream) == nil {
			for {
				p, err := framer.Next()
				if err != nil || p == nil {
					break
				}
				payloads = append(payloads, bytes.Clone(p))
				split = true
			}
		}
		if !split {
			payloads = append(payloads, stream)
		}
	}
	return payloads
}

// binaryVectorStreams returns the input and output bytes of every base64-
// or hex-encoded line of testdata/vectors/name.
func binaryVectorStreams(f *testing.F, name string) [][]byte {
	f.Helper()
	path := filepath.Join(repoRoot, "testdata", "vectors", name)
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatalf("reading seed vectors: %v", err)
	}
	var streams [][]byte
	for n, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var v vectorLine
		if err := json.Unmarshal(line, &v); err != nil {
			f.Fatalf("%s:%d: invalid vector line: %v", path, n+1, err)
		}
		for _, field := range []*string{v.Input, v.Output} {
			if field == nil {
				continue
			}
			var b []byte
			switch v.Encoding {
			case "base64":
				b, err = base64.StdEncoding.DecodeString(*field)
			case "hex":
				b, err = hex.DecodeString(*field)
			default:
				continue
			}
			if err != nil {
				f.Fatalf("%s:%d: %v", path, n+1, err)
			}
			streams = append(streams, b)
		}
	}
	if len(streams) == 0 {
		f.Fatalf("%s has no binary vectors", path)
	}
	return streams
}

// vectorStreams returns the wire bytes of every text-encoded line of
// testdata/vectors/name: the input of read vectors and, when withOutput is
// set, the output of write vectors too.
func vectorStreams(f *testing.F, name string, withOutput bool) [][]byte {
	f.Helper()
	path := filepath.Join(repoRoot, "testdata", "vectors", name)
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatalf("reading seed vectors: %v", err)
	}

	var streams [][]byte
	for n, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var v vectorLine
		if err := json.Unmarshal(line, &v); err != nil {
			f.Fatalf("%s:%d: invalid vector line: %v", path, n+1, err)
		}
		if v.Encoding != "text" {
			continue
		}
		if v.Input != nil {
			streams = append(streams, []byte(*v.Input))
		}
		if withOutput && v.Output != nil {
			streams = append(streams, []byte(*v.Output))
		}
	}
	if len(streams) == 0 {
		f.Fatalf("%s has no text vectors", path)
	}
	return streams
}

// captureStreams returns, for each capture under testdata/captures, the
// payload of every recorded Text message and the server's Text messages
// joined into one stream.
func captureStreams(f *testing.F) [][]byte {
	f.Helper()
	var streams [][]byte
	for _, c := range readCaptures(f) {
		var fromServer []byte
		for _, m := range c.Messages {
			if m.Format != protocol.TransferFormatText {
				continue
			}
			streams = append(streams, m.Data)
			if m.Direction == conformance.ServerToClient {
				fromServer = append(fromServer, m.Data...)
			}
		}
		streams = append(streams, fromServer)
	}
	return streams
}

// readCaptures reads the captures under testdata/captures, leaving out
// those above maxSeedSize.
func readCaptures(f *testing.F) []*conformance.Capture {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "captures", "*.capture"))
	if err != nil {
		f.Fatal(err)
	}
	var captures []*conformance.Capture
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > maxSeedSize {
			continue
		}
		c, err := conformance.ReadCapture(bytes.NewReader(data))
		if err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		captures = append(captures, c)
	}
	return captures
}
