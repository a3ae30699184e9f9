package protocol_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// rawMessagePack generates one MessagePack value as bytes. It chooses
// freely among the encodings of each value: integers in any width they fit,
// strings and binaries with short or long length headers, arrays and maps
// with fix, 16- and 32-bit headers, and extensions of every size. With
// unknownExt unset, the only extension is the timestamp (type -1) in its
// 4-, 8- and 12-byte forms, which vmihailenco/msgpack decodes.
func rawMessagePack(depth int, unknownExt bool) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		return appendRandomValue(t, nil, depth, unknownExt)
	})
}

func appendRandomValue(t *rapid.T, dst []byte, depth int, unknownExt bool) []byte {
	kinds := 7
	if depth > 0 {
		kinds = 9
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
	case 0:
		return append(dst, rapid.SampledFrom([]byte{0xc0, 0xc2, 0xc3}).Draw(t, "constant"))
	case 1:
		return appendRandomInt(t, dst)
	case 2:
		f := rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) }).Draw(t, "float")
		if rapid.Bool().Draw(t, "float32") {
			return binary.BigEndian.AppendUint32(append(dst, 0xca), math.Float32bits(float32(f)))
		}
		return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f))
	case 3:
		s := wireString().Draw(t, "string")
		return append(appendLengthHeader(t, dst, len(s), 0xa0, 31, 0xd9, 0xda, 0xdb), s...)
	case 4:
		b := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "bytes")
		return append(appendLengthHeader(t, dst, len(b), 0, -1, 0xc4, 0xc5, 0xc6), b...)
	case 5, 6:
		return appendRandomExt(t, dst, unknownExt)
	case 7:
		n := rapid.IntRange(0, 4).Draw(t, "elements")
		dst = appendLengthHeader(t, dst, n, 0x90, 15, 0, 0xdc, 0xdd)
		for range n {
			dst = appendRandomValue(t, dst, depth-1, unknownExt)
		}
		return dst
	}
	keys := rapid.SliceOfNDistinct(wireString(), 0, 4, func(s string) string { return s }).Draw(t, "keys")
	dst = appendLengthHeader(t, dst, len(keys), 0x80, 15, 0, 0xde, 0xdf)
	for _, k := range keys {
		dst = append(appendLengthHeader(t, dst, len(k), 0xa0, 31, 0xd9, 0xda, 0xdb), k...)
		dst = appendRandomValue(t, dst, depth-1, unknownExt)
	}
	return dst
}

