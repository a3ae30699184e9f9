//go:build !race

// The race detector allocates on its own, so these tests run only without it.

package protocol_test

import (
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// assertNoAllocs fails unless f allocates nothing in steady state.
func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f() // warm up reused buffers
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocations per run; want 0", name, n)
	}
}

func TestParseAllocs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		record string
		want   protocol.MessageType
	}{
		{"Invocation", invocationRecord, protocol.TypeInvocation},
		{"Completion", completionRecord, protocol.TypeCompletion},
		{"Ping", pingRecord, protocol.TypePing},
	} {
		data := []byte(tt.record)
		var m protocol.Message
		assertNoAllocs(t, tt.name, func() {
			if err := (protocol.JSON{}).ParseMessage(data, &m); err != nil || m.Type != tt.want {
				t.Fatalf("ParseMessage: type %v, error %v", m.Type, err)
			}
		})
	}
}

func TestParseEscapedAllocs(t *testing.T) {
	data := []byte(`{"type":1,"headers":{"k\n":"v\"1"},"invocationId":"4\u00322","target":"T\\x","arguments":[]}`)
	var m protocol.Message
	assertNoAllocs(t, "escaped Invocation", func() {
		if err := (protocol.JSON{}).ParseMessage(data, &m); err != nil {
			t.Fatal(err)
		}
	})
	if m.InvocationID != "422" || m.Target != `T\x` {
		t.Errorf("got id %q target %q; want %q %q", m.InvocationID, m.Target, "422", `T\x`)
	}
}

func TestWriteInvocationAllocs(t *testing.T) {
	m := &protocol.Message{
		Type:         protocol.TypeInvocation,
		InvocationID: "42",
		Target:       "SendMessage",
		Arguments: []protocol.RawValue{
			protocol.RawValue(`1234567`),
			protocol.RawValue(`"hello, world"`),
			protocol.RawValue(`{"id":"U-abc"}`),
		},
	}
	buf := make([]byte, 0, 512)
	assertNoAllocs(t, "AppendMessage", func() {
		var err error
		buf, err = protocol.JSON{}.AppendMessage(buf[:0], m)
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestFramerAllocs(t *testing.T) {
	var stream []byte
	for range 20 {
		stream = protocol.AppendRecord(stream, []byte(invocationRecord))
	}
	// Cut the stream off-record so that every round keeps a tail.
	first, second := stream[:1000], stream[1000:]
	var f protocol.Framer
	assertNoAllocs(t, "Framer", func() {
		for _, chunk := range [][]byte{first, second} {
			if err := f.Feed(chunk); err != nil {
				t.Fatal(err)
			}
			for {
				p, err := f.Next()
				if err != nil {
					t.Fatal(err)
				}
				if p == nil {
					break
				}
			}
		}
	})
}

func TestCopyToAllocs(t *testing.T) {
	var src, dst protocol.Message
	if err := (protocol.JSON{}).ParseMessage([]byte(invocationRecord), &src); err != nil {
		t.Fatal(err)
	}
	assertNoAllocs(t, "CopyTo", func() { src.CopyTo(&dst) })
}

func TestMessagePackParseAllocs(t *testing.T) {
	messages := messagePackMessages(t)
	for _, tt := range []struct {
		name string
		want protocol.MessageType
	}{
		{"Invocation", protocol.TypeInvocation},
		{"Completion", protocol.TypeCompletion},
		{"Ping", protocol.TypePing},
	} {
		data := messages[tt.name]
		var m protocol.Message
		assertNoAllocs(t, "MessagePack "+tt.name, func() {
			if err := (protocol.MessagePack{}).ParseMessage(data, &m); err != nil || m.Type != tt.want {
				t.Fatalf("ParseMessage: type %v, error %v", m.Type, err)
			}
		})
	}
}

func TestMessagePackWriteInvocationAllocs(t *testing.T) {
	var m protocol.Message
	if err := (protocol.MessagePack{}).ParseMessage(messagePackMessages(t)["Invocation"], &m); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	assertNoAllocs(t, "MessagePack AppendMessage", func() {
		var err error
		buf, err = protocol.MessagePack{}.AppendMessage(buf[:0], &m)
		if err != nil {
			t.Fatal(err)
		}
	})
}
