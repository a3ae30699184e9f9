package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// specialRunes are runes that exercise the escaping paths of the writer and
// the reader: JSON metacharacters, control characters (0x1E among them, the
// record separator), DEL, and multi-byte UTF-8 up to four bytes.
var specialRunes = []rune{
	'"', '\\', '/', '\x00', '\b', '\f', '\n', '\r', '\t', '\x1e', '\x1f', '\x7f',
	'é', 'ß', '日', '本', '\u2028', '\u2029', '\uFEFF', '\uFFFD', '😀', '𝄞',
}

// wireString generates valid UTF-8 strings rich in characters that need
// escaping. The writer replaces invalid UTF-8 with U+FFFD, so a string with
// invalid UTF-8 does not survive a round trip by design.
func wireString() *rapid.Generator[string] {
	return rapid.StringOfN(rapid.OneOf(rapid.Rune(), rapid.SampledFrom(specialRunes)), 0, 24, -1)
}

func nonEmptyWireString() *rapid.Generator[string] {
	return rapid.StringOfN(rapid.OneOf(rapid.Rune(), rapid.SampledFrom(specialRunes)), 1, 24, -1)
}

// goValue generates a Go value of the kind encoding/json decodes into any:
// nil, bool, float64, string, []any or map[string]any, nested up to depth.
func goValue(depth int) *rapid.Generator[any] {
	finite := rapid.Float64().Filter(func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) })
	scalars := []*rapid.Generator[any]{
		rapid.Just[any](nil),
		rapid.Bool().AsAny(),
		finite.AsAny(),
		rapid.Map(rapid.Int64Range(-1<<53, 1<<53), func(n int64) any { return float64(n) }),
		wireString().AsAny(),
	}
	if depth == 0 {
		return rapid.OneOf(scalars...)
	}
	inner := goValue(depth - 1)
	composite := append(scalars,
		rapid.Map(rapid.SliceOfN(inner, 0, 4), func(s []any) any { return s }),
		rapid.Map(rapid.MapOfN(wireString(), inner, 0, 4), func(m map[string]any) any { return m }),
	)
	return rapid.OneOf(composite...)
}

// rawJSON generates a RawValue produced by encoding/json from a random value.
func rawJSON() *rapid.Generator[protocol.RawValue] {
	return rapid.Custom(func(t *rapid.T) protocol.RawValue {
		v := goValue(2).Draw(t, "value")
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%#v): %v", v, err)
		}
		return protocol.RawValue(b)
	})
}

func headersGen() *rapid.Generator[[]protocol.Header] {
	header := rapid.Custom(func(t *rapid.T) protocol.Header {
		return protocol.Header{Key: wireString().Draw(t, "key"), Value: wireString().Draw(t, "value")}
	})
	return rapid.SliceOfNDistinct(header, 0, 4, func(h protocol.Header) string { return h.Key })
}