// appendLengthHeader appends a header for length n, choosing among the fix
// form (when fixMax allows), and the 8-, 16- and 32-bit forms (a zero code
// means the form does not exist).
func appendLengthHeader(t *rapid.T, dst []byte, n int, fix byte, fixMax int, c8, c16, c32 byte) []byte {
	var forms []int
	if n <= fixMax {
		forms = append(forms, 0)
	}
	if c8 != 0 && n <= math.MaxUint8 {
		forms = append(forms, 1)
	}
	forms = append(forms, 2, 4)
	switch rapid.SampledFrom(forms).Draw(t, "form") {
	case 0:
		return append(dst, fix|byte(n))
	case 1:
		return append(dst, c8, byte(n))
	case 2:
		return binary.BigEndian.AppendUint16(append(dst, c16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, c32), uint32(n))
}

// appendRandomInt appends an integer in one of the widths it fits.
func appendRandomInt(t *rapid.T, dst []byte) []byte {
	v := rapid.OneOf(rapid.Int64Range(-40, 200), rapid.Int64()).Draw(t, "int")
	type form struct {
		code byte
		size int
		fits bool
	}
	forms := []form{
		{0, 0, v >= -32 && v <= 127},
		{0xcc, 1, v >= 0 && v <= math.MaxUint8},
		{0xcd, 2, v >= 0 && v <= math.MaxUint16},
		{0xce, 4, v >= 0 && v <= math.MaxUint32},
		{0xcf, 8, v >= 0},
		{0xd0, 1, v >= math.MinInt8 && v <= math.MaxInt8},
		{0xd1, 2, v >= math.MinInt16 && v <= math.MaxInt16},
		{0xd2, 4, v >= math.MinInt32 && v <= math.MaxInt32},
		{0xd3, 8, true},
	}
	var fitting []form
	for _, f := range forms {
		if f.fits {
			fitting = append(fitting, f)
		}
	}
	f := rapid.SampledFrom(fitting).Draw(t, "intForm")
	if f.size == 0 {
		return append(dst, byte(v))
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return append(append(dst, f.code), b[8-f.size:]...)
}

// appendRandomExt appends an extension value: a valid timestamp, or, with
// unknownExt, an extension of another type in any of the extension forms.
func appendRandomExt(t *rapid.T, dst []byte, unknownExt bool) []byte {
	if !unknownExt || rapid.Bool().Draw(t, "timestamp") {
		sec := rapid.Int64Range(0, 1<<34-1).Draw(t, "seconds")
		nsec := rapid.Int64Range(0, 999_999_999).Draw(t, "nanoseconds")
		switch rapid.IntRange(0, 2).Draw(t, "timestampForm") {
		case 0:
			return binary.BigEndian.AppendUint32(append(dst, 0xd6, 0xff), uint32(sec))
		case 1:
			return binary.BigEndian.AppendUint64(append(dst, 0xd7, 0xff), uint64(nsec)<<34|uint64(sec))
		}
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc7, 12, 0xff), uint32(nsec))
		return binary.BigEndian.AppendUint64(dst, uint64(sec))
	}
	typ := byte(rapid.IntRange(0, 127).Draw(t, "extType"))
	fixed := map[int]byte{1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
	n := rapid.IntRange(0, 20).Draw(t, "extLength")
	payload := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "extPayload")
	if code, ok := fixed[n]; ok && rapid.Bool().Draw(t, "fixext") {
		return append(append(dst, code, typ), payload...)
	}
	switch rapid.IntRange(0, 2).Draw(t, "extForm") {
	case 0:
		dst = append(dst, 0xc7, byte(n))
	case 1:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc8), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc9), uint32(n))
	}
	return append(append(dst, typ), payload...)
}

// messagePackMessage generates a valid Message of any type whose raw values
// are MessagePack. Header names and values and stream IDs are non-empty,
// as the MessagePack reader requires.
func messagePackMessage(typ protocol.MessageType) *rapid.Generator[*protocol.Message] {
	if typ == protocol.TypePing {
		return messageOfType(typ) // a Ping has no fields to vary
	}
	return rapid.Custom(func(t *rapid.T) *protocol.Message {
		m := &protocol.Message{Type: typ}
		raw := func(label string) protocol.RawValue { return rawMessagePack(2, true).Draw(t, label) }
		if typ.IsTrackable() {
			header := rapid.Custom(func(t *rapid.T) protocol.Header {
				return protocol.Header{Key: nonEmptyWireString().Draw(t, "key"), Value: nonEmptyWireString().Draw(t, "value")}
			})
			m.Headers = rapid.SliceOfNDistinct(header, 0, 3, func(h protocol.Header) string { return h.Key }).Draw(t, "headers")
			if typ == protocol.TypeInvocation {
				m.InvocationID = wireString().Draw(t, "invocationId")
			} else {
				m.InvocationID = nonEmptyWireString().Draw(t, "invocationId")
			}
		}
		switch typ {
		case protocol.TypeInvocation, protocol.TypeStreamInvocation:
			m.Target = nonEmptyWireString().Draw(t, "target")
			for range rapid.IntRange(0, 4).Draw(t, "arguments") {
				m.Arguments = append(m.Arguments, raw("argument"))
			}
			m.StreamIDs = rapid.SliceOfN(nonEmptyWireString(), 0, 3).Draw(t, "streamIds")
		case protocol.TypeStreamItem:
			m.Item = raw("item")
		case protocol.TypeCompletion:
			switch rapid.IntRange(0, 2).Draw(t, "completionKind") {
			case 1:
				m.Result, m.HasResult = raw("result"), true
			case 2:
				m.Error, m.HasError = wireString().Draw(t, "error"), true
			}
		case protocol.TypeClose:
			if rapid.Bool().Draw(t, "hasError") {
				m.Error, m.HasError = wireString().Draw(t, "error"), true
			}
			m.AllowReconnect = rapid.Bool().Draw(t, "allowReconnect")
		case protocol.TypeAck, protocol.TypeSequence:
			m.SequenceID = rapid.Int64().Draw(t, "sequenceId")
		}
		return m
	})
}

