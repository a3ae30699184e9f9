package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// TestMessagePackReaderLayouts covers the layouts the reader accepts beyond
// what its writer produces: older messages without their last elements,
// integers of every width, and messages of unknown types.
func TestMessagePackReaderLayouts(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		check func(m *protocol.Message) bool
	}{
		{"Invocation without stream IDs", []byte{0x95, 0x01, 0x80, 0xc0, 0xa1, 'T', 0x91, 0x2a},
			func(m *protocol.Message) bool {
				return m.Type == protocol.TypeInvocation && m.Target == "T" && len(m.Arguments) == 1 && len(m.StreamIDs) == 0
			}},
		{"StreamInvocation without stream IDs", []byte{0x95, 0x04, 0x80, 0xa1, '7', 0xa1, 'T', 0x90},
			func(m *protocol.Message) bool {
				return m.Type == protocol.TypeStreamInvocation && m.InvocationID == "7"
			}},
		{"Close without allowReconnect", []byte{0x92, 0x07, 0xa3, 'b', 'y', 'e'},
			func(m *protocol.Message) bool {
				return m.Type == protocol.TypeClose && m.HasError && m.Error == "bye" && !m.AllowReconnect
			}},
		{"Close with nil error", []byte{0x93, 0x07, 0xc0, 0xc3},
			func(m *protocol.Message) bool { return m.Type == protocol.TypeClose && !m.HasError && m.AllowReconnect }},
		{"Ack as fixint", []byte{0x92, 0x08, 0x24}, func(m *protocol.Message) bool { return m.SequenceID == 36 }},
		{"Ack as uint8", []byte{0x92, 0x08, 0xcc, 0x24}, func(m *protocol.Message) bool { return m.SequenceID == 36 }},
		{"Ack as uint16", []byte{0x92, 0x08, 0xcd, 0x01, 0x00}, func(m *protocol.Message) bool { return m.SequenceID == 256 }},
		{"Sequence as uint32", []byte{0x92, 0x09, 0xce, 0x00, 0x01, 0x00, 0x00}, func(m *protocol.Message) bool { return m.SequenceID == 65536 }},
		{"Sequence as int64", []byte{0x92, 0x09, 0xd3, 0, 0, 0, 1, 0, 0, 0, 0}, func(m *protocol.Message) bool { return m.SequenceID == 1<<32 }},
		{"Ping with an extra element", []byte{0x92, 0x06, 0xa1, 'x'}, func(m *protocol.Message) bool { return m.Type == protocol.TypePing }},
		{"unknown type", []byte{0x93, 0x63, 0x80, 0x91, 0xc0}, func(m *protocol.Message) bool { return !m.Type.IsKnown() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m protocol.Message
			if err := (protocol.MessagePack{}).ParseMessage(tt.data, &m); err != nil {
				t.Fatalf("ParseMessage(%x): %v", tt.data, err)
			}
			if !tt.check(&m) {
				t.Errorf("ParseMessage(%x) = %+v", tt.data, m)
			}
		})
	}
}

func TestMessagePackReaderRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"uint64 above the int64 range", []byte{0x92, 0x08, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, protocol.ErrInvalidMessage},
		{"bytes after the array", []byte{0x91, 0x06, 0x00}, protocol.ErrInvalidMessage},
		{"unknown type with a cut-off element", []byte{0x92, 0x63, 0xa5, 'a'}, protocol.ErrInvalidMessagePack},
		{"item nested too deeply", append(append([]byte{0x94, 0x02, 0x80, 0xa1, 'x'}, repeat(0x91, 10_002)...), 0xc0), protocol.ErrInvalidMessagePack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m protocol.Message
			err := protocol.MessagePack{}.ParseMessage(tt.data, &m)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseMessage: %v; want %v", err, tt.want)
			}
		})
	}
}

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
