package protocol_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// benchInvocation is a 200-byte Invocation with an invocation ID, a target
// and three arguments: a number, a string and a small object.
const benchInvocation = `{"type":1,"invocationId":"1234","target":"SendMessage","arguments":[1234.5,"The quick brown fox jumps over the lazy dog by the river",{"id":"U-alice","online":true,"tags":["friend","vr"],"score":42}]}`

const (
	benchCompletion = `{"type":3,"invocationId":"1234","result":{"ok":true,"items":[1,2,3],"name":"result"}}`
	benchPing       = `{"type":6}`
)

// benchParse parses record into m in a loop. With reuse set, m is the same
// Message in every iteration, as in a connection's read loop.
func benchParse(b *testing.B, record string, reuse bool) {
	data := []byte(record)
	var reused protocol.Message
	if err := (protocol.JSON{}).ParseMessage(data, &reused); err != nil {
		b.Fatalf("ParseMessage(%q): %v", data, err)
	}

	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m := &reused
		if !reuse {
			m = new(protocol.Message)
		}
		if err := (protocol.JSON{}).ParseMessage(data, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMessage(b *testing.B) {
	b.Run("Invocation", func(b *testing.B) { benchParse(b, benchInvocation, true) })
	b.Run("InvocationNewMessage", func(b *testing.B) { benchParse(b, benchInvocation, false) })
	b.Run("Completion", func(b *testing.B) { benchParse(b, benchCompletion, true) })
	b.Run("Ping", func(b *testing.B) { benchParse(b, benchPing, true) })
}

// BenchmarkEncodingJSONInvocation is the baseline for BenchmarkParseMessage:
// the same Invocation decoded by encoding/json into a struct that keeps the
// arguments raw, as a reader built on encoding/json would.
func BenchmarkEncodingJSONInvocation(b *testing.B) {
	type invocation struct {
		Type         int               `json:"type"`
		InvocationID string            `json:"invocationId"`
		Target       string            `json:"target"`
		Arguments    []json.RawMessage `json:"arguments"`
	}
	data := []byte(benchInvocation)

	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var v invocation
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendMessage writes the Invocation and the Completion of
// BenchmarkParseMessage from pre-encoded raw values into a reused buffer.
func BenchmarkAppendMessage(b *testing.B) {
	b.Run("Invocation", func(b *testing.B) { benchAppend(b, benchInvocation) })
	b.Run("Completion", func(b *testing.B) { benchAppend(b, benchCompletion) })
}

func benchAppend(b *testing.B, record string) {
	var parsed protocol.Message
	if err := (protocol.JSON{}).ParseMessage([]byte(record), &parsed); err != nil {
		b.Fatal(err)
	}
	m := parsed.Clone()
	buf, err := protocol.JSON{}.AppendMessage(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	if want := record + "\x1e"; string(buf) != want {
		b.Fatalf("AppendMessage wrote %q, want %q", buf, want)
	}

	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if buf, err = (protocol.JSON{}).AppendMessage(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecords returns the three benchmark messages as records, repeated in
// turn until they fill size bytes. White space before the last separator
// pads the result to exactly size bytes.
func benchRecords(size int) []byte {
	records := []string{benchInvocation, benchCompletion, benchPing}
	var stream []byte
	for i := 0; ; i++ {
		record := records[i%len(records)]
		if len(stream)+len(record)+1 > size {
			break
		}
		stream = protocol.AppendRecord(stream, []byte(record))
	}
	padding := bytes.Repeat([]byte{' '}, size-len(stream))
	return append(stream[:len(stream)-1], append(padding, protocol.RecordSeparator)...)
}

// BenchmarkFramer splits 4 KiB chunks of records. In Aligned every chunk
// ends with a record. In Straddling the chunks are cut from a longer stream,
// so that most chunks end inside a record and the Framer copies the tail.
func BenchmarkFramer(b *testing.B) {
	const chunkSize = 4 << 10

	b.Run("Aligned", func(b *testing.B) {
		chunk := benchRecords(chunkSize)
		var f protocol.Framer

		b.ReportAllocs()
		b.SetBytes(chunkSize)
		for b.Loop() {
			if err := f.Feed(chunk); err != nil {
				b.Fatal(err)
			}
			for {
				payload, err := f.Next()
				if err != nil {
					b.Fatal(err)
				}
				if payload == nil {
					break
				}
			}
		}
	})

	b.Run("Straddling", func(b *testing.B) {
		stream := benchRecords(64 * chunkSize)
		var f protocol.Framer
		next := 0

		b.ReportAllocs()
		b.SetBytes(chunkSize)
		for b.Loop() {
			if err := f.Feed(stream[next : next+chunkSize]); err != nil {
				b.Fatal(err)
			}
			for {
				payload, err := f.Next()
				if err != nil {
					b.Fatal(err)
				}
				if payload == nil {
					break
				}
			}
			next = (next + chunkSize) % len(stream)
		}
	})
}

// BenchmarkMessagePackParse parses the messages of BenchmarkParseMessage
// converted to the MessagePack hub protocol, into a reused Message.
func BenchmarkMessagePackParse(b *testing.B) {
	for _, name := range []string{"Invocation", "Completion", "Ping"} {
		record := map[string]string{"Invocation": benchInvocation, "Completion": benchCompletion, "Ping": benchPing}[name]
		b.Run(name, func(b *testing.B) {
			frame := toMessagePack(b, record)
			_, n, _ := protocol.ConsumeVarint(frame)
			data := frame[n:]
			var m protocol.Message
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := (protocol.MessagePack{}).ParseMessage(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessagePackAppend writes the MessagePack Invocation and
// Completion from pre-encoded raw values into a reused buffer, length
// prefix included.
func BenchmarkMessagePackAppend(b *testing.B) {
	for _, name := range []string{"Invocation", "Completion"} {
		record := map[string]string{"Invocation": benchInvocation, "Completion": benchCompletion}[name]
		b.Run(name, func(b *testing.B) {
			frame := toMessagePack(b, record)
			_, n, _ := protocol.ConsumeVarint(frame)
			var parsed protocol.Message
			if err := (protocol.MessagePack{}).ParseMessage(frame[n:], &parsed); err != nil {
				b.Fatal(err)
			}
			m := parsed.Clone()
			buf := make([]byte, 0, 2*len(frame))
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				var err error
				if buf, err = (protocol.MessagePack{}).AppendMessage(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(buf, frame) {
				b.Fatalf("AppendMessage wrote %x, want %x", buf, frame)
			}
		})
	}
}

// BenchmarkVmihailencoInvocation is the baseline for
// BenchmarkMessagePackParse: the same Invocation decoded by
// vmihailenco/msgpack into a struct that keeps the arguments raw, as a
// reader built on that package would.
func BenchmarkVmihailencoInvocation(b *testing.B) {
	type invocation struct {
		_msgpack     struct{} `msgpack:",as_array"`
		Type         int
		Headers      map[string]string
		InvocationID *string
		Target       string
		Arguments    []msgpack.RawMessage
		StreamIDs    []string
	}
	frame := toMessagePack(b, benchInvocation)
	_, n, _ := protocol.ConsumeVarint(frame)
	data := frame[n:]
	var check invocation
	if err := msgpack.Unmarshal(data, &check); err != nil || len(check.Arguments) != 3 {
		b.Fatalf("baseline decode: %v, %d arguments", err, len(check.Arguments))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var v invocation
		if err := msgpack.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFramerSmallPieces feeds one 64 KiB message a byte at a time, as
// a peer that splits a message into tiny transport messages would. The
// cost per byte must not grow with the size of the message.
func BenchmarkFramerSmallPieces(b *testing.B) {
	payload := bytes.Repeat([]byte{'x'}, 64<<10)
	for _, format := range []protocol.TransferFormat{protocol.TransferFormatText, protocol.TransferFormatBinary} {
		var stream []byte
		if format == protocol.TransferFormatText {
			stream = protocol.AppendRecord(nil, payload)
		} else {
			stream = protocol.AppendFrame(nil, payload)
		}
		b.Run(format.String(), func(b *testing.B) {
			f := protocol.Framer{Format: format}
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				got := 0
				for i := range stream {
					if err := f.Feed(stream[i : i+1]); err != nil {
						b.Fatal(err)
					}
					p, err := f.Next()
					if err != nil {
						b.Fatal(err)
					}
					got += len(p)
				}
				if got != len(payload) {
					b.Fatalf("got %d payload bytes, want %d", got, len(payload))
				}
			}
		})
	}
}
