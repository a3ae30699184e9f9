// Package fuzz holds the fuzz targets of the decoders that read peer input.
// Without -fuzz, go test runs each target on its seeds: the conformance
// vectors, the captures under testdata/captures, and the inputs Go saved
// under testdata/fuzz after a failure.
package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// FuzzJSONMessage parses records with the JSON hub protocol. A record it
// accepts with a known type must write and parse back to an equal message,
// unless the writer rejects it for breaking a rule the reader does not
// enforce, such as an empty target.
func FuzzJSONMessage(f *testing.F) {
	for _, record := range seedRecords(f) {
		f.Add(record)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m protocol.Message
		if err := (protocol.JSON{}).ParseMessage(data, &m); err != nil {
			requireMessageError(t, data, err)
			return
		}
		if !m.Type.IsKnown() {
			return
		}

		wire, err := protocol.JSON{}.AppendMessage(nil, &m)
		if err != nil {
			if !errors.Is(err, protocol.ErrInvalidMessage) {
				t.Fatalf("AppendMessage of %q: %v, want an error wrapping ErrInvalidMessage", data, err)
			}
			return
		}
		record, rest, ok := protocol.SplitRecord(wire)
		if !ok || len(rest) != 0 {
			t.Fatalf("AppendMessage of %q wrote %q, want one record", data, wire)
		}
		var again protocol.Message
		if err := (protocol.JSON{}).ParseMessage(record, &again); err != nil {
			t.Fatalf("ParseMessage of the rewritten %q: %v", record, err)
		}

		want := comparableOf(&m, writtenString)
		got := comparableOf(&again, identity)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q rewritten as %q:\ngot  %+v\nwant %+v", data, record, got, want)
		}
	})
}

// FuzzTextFraming splits a text stream with a Framer, fed whole and fed in
// chunks, and requires the same payloads and the same error both ways. The
// first input byte modulo 8 is the number of chunk sizes that follow it, and
// the sizes repeat until the stream ends.
func FuzzTextFraming(f *testing.F) {
	plan := []byte{3, 1, 7, 2}
	for _, stream := range seedStreams(f) {
		f.Add(append(bytes.Clone(plan), stream...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sizes, stream := chunkPlan(data)
		chunks := cutStream(stream, sizes)
		for _, maxSize := range []int{0, 16} {
			whole := runFramer(protocol.TransferFormatText, maxSize, [][]byte{stream})
			pieces := runFramer(protocol.TransferFormatText, maxSize, chunks)
			if diff := framerDiff(whole, pieces); diff != "" {
				t.Fatalf("MaxMessageSize %d, chunk sizes %v, stream %q: %s", maxSize, sizes, stream, diff)
			}
		}
	})
}

// FuzzHandshakeResponse parses handshake responses. An accepted response
// must write and parse back to an equal response.
func FuzzHandshakeResponse(f *testing.F) {
	for _, record := range seedRecords(f) {
		f.Add(record)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := protocol.ParseHandshakeResponse(data)
		if err != nil {
			requireMessageError(t, data, err)
			return
		}

		wire := protocol.AppendHandshakeResponse(nil, resp)
		record, rest, ok := protocol.SplitRecord(wire)
		if !ok || len(rest) != 0 {
			t.Fatalf("AppendHandshakeResponse of %q wrote %q, want one record", data, wire)
		}
		again, err := protocol.ParseHandshakeResponse(record)
		if err != nil {
			t.Fatalf("ParseHandshakeResponse of the rewritten %q: %v", record, err)
		}
		if want := (protocol.HandshakeResponse{Error: writtenString(resp.Error)}); again != want {
			t.Fatalf("%q rewritten as %q: got %+v, want %+v", data, record, again, want)
		}
	})
}

// FuzzHandshakeRequest parses handshake requests. An accepted request must
// write and parse back to an equal request.
func FuzzHandshakeRequest(f *testing.F) {
	for _, record := range seedRecords(f) {
		f.Add(record)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := protocol.ParseHandshakeRequest(data)
		if err != nil {
			requireMessageError(t, data, err)
			return
		}

		wire := protocol.AppendHandshakeRequest(nil, req)
		record, rest, ok := protocol.SplitRecord(wire)
		if !ok || len(rest) != 0 {
			t.Fatalf("AppendHandshakeRequest of %q wrote %q, want one record", data, wire)
		}
		again, err := protocol.ParseHandshakeRequest(record)
		if err != nil {
			t.Fatalf("ParseHandshakeRequest of the rewritten %q: %v", record, err)
		}
		want := protocol.HandshakeRequest{Protocol: writtenString(req.Protocol), Version: req.Version}
		if again != want {
			t.Fatalf("%q rewritten as %q: got %+v, want %+v", data, record, again, want)
		}
	})
}

// requireMessageError fails t unless err is a *protocol.MessageError whose
// offset lies within data.
func requireMessageError(t *testing.T, data []byte, err error) {
	t.Helper()
	var me *protocol.MessageError
	if !errors.As(err, &me) {
		t.Fatalf("parsing %q returned %T (%v), want *protocol.MessageError", data, err, err)
	}
	if me.Offset < 0 || me.Offset > len(data) {
		t.Fatalf("parsing %q: error offset %d is outside the input: %v", data, me.Offset, err)
	}
}