// messageOfType generates a valid Message of type typ that sets only the
// fields the type uses. It meets the writer's requirements: an invocation
// ID on types 2 to 5, a target on types 1 and 4, and never both a result
// and an error.
func messageOfType(typ protocol.MessageType) *rapid.Generator[*protocol.Message] {
	if typ == protocol.TypePing {
		// A Ping has no fields to vary.
		return rapid.Map(rapid.Just(typ), func(typ protocol.MessageType) *protocol.Message {
			return &protocol.Message{Type: typ}
		})
	}
	return rapid.Custom(func(t *rapid.T) *protocol.Message {
		m := &protocol.Message{Type: typ}
		if typ.IsTrackable() {
			m.Headers = headersGen().Draw(t, "headers")
			if typ == protocol.TypeInvocation {
				m.InvocationID = wireString().Draw(t, "invocationId")
			} else {
				m.InvocationID = nonEmptyWireString().Draw(t, "invocationId")
			}
		}
		switch typ {
		case protocol.TypeInvocation, protocol.TypeStreamInvocation:
			m.Target = nonEmptyWireString().Draw(t, "target")
			m.Arguments = rapid.SliceOfN(rawJSON(), 0, 4).Draw(t, "arguments")
			m.StreamIDs = rapid.SliceOfN(wireString(), 0, 3).Draw(t, "streamIds")
		case protocol.TypeStreamItem:
			m.Item = rawJSON().Draw(t, "item")
		case protocol.TypeCompletion:
			switch rapid.IntRange(0, 2).Draw(t, "completionKind") {
			case 1:
				m.Result, m.HasResult = rawJSON().Draw(t, "result"), true
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

var allMessageTypes = []protocol.MessageType{
	protocol.TypeInvocation, protocol.TypeStreamItem, protocol.TypeCompletion,
	protocol.TypeStreamInvocation, protocol.TypeCancelInvocation, protocol.TypePing,
	protocol.TypeClose, protocol.TypeAck, protocol.TypeSequence,
}

func anyMessage() *rapid.Generator[*protocol.Message] {
	gens := make([]*rapid.Generator[*protocol.Message], len(allMessageTypes))
	for i, typ := range allMessageTypes {
		gens[i] = messageOfType(typ)
	}
	return rapid.OneOf(gens...)
}

// messageDiff returns a description of the first difference between want
// and got, or "" when they are equal. A nil slice equals an empty one, and
// raw values compare byte for byte.
func messageDiff(want, got *protocol.Message) string {
	switch {
	case want.Type != got.Type:
		return fmt.Sprintf("Type = %v, want %v", got.Type, want.Type)
	case want.InvocationID != got.InvocationID:
		return fmt.Sprintf("InvocationID = %q, want %q", got.InvocationID, want.InvocationID)
	case want.Target != got.Target:
		return fmt.Sprintf("Target = %q, want %q", got.Target, want.Target)
	case !bytes.Equal(want.Item, got.Item):
		return fmt.Sprintf("Item = %q, want %q", got.Item, want.Item)
	case want.HasResult != got.HasResult || !bytes.Equal(want.Result, got.Result):
		return fmt.Sprintf("Result = %q (HasResult %v), want %q (HasResult %v)", got.Result, got.HasResult, want.Result, want.HasResult)
	case want.HasError != got.HasError || want.Error != got.Error:
		return fmt.Sprintf("Error = %q (HasError %v), want %q (HasError %v)", got.Error, got.HasError, want.Error, want.HasError)
	case want.AllowReconnect != got.AllowReconnect:
		return fmt.Sprintf("AllowReconnect = %v, want %v", got.AllowReconnect, want.AllowReconnect)
	case want.SequenceID != got.SequenceID:
		return fmt.Sprintf("SequenceID = %d, want %d", got.SequenceID, want.SequenceID)
	}
	if len(want.Headers) != len(got.Headers) {
		return fmt.Sprintf("Headers = %q, want %q", got.Headers, want.Headers)
	}
	for i := range want.Headers {
		if want.Headers[i] != got.Headers[i] {
			return fmt.Sprintf("Headers[%d] = %q, want %q", i, got.Headers[i], want.Headers[i])
		}
	}
	if len(want.Arguments) != len(got.Arguments) {
		return fmt.Sprintf("Arguments = %q, want %q", got.Arguments, want.Arguments)
	}
	for i := range want.Arguments {
		if !bytes.Equal(want.Arguments[i], got.Arguments[i]) {
			return fmt.Sprintf("Arguments[%d] = %q, want %q", i, got.Arguments[i], want.Arguments[i])
		}
	}
	if len(want.StreamIDs) != len(got.StreamIDs) {
		return fmt.Sprintf("StreamIDs = %q, want %q", got.StreamIDs, want.StreamIDs)
	}
	for i := range want.StreamIDs {
		if want.StreamIDs[i] != got.StreamIDs[i] {
			return fmt.Sprintf("StreamIDs[%d] = %q, want %q", i, got.StreamIDs[i], want.StreamIDs[i])
		}
	}
	return ""
}

func TestPropertyWriteParseRoundTrip(t *testing.T) {
	for _, typ := range allMessageTypes {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				want := messageOfType(typ).Draw(t, "message")
				wire, err := protocol.JSON{}.AppendMessage(nil, want)
				if err != nil {
					t.Fatalf("AppendMessage: %v", err)
				}

				record, rest, ok := protocol.SplitRecord(wire)
				if !ok {
					t.Fatalf("SplitRecord(%q) found no record", wire)
				}
				if len(rest) != 0 {
					t.Fatalf("SplitRecord(%q) left %q after the first record", wire, rest)
				}

				var got protocol.Message
				if err := (protocol.JSON{}).ParseMessage(record, &got); err != nil {
					t.Fatalf("ParseMessage(%q): %v", record, err)
				}
				if diff := messageDiff(want, &got); diff != "" {
					t.Fatalf("round trip of %q: %s", record, diff)
				}
			})
		})
	}
}

// TestPropertyParseReusedMessage parses a sequence of messages into one
// Message, the way a connection's read loop does, and checks that nothing
// of an earlier message leaks into a later one.
func TestPropertyParseReusedMessage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		messages := rapid.SliceOfN(anyMessage(), 1, 6).Draw(t, "messages")
		var got protocol.Message
		for i, want := range messages {
			wire, err := protocol.JSON{}.AppendMessage(nil, want)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if err := (protocol.JSON{}).ParseMessage(wire[:len(wire)-1], &got); err != nil {
				t.Fatalf("message %d: ParseMessage(%q): %v", i, wire, err)
			}
			if diff := messageDiff(want, &got); diff != "" {
				t.Fatalf("message %d, %q: %s", i, wire, diff)
			}
		}
	})
}

