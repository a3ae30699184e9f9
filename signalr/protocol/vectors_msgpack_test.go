package protocol_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// decodeMessagePack converts one raw MessagePack value to the neutral value
// form of the vectors: numbers as float64, and the MessagePack types JSON
// lacks as {"$float32": x}, {"$float64": x}, {"$base64": s} and
// {"$timestamp": s}.
func decodeMessagePack(raw []byte) (any, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	v, err := neutralValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.Buffered().(*bytes.Reader).Len() != 0 {
		return nil, errors.New("bytes after the value")
	}
	return v, nil
}

func neutralValue(dec *msgpack.Decoder) (any, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return dec.DecodeBool()
	case c == msgpcode.Float:
		f, err := dec.DecodeFloat32()
		return map[string]any{"$float32": float64(f)}, err
	case c == msgpcode.Double:
		f, err := dec.DecodeFloat64()
		return map[string]any{"$float64": f}, err
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		b, err := dec.DecodeBytes()
		return map[string]any{"$base64": base64.StdEncoding.EncodeToString(b)}, err
	case msgpcode.IsExt(c):
		t, err := dec.DecodeTime()
		return map[string]any{"$timestamp": t.UTC().Format(time.RFC3339Nano)}, err
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		list := []any{}
		for range n {
			v, err := neutralValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		for range n {
			k, err := dec.DecodeString()
			if err != nil {
				return nil, err
			}
			if obj[k], err = neutralValue(dec); err != nil {
				return nil, err
			}
		}
		return obj, nil
	}
	n, err := dec.DecodeInt64()
	return float64(n), err
}