func anyMessagePackMessage() *rapid.Generator[*protocol.Message] {
	gens := make([]*rapid.Generator[*protocol.Message], len(allMessageTypes))
	for i, typ := range allMessageTypes {
		gens[i] = messagePackMessage(typ)
	}
	return rapid.OneOf(gens...)
}

// TestPropertyMessagePackRoundTrip writes a message, splits the frame and
// parses it back: the result equals the original, and writing it again
// gives the same bytes.
func TestPropertyMessagePackRoundTrip(t *testing.T) {
	for _, typ := range allMessageTypes {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				want := messagePackMessage(typ).Draw(t, "message")
				wire, err := protocol.MessagePack{}.AppendMessage(nil, want)
				if err != nil {
					t.Fatalf("AppendMessage: %v", err)
				}
				length, n, err := protocol.ConsumeVarint(wire)
				if err != nil || n == 0 || n+length != len(wire) {
					t.Fatalf("frame %x: prefix gives length %d in %d bytes (%v)", wire, length, n, err)
				}
				var got protocol.Message
				if err := (protocol.MessagePack{}).ParseMessage(wire[n:], &got); err != nil {
					t.Fatalf("ParseMessage(%x): %v", wire[n:], err)
				}
				if diff := messageDiff(want, &got); diff != "" {
					t.Fatalf("round trip of %x: %s", wire, diff)
				}
				again, err := protocol.MessagePack{}.AppendMessage(nil, &got)
				if err != nil || !bytes.Equal(again, wire) {
					t.Fatalf("rewriting the parsed message gave %x (%v); want %x", again, err, wire)
				}
			})
		})
	}
}

// TestPropertyMessagePackStreamChunking writes several messages into one
// stream, cuts it at random points and feeds the pieces to a binary Framer:
// the parsed messages equal the ones written, however the stream is cut.
func TestPropertyMessagePackStreamChunking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		messages := rapid.SliceOfN(anyMessagePackMessage(), 1, 5).Draw(t, "messages")
		var stream []byte
		for _, m := range messages {
			var err error
			if stream, err = (protocol.MessagePack{}).AppendMessage(stream, m); err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
		}
		f := protocol.Framer{Format: protocol.TransferFormatBinary}
		var got protocol.Message
		i := 0
		for _, chunk := range chunked(stream, cutPoints(t, len(stream))) {
			if err := f.Feed(chunk); err != nil {
				t.Fatalf("Feed: %v", err)
			}
			for {
				frame, err := f.Next()
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if frame == nil {
					break
				}
				if i >= len(messages) {
					t.Fatalf("more frames than the %d messages written", len(messages))
				}
				if err := (protocol.MessagePack{}).ParseMessage(frame, &got); err != nil {
					t.Fatalf("message %d: ParseMessage(%x): %v", i, frame, err)
				}
				if diff := messageDiff(messages[i], &got); diff != "" {
					t.Fatalf("message %d: %s", i, diff)
				}
				i++
			}
		}
		if i != len(messages) || f.Buffered() != 0 {
			t.Fatalf("parsed %d of %d messages, %d bytes left", i, len(messages), f.Buffered())
		}
	})
}