// chunked cuts data at the sorted offsets cuts.
func chunked(data []byte, cuts []int) [][]byte {
	var chunks [][]byte
	start := 0
	for _, c := range cuts {
		chunks = append(chunks, data[start:c])
		start = c
	}
	return append(chunks, data[start:])
}

// framerOutput is what a Framer returned for a stream: copies of the
// payloads, the error that stopped it, and the bytes still buffered.
type framerOutput struct {
	payloads [][]byte
	err      error
	buffered int
}

// runFramer feeds chunks to a new Framer one at a time and drains it after
// each. Every chunk is copied into one reused buffer that is overwritten
// after draining, so a Framer that keeps a reference to fed memory past the
// point its contract allows returns corrupted payloads.
func runFramer(format protocol.TransferFormat, maxSize int, chunks [][]byte) framerOutput {
	f := protocol.Framer{Format: format, MaxMessageSize: maxSize}
	var out framerOutput
	var reused []byte
	for _, chunk := range chunks {
		reused = append(reused[:0], chunk...)
		if err := f.Feed(reused); err != nil {
			out.err = err
			break
		}
		for {
			payload, err := f.Next()
			if err != nil {
				out.err = err
				break
			}
			if payload == nil {
				break
			}
			out.payloads = append(out.payloads, bytes.Clone(payload))
		}
		if out.err != nil {
			break
		}
		for i := range reused {
			reused[i] = 0xEE
		}
	}
	out.buffered = f.Buffered()
	return out
}

func framerOutputDiff(whole, pieces framerOutput) string {
	if len(whole.payloads) != len(pieces.payloads) {
		return fmt.Sprintf("piecewise gave %d payloads, whole gave %d", len(pieces.payloads), len(whole.payloads))
	}
	for i := range whole.payloads {
		if !bytes.Equal(whole.payloads[i], pieces.payloads[i]) {
			return fmt.Sprintf("payload %d: piecewise %q, whole %q", i, pieces.payloads[i], whole.payloads[i])
		}
	}
	if (whole.err == nil) != (pieces.err == nil) {
		return fmt.Sprintf("piecewise error %v, whole error %v", pieces.err, whole.err)
	}
	if whole.err != nil {
		for _, sentinel := range []error{protocol.ErrMessageTooLarge, protocol.ErrInvalidFraming} {
			if errors.Is(whole.err, sentinel) != errors.Is(pieces.err, sentinel) {
				return fmt.Sprintf("piecewise error %v, whole error %v", pieces.err, whole.err)
			}
		}
	} else if whole.buffered != pieces.buffered {
		return fmt.Sprintf("piecewise left %d bytes buffered, whole %d", pieces.buffered, whole.buffered)
	}
	return ""
}

