package fuzz

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// FuzzMessagePackMessage parses MessagePack hub messages without their
// length prefix. A message it accepts with a known type must decode every
// raw value without panicking. It must also write and parse back to an
// equal message, and writing that again must give the same bytes.
func FuzzMessagePackMessage(f *testing.F) {
	for _, payload := range seedBinaryPayloads(f) {
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m protocol.Message
		if err := (protocol.MessagePack{}).ParseMessage(data, &m); err != nil {
			requireMessageError(t, data, err)
			return
		}
		if !m.Type.IsKnown() {
			return
		}
		raws := append([]protocol.RawValue{m.Item, m.Result}, m.Arguments...)
		for _, raw := range raws {
			var v any
			// Only the absence of a panic matters: a well-formed value may
			// still not decode, such as an extension of an unknown type.
			_ = protocol.MessagePack{}.Unmarshal(raw, &v)
		}

		wire, err := protocol.MessagePack{}.AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("AppendMessage of %x: %v", data, err)
		}
		length, n, err := protocol.ConsumeVarint(wire)
		if err != nil || n == 0 || n+length != len(wire) {
			t.Fatalf("AppendMessage of %x wrote %x, want one frame", data, wire)
		}
		var again protocol.Message
		if err := (protocol.MessagePack{}).ParseMessage(wire[n:], &again); err != nil {
			t.Fatalf("ParseMessage of the rewritten %x: %v", wire, err)
		}
		want := comparableOf(&m, identity)
		got := comparableOf(&again, identity)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%x rewritten as %x:\ngot  %+v\nwant %+v", data, wire, got, want)
		}
		twice, err := protocol.MessagePack{}.AppendMessage(nil, &again)
		if err != nil || !bytes.Equal(twice, wire) {
			t.Fatalf("rewriting %x again gave %x (%v)", wire, twice, err)
		}
	})
}

// FuzzBinaryFraming splits a stream of varint-prefixed frames with a
// Framer, fed whole and fed in chunks, and requires the same payloads and
// the same error both ways. The input starts with a chunk plan, as in
// FuzzTextFraming.
func FuzzBinaryFraming(f *testing.F) {
	plan := []byte{3, 1, 7, 2}
	for _, stream := range seedBinaryStreams(f) {
		f.Add(append(bytes.Clone(plan), stream...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sizes, stream := chunkPlan(data)
		chunks := cutStream(stream, sizes)
		for _, maxSize := range []int{0, 16} {
			whole := runFramer(protocol.TransferFormatBinary, maxSize, [][]byte{stream})
			pieces := runFramer(protocol.TransferFormatBinary, maxSize, chunks)
			if diff := framerDiff(whole, pieces); diff != "" {
				t.Fatalf("MaxMessageSize %d, chunk sizes %v, stream %x: %s", maxSize, sizes, stream, diff)
			}
			if whole.err != nil && !errors.Is(whole.err, protocol.ErrMessageTooLarge) && !errors.Is(whole.err, protocol.ErrInvalidFraming) {
				t.Fatalf("stream %x: error %v wraps neither ErrMessageTooLarge nor ErrInvalidFraming", stream, whole.err)
			}
		}
	})
}