// TestPropertyMessagePackArgumentsMatchDecoder builds an Invocation by hand
// around random arguments in random encodings. ParseMessage must slice out
// exactly the bytes of each argument, and Unmarshal of each must equal what
// vmihailenco/msgpack decodes from the whole arguments array.
func TestPropertyMessagePackArgumentsMatchDecoder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		unknownExt := rapid.Bool().Draw(t, "unknownExt")
		args := rapid.SliceOfN(rawMessagePack(3, unknownExt), 0, 5).Draw(t, "arguments")
		data := []byte{0x96, 0x01, 0x80, 0xc0, 0xa1, 'T'}
		arrayStart := len(data)
		data = append(data, 0x90|byte(len(args)))
		for _, a := range args {
			data = append(data, a...)
		}
		arrayEnd := len(data)
		data = append(data, 0x90)

		var m protocol.Message
		if err := (protocol.MessagePack{}).ParseMessage(data, &m); err != nil {
			t.Fatalf("ParseMessage(%x): %v", data, err)
		}
		if len(m.Arguments) != len(args) {
			t.Fatalf("got %d arguments; want %d", len(m.Arguments), len(args))
		}
		for i := range args {
			if !bytes.Equal(m.Arguments[i], args[i]) {
				t.Fatalf("argument %d = %x; want %x", i, m.Arguments[i], args[i])
			}
		}
		if unknownExt {
			return // vmihailenco/msgpack cannot decode unregistered extensions
		}

		dec := msgpack.NewDecoder(bytes.NewReader(data[arrayStart:arrayEnd]))
		dec.UseLooseInterfaceDecoding(true)
		var want []any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("vmihailenco/msgpack rejects %x: %v", data[arrayStart:arrayEnd], err)
		}
		for i, raw := range m.Arguments {
			var got any
			if err := (protocol.MessagePack{}).Unmarshal(raw, &got); err != nil {
				t.Fatalf("Unmarshal(%x): %v", raw, err)
			}
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("argument %d, %x: Unmarshal gave %#v, the decoder %#v", i, raw, got, want[i])
			}
		}
	})
}

// TestPropertyMessagePackArbitraryBytes feeds random bytes, and random edits
// of valid messages, to ParseMessage. It must return a *MessageError with an
// offset inside the input, or a message that meets its type's requirements.
func TestPropertyMessagePackArbitraryBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var data []byte
		if rapid.Bool().Draw(t, "random") {
			data = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "bytes")
		} else {
			wire, err := protocol.MessagePack{}.AppendMessage(nil, anyMessagePackMessage().Draw(t, "message"))
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			_, n, _ := protocol.ConsumeVarint(wire)
			data = wire[n:]
			data = mutate(t, data)
		}

		var m protocol.Message
		if !parsedOrMessageError(t, protocol.MessagePack{}, data, &m) {
			return
		}
		switch {
		case m.Type == protocol.TypeCompletion && m.HasError && m.HasResult:
			t.Fatalf("ParseMessage(%x) accepted a Completion with both a result and an error", data)
		case m.Type == protocol.TypeStreamItem && m.Item == nil:
			t.Fatalf("ParseMessage(%x) accepted a StreamItem without an item", data)
		case m.Type >= protocol.TypeStreamItem && m.Type <= protocol.TypeCancelInvocation && m.InvocationID == "":
			t.Fatalf("ParseMessage(%x) accepted a %v without an invocation ID", data, m.Type)
		}
		// Every argument must be exactly one well-formed value: as the item
		// of a StreamItem it parses with nothing left over.
		for i, a := range m.Arguments {
			item := append([]byte{0x94, 0x02, 0x80, 0xa1, 'x'}, a...)
			if err := (protocol.MessagePack{}).ParseMessage(item, new(protocol.Message)); err != nil {
				t.Fatalf("ParseMessage(%x): argument %d, %x, is not one value: %v", data, i, a, err)
			}
		}
	})
}