// cutPoints generates sorted offsets in [0, n] at which to cut a stream of n
// bytes. Repeated offsets produce empty chunks.
func cutPoints(t *rapid.T, n int) []int {
	cuts := rapid.SliceOfN(rapid.IntRange(0, n), 0, 12).Draw(t, "cuts")
	slices.Sort(cuts)
	return cuts
}

func TestPropertyFramerTextChunking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		messages := rapid.SliceOfN(anyMessage(), 1, 5).Draw(t, "messages")
		var stream []byte
		for _, m := range messages {
			var err error
			if stream, err = (protocol.JSON{}).AppendMessage(stream, m); err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
		}
		// An incomplete trailing record must stay buffered either way.
		stream = append(stream, rapid.SliceOfN(rapid.ByteRange(0x20, 0x7e), 0, 8).Draw(t, "tail")...)

		whole := runFramer(protocol.TransferFormatText, 0, [][]byte{stream})
		if whole.err != nil {
			t.Fatalf("whole stream: %v", whole.err)
		}
		if len(whole.payloads) != len(messages) {
			t.Fatalf("whole stream gave %d payloads, want %d", len(whole.payloads), len(messages))
		}
		pieces := runFramer(protocol.TransferFormatText, 0, chunked(stream, cutPoints(t, len(stream))))
		if diff := framerOutputDiff(whole, pieces); diff != "" {
			t.Fatal(diff)
		}
	})
}

func TestPropertyFramerBinaryChunking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		payloads := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 300), 1, 5).Draw(t, "payloads")
		var stream []byte
		for _, p := range payloads {
			stream = protocol.AppendFrame(stream, p)
		}
		stream = append(stream, rapid.SliceOfN(rapid.Byte(), 0, 3).Draw(t, "tail")...)

		whole := runFramer(protocol.TransferFormatBinary, 0, [][]byte{stream})
		if whole.err != nil {
			t.Fatalf("whole stream: %v", whole.err)
		}
		for i, p := range payloads {
			if i >= len(whole.payloads) || !bytes.Equal(whole.payloads[i], p) {
				t.Fatalf("whole stream: payload %d differs from the one written", i)
			}
		}
		pieces := runFramer(protocol.TransferFormatBinary, 0, chunked(stream, cutPoints(t, len(stream))))
		if diff := framerOutputDiff(whole, pieces); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestPropertyFramerOversize checks that a record above MaxMessageSize is
// reported at the same record whether the stream arrives whole or in
// pieces, and after the same payloads.
func TestPropertyFramerOversize(t *testing.T) {
	for _, format := range []protocol.TransferFormat{protocol.TransferFormatText, protocol.TransferFormatBinary} {
		t.Run(format.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				maxSize := rapid.IntRange(1, 40).Draw(t, "maxSize")
				payloads := rapid.SliceOfN(rapid.SliceOfN(rapid.ByteRange(0x20, 0x7e), 0, 60), 1, 6).Draw(t, "payloads")
				var stream []byte
				for _, p := range payloads {
					if format == protocol.TransferFormatBinary {
						stream = protocol.AppendFrame(stream, p)
					} else {
						stream = protocol.AppendRecord(stream, p)
					}
				}

				whole := runFramer(format, maxSize, [][]byte{stream})
				pieces := runFramer(format, maxSize, chunked(stream, cutPoints(t, len(stream))))
				if diff := framerOutputDiff(whole, pieces); diff != "" {
					t.Fatal(diff)
				}

				// The first oversize payload stops the Framer, and every
				// payload before it is returned.
				firstOversize := -1
				for i, p := range payloads {
					if len(p) > maxSize {
						firstOversize = i
						break
					}
				}
				if firstOversize < 0 {
					if whole.err != nil {
						t.Fatalf("no payload exceeds %d bytes, but the Framer failed: %v", maxSize, whole.err)
					}
					return
				}
				if !errors.Is(whole.err, protocol.ErrMessageTooLarge) {
					t.Fatalf("payload %d exceeds %d bytes, but the error is %v", firstOversize, maxSize, whole.err)
				}
				if len(whole.payloads) != firstOversize {
					t.Fatalf("got %d payloads before the error, want %d", len(whole.payloads), firstOversize)
				}
			})
		})
	}
}

