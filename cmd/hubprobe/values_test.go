package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func TestJSONToMessagePack(t *testing.T) {
	for _, tt := range []struct {
		json, hex string
	}{
		{`null`, "c0"},
		{`true`, "c3"},
		{`false`, "c2"},
		{`0`, "00"},
		{`42`, "2a"},
		{`-1`, "ff"},
		{`-0`, "00"},
		{`300`, "cd012c"},
		{`-200`, "d1ff38"},
		{`9223372036854775807`, "cf7fffffffffffffff"},
		{`-9223372036854775808`, "d38000000000000000"},
		{`18446744073709551615`, "cfffffffffffffffff"},
		{`1.5`, "cb3ff8000000000000"},
		{`1.0`, "cb3ff0000000000000"},
		{`1e2`, "cb4059000000000000"},
		{`18446744073709551616`, "cb43f0000000000000"},
		{`"x"`, "a178"},
		{`[]`, "90"},
		{`{}`, "80"},
		{`[1,"a",null]`, "9301a161c0"},
		{`{"b":1,"a":{"c":[true]}}`, "82a16201a16181a16391c3"},
	} {
		got, err := jsonToMessagePack([]byte(tt.json))
		if !check.True(t, err == nil, "%s: %v", tt.json, err) {
			continue
		}
		check.Equal(t, tt.hex, hex.EncodeToString(got), "%s", tt.json)
	}
}

func TestJSONToMessagePackErrors(t *testing.T) {
	for _, in := range []string{`1e400`, `-1e400`, `[1`, `1 2`, ``} {
		_, err := jsonToMessagePack([]byte(in))
		check.True(t, err != nil, "%q converted without an error", in)
	}
}

// TestJSONToMessagePackDecodes decodes the converted values with
// protocol.MessagePack.Unmarshal.
func TestJSONToMessagePackDecodes(t *testing.T) {
	raw, err := jsonToMessagePack([]byte(`{"n":-7,"big":18446744073709551615,"f":0.25,"s":"é","l":[null,false]}`))
	must.NoError(t, err)
	var got map[string]any
	must.NoError(t, protocol.MessagePack{}.Unmarshal(raw, &got))
	check.Equal(t, int64(-7), got["n"])
	check.Equal(t, uint64(math.MaxUint64), got["big"])
	check.Equal(t, 0.25, got["f"])
	check.Equal(t, "é", got["s"])
	check.Equal(t, []any{nil, false}, got["l"])
}

func TestMessagePackToJSON(t *testing.T) {
	encode := func(v any) string {
		b, err := msgpack.Marshal(v)
		must.NoError(t, err)
		return hex.EncodeToString(b)
	}
	for _, tt := range []struct {
		name, hex, json string
	}{
		{"nil", "c0", `null`},
		{"bool", "c3", `true`},
		{"fixint", "7f", `127`},
		{"negative fixint", "e0", `-32`},
		{"int8", "d080", `-128`},
		{"int64", "d38000000000000000", `-9223372036854775808`},
		{"uint64", "cfffffffffffffffff", `18446744073709551615`},
		{"float64", "cb3ff8000000000000", `1.5`},
		{"integral float64", "cb4000000000000000", `2.0`},
		{"negative zero", "cb8000000000000000", `-0.0`},
		{"small float64", encode(1e-7), `1e-7`},
		{"large float64", encode(1e21), `1e+21`},
		{"float32", encode(float32(0.1)), `0.1`},
		{"NaN", encode(math.NaN()), `"NaN"`},
		{"infinity", encode(math.Inf(1)), `"Infinity"`},
		{"negative infinity", encode(float32(math.Inf(-1))), `"-Infinity"`},
		{"string", encode("a\"b\\c\n\x01<&>é"), `"a\"b\\c\n\u0001<&>é"`},
		{"invalid UTF-8", "a2ff41", `"\ufffdA"`},
		{"line separator", encode("\u2028"), `"\u2028"`},
		{"str8", encode(strings.Repeat("x", 40)), `"` + strings.Repeat("x", 40) + `"`},
		{"binary", "c403010203", `"AQID"`},
		{"array", "9301a161c0", `[1,"a",null]`},
		{"map order", "82a16201a16102", `{"b":1,"a":2}`},
		{"integer key", "8101a178", `{"1":"x"}`},
		{"nil key", "81c001", `{"null":1}`},
		{"binary key", "81c4010001", `{"AA==":1}`},
		{"array key", "81920102c3", `{"[1,2]":true}`},
		{"string key needing escapes", "81a1220a", `{"\"":10}`},
		{"timestamp 32", "d6ff00000001", `"1970-01-01T00:00:01Z"`},
		{"timestamp 64", encode(time.Unix(1700000000, 5).UTC()), `"2023-11-14T22:13:20.000000005Z"`},
		{"timestamp 96", encode(time.Unix(-1, 0).UTC()), `"1969-12-31T23:59:59Z"`},
		{"invalid timestamp", "d5ff0000", `{"extType":-1,"data":"AAA="}`},
		{"timestamp with invalid nanoseconds", "d7ffffffffff00000000", `{"extType":-1,"data":"/////wAAAAA="}`},
		{"other extension", "d40507", `{"extType":5,"data":"Bw=="}`},
		{"ext8", "c7020a0102", `{"extType":10,"data":"AQI="}`},
	} {
		data, err := hex.DecodeString(tt.hex)
		must.NoError(t, err, tt.name)
		got, err := messagePackToJSON(data)
		if !check.True(t, err == nil, "%s: %v", tt.name, err) {
			continue
		}
		check.Equal(t, tt.json, string(got), tt.name)
		check.True(t, json.Valid(got), "%s: invalid JSON %s", tt.name, got)
	}
}

func TestMessagePackToJSONErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, maxValueDepth+1)
	deep = append(deep, 0xc0)
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "unexpected end of data"},
		{"unused byte", []byte{0xc1}, "signalr/protocol: invalid MessagePack at offset 0: byte 0xc1 does not start a value"},
		{"truncated string", []byte{0xa3, 'a'}, "unexpected end of data"},
		{"truncated length", []byte{0xda, 0x01}, "unexpected end of data"},
		{"truncated array", []byte{0x92, 0x01}, "unexpected end of data"},
		{"huge array count", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, "unexpected end of data"},
		{"huge map count", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01}, "unexpected end of data"},
		{"huge extension", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, "unexpected end of data"},
		{"trailing bytes", []byte{0x01, 0x02}, "invalid MessagePack at offset 1: 1 byte after the value"},
		{"deep nesting", deep, "values nest too deeply"},
	} {
		_, err := messagePackToJSON(tt.data)
		if check.True(t, err != nil, "%s: no error", tt.name) {
			check.Contains(t, err.Error(), tt.want, tt.name)
		}
	}
}

// TestMessagePackToJSONRoundTrip converts JSON without integral floats to
// MessagePack and back.
func TestMessagePackToJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"z":[1,-2,3.25,"x",{"k":null}],"a":true,"m":{}}`,
		`[18446744073709551615,-9223372036854775808,1e-7,1e+21]`,
		`"` + strings.Repeat("long ", 20000) + `"`,
	} {
		raw, err := jsonToMessagePack([]byte(in))
		must.NoError(t, err, in)
		out, err := messagePackToJSON(raw)
		must.NoError(t, err, in)
		check.Equal(t, in, string(out))
	}
}

// TestMessagePackToJSONRandom checks that any input either converts to
// valid JSON or fails with an error, and that every value the MessagePack
// library encodes converts.
func TestMessagePackToJSONRandom(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "data")
		if out, err := messagePackToJSON(data); err == nil && !json.Valid(out) {
			t.Fatalf("%x converted to invalid JSON %s", data, out)
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.OneOf(
			rapid.Just[any](nil),
			rapid.Map(rapid.Int64(), func(n int64) any { return n }),
			rapid.Map(rapid.Uint64(), func(n uint64) any { return n }),
			rapid.Map(rapid.Float64(), func(f float64) any { return f }),
			rapid.Map(rapid.Float32(), func(f float32) any { return f }),
			rapid.Map(rapid.String(), func(s string) any { return s }),
			rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) any { return b }),
			rapid.Map(rapid.MapOf(rapid.Int8(), rapid.String()), func(m map[int8]string) any { return m }),
			rapid.Map(rapid.SliceOf(rapid.Bool()), func(b []bool) any { return b }),
		).Draw(t, "value")
		data, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out, err := messagePackToJSON(data)
		if err != nil {
			t.Fatalf("%#v (%x): %v", v, data, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%#v converted to invalid JSON %s", v, out)
		}
	})
}

// invocationFrame returns a framed MessagePack Invocation of Echo with the
// given argument.
func invocationFrame(t *testing.T, arg any) []byte {
	t.Helper()
	raw, err := msgpack.Marshal(arg)
	must.NoError(t, err)
	m := protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Echo", Arguments: []protocol.RawValue{raw}}
	frame, err := protocol.MessagePack{}.AppendMessage(nil, &m)
	must.NoError(t, err)
	return frame
}

// parseFrames parses every framed MessagePack hub message of data and
// returns the first argument of each as JSON.
func parseFrames(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for len(data) > 0 {
		payload, rest, ok := splitBinary(data)
		must.True(t, ok, "incomplete frame %x", data)
		var m protocol.Message
		must.NoError(t, protocol.MessagePack{}.ParseMessage(payload, &m))
		must.True(t, len(m.Arguments) > 0, "no arguments in %x", payload)
		v, err := messagePackToJSON(m.Arguments[0])
		must.NoError(t, err)
		out = append(out, string(v))
		data = rest
	}
	return out
}

func TestRedactBinary(t *testing.T) {
	const secret, short = "tok-secret-1234", "k9x2"
	r := newRedactor()
	r.add(secret)
	r.add(short)

	// The short secret grows from 4 to 10 bytes, so the string grows from
	// a str8 of 104 bytes to a str16 of 260, and its frame's length prefix
	// from 1 byte to 2.
	long := strings.Repeat(short, 26)
	data := append(invocationFrame(t, secret), invocationFrame(t, map[string]any{"token": "Bearer " + secret, secret: []byte(secret)})...)
	data = append(data, invocationFrame(t, long)...)
	data = append(data, invocationFrame(t, "no secret here")...)
	original := bytes.Clone(data)

	got := r.redactBinary(data, false)
	check.Equal(t, original, data, "the input was modified")
	check.True(t, !bytes.Contains(got, []byte(secret)), "the secret is still present")
	args := parseFrames(t, got)
	must.Len(t, args, 4)
	check.Equal(t, `"[REDACTED]"`, args[0])
	check.Contains(t, args[1], `"[REDACTED]":"W1JFREFDVEVEXQ=="`, "map key and binary value")
	check.Contains(t, args[1], `"token":"Bearer [REDACTED]"`)
	check.Equal(t, `"`+strings.Repeat("[REDACTED]", 26)+`"`, args[2])
	check.Equal(t, `"no secret here"`, args[3])
}

func TestRedactBinaryHandshake(t *testing.T) {
	const secret = "tok-secret-1234"
	r := newRedactor()
	r.add(secret)

	handshake := []byte(`{"protocol":"messagepack","version":1}` + "\x1e")
	data := append(bytes.Clone(handshake), invocationFrame(t, secret)...)
	got := r.redactBinary(data, true)
	must.True(t, bytes.HasPrefix(got, handshake), "handshake changed: %q", got)
	check.Equal(t, []string{`"[REDACTED]"`}, parseFrames(t, got[len(handshake):]))

	// Without the handshake flag the JSON text is no valid framing, so the
	// whole message is redacted byte for byte.
	got = r.redactBinary(data, false)
	check.True(t, !bytes.Contains(got, []byte(secret)), "the secret is still present")
}

func TestRedactBinaryFallback(t *testing.T) {
	const secret = "tok-secret-1234"
	r := newRedactor()
	r.add(secret)

	ext, err := hex.DecodeString("c70f05") // ext8 of 15 bytes, type 5
	must.NoError(t, err)
	ext = append(ext, secret...)
	m := protocol.Message{Type: protocol.TypeInvocation, Target: "Echo", Arguments: []protocol.RawValue{ext}}
	frame, err := protocol.MessagePack{}.AppendMessage(nil, &m)
	must.NoError(t, err)
	for name, data := range map[string][]byte{
		"extension":  frame,
		"incomplete": frame[:len(frame)-1],
	} {
		got := r.redactBinary(data, false)
		check.True(t, !bytes.Contains(got, []byte(secret)), "%s: the secret is still present", name)
		check.Contains(t, string(got), redacted, name)
	}
}

func TestSplitBinaryMessage(t *testing.T) {
	frame := invocationFrame(t, 1)
	for _, tt := range []struct {
		name      string
		data      []byte
		handshake bool
		kinds     []int
	}{
		{"one message", frame, false, []int{partHubMessage}},
		{"two messages", append(bytes.Clone(frame), frame...), false, []int{partHubMessage, partHubMessage}},
		{"handshake and message", append([]byte("{}\x1e"), frame...), true, []int{partHandshake, partHubMessage}},
		{"handshake only", []byte("{}\x1e"), true, []int{partHandshake}},
		{"handshake without separator", []byte("{}"), true, []int{partIncomplete}},
		{"partial prefix", []byte{0x80}, false, []int{partIncomplete}},
		{"short payload", frame[:3], false, []int{partIncomplete}},
		{"prefix too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, false, []int{partIncomplete}},
	} {
		var kinds []int
		for _, p := range splitBinaryMessage(tt.data, tt.handshake) {
			kinds = append(kinds, p.kind)
		}
		check.Equal(t, tt.kinds, kinds, tt.name)
	}
}