// encodeMessagePack is the inverse of decodeMessagePack for the values of
// write vectors. It keeps the key order of JSON objects and writes integers
// in their shortest form, as the .NET writer does.
func encodeMessagePack(raw json.RawMessage) (protocol.RawValue, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := encodeNeutral(enc, dec); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeNeutral(enc *msgpack.Encoder, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(t)
	case string:
		return enc.EncodeString(t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return enc.EncodeInt(n)
		}
		f, err := t.Float64()
		if err != nil {
			return err
		}
		return enc.EncodeFloat64(f)
	case json.Delim:
		if t == '[' {
			var items []json.RawMessage
			for dec.More() {
				var item json.RawMessage
				if err := dec.Decode(&item); err != nil {
					return err
				}
				items = append(items, item)
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			if err := enc.EncodeArrayLen(len(items)); err != nil {
				return err
			}
			for _, item := range items {
				if err := encodeNeutral(enc, itemDecoder(item)); err != nil {
					return err
				}
			}
			return nil
		}
		type entry struct {
			key   string
			value json.RawMessage
		}
		var entries []entry
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return err
			}
			entries = append(entries, entry{k.(string), v})
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		if len(entries) == 1 && strings.HasPrefix(entries[0].key, "$") {
			return encodeTagged(enc, entries[0].key, entries[0].value)
		}
		if err := enc.EncodeMapLen(len(entries)); err != nil {
			return err
		}
		for _, e := range entries {
			if err := enc.EncodeString(e.key); err != nil {
				return err
			}
			if err := encodeNeutral(enc, itemDecoder(e.value)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected token %v", tok)
}

func itemDecoder(raw json.RawMessage) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec
}

// encodeTagged writes a value of the form {"$float32": x} and its kin.
func encodeTagged(enc *msgpack.Encoder, tag string, raw json.RawMessage) error {
	switch tag {
	case "$float32", "$float64":
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		if tag == "$float32" {
			return enc.EncodeFloat32(float32(f))
		}
		return enc.EncodeFloat64(f)
	case "$base64":
		var b []byte
		if err := json.Unmarshal(raw, &b); err != nil {
			return err
		}
		return enc.EncodeBytes(b)
	case "$timestamp":
		var t time.Time
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		return enc.EncodeTime(t)
	}
	return fmt.Errorf("unknown tagged value %s", tag)
}

// neutralMessagePack is neutral with MessagePack values and the result kind
// that MessagePack Completion vectors carry.
func neutralMessagePack(m *protocol.Message) (map[string]any, error) {
	n, err := neutral(m, decodeMessagePack)
	if err != nil {
		return nil, err
	}
	if m.Type == protocol.TypeCompletion {
		switch {
		case m.HasError:
			n["resultKind"] = float64(1)
		case m.HasResult:
			n["resultKind"] = float64(3)
		default:
			n["resultKind"] = float64(2)
		}
	}
	return n, nil
}

// parseAllMessagePack splits input into binary frames and parses each,
// leaving out messages of unknown types. rest is the number of bytes of an
// incomplete frame at the end.
func parseAllMessagePack(input []byte) (got []map[string]any, msgs []*protocol.Message, rest int, err error) {
	f := protocol.Framer{Format: protocol.TransferFormatBinary}
	if err := f.Feed(input); err != nil {
		return nil, nil, 0, err
	}
	for {
		frame, err := f.Next()
		if err != nil {
			return nil, nil, 0, err
		}
		if frame == nil {
			break
		}
		m := new(protocol.Message)
		if err := (protocol.MessagePack{}).ParseMessage(frame, m); err != nil {
			return nil, nil, 0, err
		}
		if !m.Type.IsKnown() {
			continue
		}
		n, err := neutralMessagePack(m)
		if err != nil {
			return nil, nil, 0, err
		}
		got = append(got, n)
		msgs = append(msgs, m)
	}
	return got, msgs, f.Buffered(), nil
}

func runMessagePackVector(v *vector) error {
	switch v.Direction {
	case "read":
		return runMessagePackRead(v)
	case "write":
		return runMessagePackWrite(v)
	}
	return fmt.Errorf("unknown direction %q", v.Direction)
}

func runMessagePackRead(v *vector) error {
	input := v.input()
	got, msgs, rest, err := parseAllMessagePack(input)
	if v.ExpectError != nil {
		return checkErrorKind(v.ExpectError.Kind, err)
	}
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}

	if v.Binder != nil {
		if len(msgs) != 1 {
			return fmt.Errorf("got %d messages; want 1", len(msgs))
		}
		return checkBinding(protocol.MessagePack{}, v, msgs[0])
	}

	var want any
	if err := json.Unmarshal(v.Expect, &want); err != nil {
		return err
	}
	wantList, ok := want.([]any)
	if !ok {
		wantList = []any{want}
	}
	// An empty expectation means the input is incomplete: nothing may be
	// consumed. Otherwise every byte must belong to a message.
	if len(wantList) == 0 && rest != len(input) {
		return fmt.Errorf("%d of %d bytes consumed; want none", len(input)-rest, len(input))
	}
	if len(wantList) > 0 && rest != 0 {
		return fmt.Errorf("%d bytes left in an incomplete frame", rest)
	}
	if len(got) != len(wantList) {
		return fmt.Errorf("got %d messages %v; want %d %v", len(got), got, len(wantList), wantList)
	}
	for i := range got {
		if !reflect.DeepEqual(any(got[i]), wantList[i]) {
			return fmt.Errorf("message %d = %v; want %v", i, got[i], wantList[i])
		}
	}
	return nil
}

func runMessagePackWrite(v *vector) error {
	return runWrite(v, protocol.MessagePack{}, encodeMessagePack)
}

func TestMessagePackHubVectors(t *testing.T) {
	envelopeOnly := "the reader keeps a message only when its whole envelope is valid: a missing or " +
		"non-array arguments element is a parse error, as in the TypeScript client, where the .NET " +
		"server reports a binding failure for the invocation and keeps the connection"
	checkMissing := func(v *vector) error {
		_, _, _, err := parseAllMessagePack(v.input())
		if errors.Is(err, protocol.ErrMissingProperty) || errors.Is(err, protocol.ErrWrongType) {
			return nil
		}
		return fmt.Errorf("got %v; want ErrMissingProperty or ErrWrongType", err)
	}
	deviations := map[string]deviation{
		"dotnet/ArgumentBindingErrors/InvocationArgumentArrayMissing":          {reason: envelopeOnly, check: checkMissing},
		"dotnet/ArgumentBindingErrors/InvocationArgumentArrayNotAnArray":       {reason: envelopeOnly, check: checkMissing},
		"dotnet/ArgumentBindingErrors/StreamInvocationArgumentArrayMissing":    {reason: envelopeOnly, check: checkMissing},
		"dotnet/ArgumentBindingErrors/StreamInvocationArgumentArrayNotAnArray": {reason: envelopeOnly, check: checkMissing},
	}
	runVectors(t, "msgpack-hub.jsonl", deviations, runMessagePackVector)
}