// jsonText generates JSON text the way peers may write it: white space
// between tokens, numbers in every form the grammar allows, and strings with
// every kind of escape, including unpaired UTF-16 surrogates.
func jsonText(depth int) *rapid.Generator[string] {
	space := rapid.SampledFrom([]string{"", "", "", " ", "\t", "\r\n", "  \n "})
	number := rapid.SampledFrom([]string{
		"0", "-0", "1", "-1", "42", "0.5", "-0.0", "1e3", "1E-3", "2.5e+10", "-1.25E2",
		"9007199254740993", "123456789012345678901234567890", "1e308", "5e-324", "0.1",
	})
	escape := rapid.SampledFrom([]string{
		`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0000`, `\u001e`, `\u00e9`,
		`\u20AC`, `\ud83d\ude00`, `\ud800`, `\udc00`, `\ud800\ud800`, `\uD834\uDD1E`, `\uFFFF`,
	})
	plain := rapid.StringOfN(rapid.Rune().Filter(func(r rune) bool { return r >= 0x20 && r != '"' && r != '\\' }), 0, 6, -1)
	str := rapid.Custom(func(t *rapid.T) string {
		var b strings.Builder
		b.WriteByte('"')
		for range rapid.IntRange(0, 4).Draw(t, "parts") {
			if rapid.Bool().Draw(t, "escaped") {
				b.WriteString(escape.Draw(t, "escape"))
			} else {
				b.WriteString(plain.Draw(t, "plain"))
			}
		}
		b.WriteByte('"')
		return b.String()
	})
	scalars := []*rapid.Generator[string]{
		rapid.SampledFrom([]string{"null", "true", "false"}),
		number,
		str,
	}
	if depth == 0 {
		return rapid.OneOf(scalars...)
	}
	inner := jsonText(depth - 1)
	array := rapid.Custom(func(t *rapid.T) string {
		elems := rapid.SliceOfN(inner, 0, 4).Draw(t, "elements")
		var b strings.Builder
		b.WriteString("[" + space.Draw(t, "space"))
		for i, e := range elems {
			if i > 0 {
				b.WriteString("," + space.Draw(t, "space"))
			}
			b.WriteString(e + space.Draw(t, "space"))
		}
		b.WriteString("]")
		return b.String()
	})
	object := rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(0, 4).Draw(t, "properties")
		var b strings.Builder
		b.WriteString("{" + space.Draw(t, "space"))
		for i := range n {
			if i > 0 {
				b.WriteString("," + space.Draw(t, "space"))
			}
			b.WriteString(str.Draw(t, "key") + space.Draw(t, "space") + ":" + space.Draw(t, "space"))
			b.WriteString(inner.Draw(t, "value") + space.Draw(t, "space"))
		}
		b.WriteString("}")
		return b.String()
	})
	return rapid.OneOf(append(scalars, array, object)...)
}

// TestPropertyUnmarshalMatchesEncodingJSON embeds random JSON text as the
// arguments of an Invocation. Each argument that ParseMessage extracts must
// decode with Unmarshal to what encoding/json decodes from the same
// position of the arguments array, so the scanner finds the same value
// boundaries as encoding/json.
func TestPropertyUnmarshalMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		args := rapid.SliceOfN(jsonText(3), 0, 4).Draw(t, "arguments")
		array := "[ " + strings.Join(args, " , ") + " ]"
		var want []any
		if err := json.Unmarshal([]byte(array), &want); err != nil {
			t.Fatalf("encoding/json rejects generated JSON %s: %v", array, err)
		}

		record := []byte(`{"type":1,"target":"T","arguments":` + array + `}`)
		var m protocol.Message
		if err := (protocol.JSON{}).ParseMessage(record, &m); err != nil {
			t.Fatalf("ParseMessage(%q): %v", record, err)
		}
		if len(m.Arguments) != len(want) {
			t.Fatalf("got %d arguments, want %d", len(m.Arguments), len(want))
		}
		for i, raw := range m.Arguments {
			var got any
			if err := (protocol.JSON{}).Unmarshal(raw, &got); err != nil {
				t.Fatalf("Unmarshal(%q): %v", raw, err)
			}
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("argument %d, %q: Unmarshal gave %#v, encoding/json %#v", i, raw, got, want[i])
			}

			var direct any
			if err := json.Unmarshal(raw, &direct); err != nil {
				t.Fatalf("json.Unmarshal(%q): %v", raw, err)
			}
			if !reflect.DeepEqual(got, direct) {
				t.Fatalf("argument %d, %q: Unmarshal gave %#v, json.Unmarshal %#v", i, raw, got, direct)
			}
		}
	})
}