// writtenString returns s as the writers encode it: each byte that is not
// part of valid UTF-8 becomes U+FFFD.
func writtenString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

func identity(s string) string { return s }

// comparableMessage is a protocol.Message in a form that reflect.DeepEqual
// compares by content: copied strings, and nil for every empty slice.
type comparableMessage struct {
	Type           protocol.MessageType
	Headers        []protocol.Header
	InvocationID   string
	Target         string
	Arguments      []string
	StreamIDs      []string
	Item           string
	Result         string
	HasResult      bool
	Error          string
	HasError       bool
	AllowReconnect bool
	SequenceID     int64
}

// comparableOf converts m, passing every string property through text.
// Raw values are compared byte for byte, because the writers copy them
// unchanged.
func comparableOf(m *protocol.Message, text func(string) string) comparableMessage {
	c := comparableMessage{
		Type:           m.Type,
		InvocationID:   text(m.InvocationID),
		Target:         text(m.Target),
		Item:           string(m.Item),
		Result:         string(m.Result),
		HasResult:      m.HasResult,
		Error:          text(m.Error),
		HasError:       m.HasError,
		AllowReconnect: m.AllowReconnect,
		SequenceID:     m.SequenceID,
	}
	for _, h := range m.Headers {
		c.Headers = append(c.Headers, protocol.Header{Key: text(h.Key), Value: text(h.Value)})
	}
	for _, a := range m.Arguments {
		c.Arguments = append(c.Arguments, string(a))
	}
	for _, id := range m.StreamIDs {
		c.StreamIDs = append(c.StreamIDs, text(id))
	}
	return c
}

// chunkPlan splits fuzz input into chunk sizes and the stream to cut.
func chunkPlan(data []byte) (sizes, stream []byte) {
	if len(data) == 0 {
		return nil, nil
	}
	n := int(data[0] % 8)
	if n > len(data)-1 {
		n = len(data) - 1
	}
	return data[1 : 1+n], data[1+n:]
}

// cutStream cuts stream into chunks of the given sizes, repeated in turn.
// A size of 0 gives an empty chunk. Without a non-zero size the stream is
// one chunk.
func cutStream(stream, sizes []byte) [][]byte {
	if !slices.ContainsFunc(sizes, func(size byte) bool { return size != 0 }) {
		return [][]byte{stream}
	}
	var chunks [][]byte
	for i := 0; len(stream) > 0; i++ {
		size := min(int(sizes[i%len(sizes)]), len(stream))
		chunks = append(chunks, stream[:size])
		stream = stream[size:]
	}
	return chunks
}

// framerResult is what a Framer returned for a stream: copies of the
// payloads, the error that stopped it, and the bytes still buffered.
type framerResult struct {
	payloads [][]byte
	err      error
	buffered int
}

// runFramer feeds chunks to a new Framer of the given format one at a time
// and drains it after each. Each chunk is copied into one reused buffer that is
// overwritten once drained, so a Framer that keeps fed memory longer than
// Feed allows returns corrupted payloads.
func runFramer(format protocol.TransferFormat, maxSize int, chunks [][]byte) framerResult {
	f := protocol.Framer{Format: format, MaxMessageSize: maxSize}
	var result framerResult
	var reused []byte
	for _, chunk := range chunks {
		reused = append(reused[:0], chunk...)
		if err := f.Feed(reused); err != nil {
			result.err = err
			break
		}
		for result.err == nil {
			payload, err := f.Next()
			if err != nil {
				result.err = err
				break
			}
			if payload == nil {
				break
			}
			result.payloads = append(result.payloads, bytes.Clone(payload))
		}
		if result.err != nil {
			break
		}
		for i := range reused {
			reused[i] = 0xEE
		}
	}
	result.buffered = f.Buffered()
	return result
}

// framerDiff describes the first difference between the results of feeding
// a stream whole and in pieces, or returns "".
func framerDiff(whole, pieces framerResult) string {
	if len(whole.payloads) != len(pieces.payloads) {
		return fmt.Sprintf("piecewise gave %d payloads, whole gave %d (errors %v, %v)", len(pieces.payloads), len(whole.payloads), pieces.err, whole.err)
	}
	for i := range whole.payloads {
		if !bytes.Equal(whole.payloads[i], pieces.payloads[i]) {
			return fmt.Sprintf("payload %d: piecewise %q, whole %q", i, pieces.payloads[i], whole.payloads[i])
		}
	}
	if errors.Is(whole.err, protocol.ErrMessageTooLarge) != errors.Is(pieces.err, protocol.ErrMessageTooLarge) ||
		errors.Is(whole.err, protocol.ErrInvalidFraming) != errors.Is(pieces.err, protocol.ErrInvalidFraming) ||
		(whole.err == nil) != (pieces.err == nil) {
		return fmt.Sprintf("piecewise error %v, whole error %v", pieces.err, whole.err)
	}
	if whole.err == nil && whole.buffered != pieces.buffered {
		return fmt.Sprintf("piecewise left %d bytes buffered, whole %d", pieces.buffered, whole.buffered)
	}
	return ""
}