// TestPropertyUnescapeMatchesEncodingJSON checks that string properties are
// decoded as encoding/json decodes them, escapes and unpaired surrogates
// included.
func TestPropertyUnescapeMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		target := rapid.Custom(func(t *rapid.T) string {
			for {
				s := jsonText(0).Draw(t, "string")
				if strings.HasPrefix(s, `"`) {
					return s
				}
			}
		}).Draw(t, "target")
		var want string
		if err := json.Unmarshal([]byte(target), &want); err != nil {
			t.Fatalf("encoding/json rejects generated string %s: %v", target, err)
		}

		record := []byte(`{"type":1,"target":` + target + `,"headers":{` + target + `:` + target + `},"arguments":[]}`)
		var m protocol.Message
		if err := (protocol.JSON{}).ParseMessage(record, &m); err != nil {
			t.Fatalf("ParseMessage(%q): %v", record, err)
		}
		if m.Target != want {
			t.Fatalf("Target = %q, encoding/json gives %q", m.Target, want)
		}
		if len(m.Headers) != 1 || m.Headers[0].Key != want || m.Headers[0].Value != want {
			t.Fatalf("Headers = %q, want one header %q: %q", m.Headers, want, want)
		}
	})
}

// TestPropertyParseArbitraryBytes feeds random bytes, and random edits of
// valid messages, to ParseMessage. It must return without panicking, with
// either a *MessageError or a message whose type-specific requirements hold.
func TestPropertyParseArbitraryBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var data []byte
		if rapid.Bool().Draw(t, "random") {
			data = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "bytes")
		} else {
			m := anyMessage().Draw(t, "message")
			wire, err := protocol.JSON{}.AppendMessage(nil, m)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			data = wire[:len(wire)-1]
			data = mutate(t, data)
		}

		var m protocol.Message
		if !parsedOrMessageError(t, protocol.JSON{}, data, &m) {
			return
		}
		if m.Type == protocol.TypeCompletion && m.HasError && m.HasResult {
			t.Fatalf("ParseMessage(%q) accepted a Completion with both a result and an error", data)
		}
		if m.Type == protocol.TypeStreamItem && m.Item == nil {
			t.Fatalf("ParseMessage(%q) accepted a StreamItem without an item", data)
		}
		for i, a := range m.Arguments {
			if !json.Valid(a) {
				t.Fatalf("ParseMessage(%q): argument %d, %q, is not valid JSON", data, i, a)
			}
		}
	})
}

// mutate makes one to four random edits to data: a changed byte, a removed
// byte, or a cut.
func mutate(t *rapid.T, data []byte) []byte {
	for range rapid.IntRange(1, 4).Draw(t, "edits") {
		if len(data) == 0 {
			break
		}
		at := rapid.IntRange(0, len(data)-1).Draw(t, "at")
		switch rapid.IntRange(0, 2).Draw(t, "edit") {
		case 0:
			data[at] = rapid.Byte().Draw(t, "byte")
		case 1:
			data = append(data[:at], data[at+1:]...)
		case 2:
			data = data[:at]
		}
	}
	return data
}

// parsedOrMessageError parses data into m and reports whether it parsed.
// A failure must be a *MessageError with an offset inside data.
func parsedOrMessageError(t *rapid.T, proto protocol.HubProtocol, data []byte, m *protocol.Message) bool {
	err := proto.ParseMessage(data, m)
	if err == nil {
		return true
	}
	var me *protocol.MessageError
	if !errors.As(err, &me) {
		t.Fatalf("ParseMessage(%q) returned %T, want *protocol.MessageError", data, err)
	}
	if me.Offset < 0 || me.Offset > len(data) {
		t.Fatalf("ParseMessage(%q): error offset %d is outside the input", data, me.Offset)
	}
	return false
}
