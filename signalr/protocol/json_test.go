package protocol_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func parse(t *testing.T, record string) *protocol.Message {
	t.Helper()
	m := new(protocol.Message)
	if err := (protocol.JSON{}).ParseMessage([]byte(record), m); err != nil {
		t.Fatalf("ParseMessage(%q): %v", record, err)
	}
	return m
}

func TestParseErrorOffsets(t *testing.T) {
	for _, tt := range []struct {
		record   string
		sentinel error
		offset   int
		property string
	}{
		{`{"type":1,"target":42,"arguments":[]}`, protocol.ErrWrongType, 19, "target"},
		{`{"type":"1"}`, protocol.ErrWrongType, 8, "type"},
		{`{"type":1.5}`, protocol.ErrWrongType, 8, "type"},
		{`{"type":2,"invocationId":"1"}`, protocol.ErrMissingProperty, 29, "item"},
		{`{"type":1,"target":"x","arguments":[1,]}`, protocol.ErrInvalidJSON, 38, ""},
		{`{"type":3,"invocationId":"1","result":1,"error":"e"}`, protocol.ErrInvalidMessage, 48, ""},
		{`{"type":1,"headers":{"a":1},"target":"x","arguments":[]}`, protocol.ErrWrongType, 25, "headers"},
		{`{"type":7,"allowReconnect":"yes"}`, protocol.ErrWrongType, 27, "allowReconnect"},
		{`{"type":8,"sequenceId":1e3}`, protocol.ErrWrongType, 23, "sequenceId"},
		{`{"type":6} x`, protocol.ErrInvalidJSON, 11, ""},
		{`{"type":6,"x":"a` + "\x01" + `"}`, protocol.ErrInvalidJSON, 16, ""},
		{`{"type":6,"x":"\q"}`, protocol.ErrInvalidJSON, 15, ""},
		{`{"type":6,"x":tru}`, protocol.ErrInvalidJSON, 14, ""},
		{`   `, protocol.ErrInvalidJSON, 3, ""},
	} {
		var m protocol.Message
		err := protocol.JSON{}.ParseMessage([]byte(tt.record), &m)
		if !errors.Is(err, tt.sentinel) {
			t.Errorf("ParseMessage(%q) = %v; want %v", tt.record, err, tt.sentinel)
			continue
		}
		var me *protocol.MessageError
		if !errors.As(err, &me) {
			t.Errorf("ParseMessage(%q) error %T is not a *MessageError", tt.record, err)
			continue
		}
		if me.Offset != tt.offset {
			t.Errorf("ParseMessage(%q) offset = %d; want %d (%v)", tt.record, me.Offset, tt.offset, err)
		}
		if me.Property != tt.property {
			t.Errorf("ParseMessage(%q) property = %q; want %q", tt.record, me.Property, tt.property)
		}
	}
}

func TestParseNestingLimit(t *testing.T) {
	deep := `{"type":2,"invocationId":"1","item":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`
	var m protocol.Message
	if err := (protocol.JSON{}).ParseMessage([]byte(deep), &m); !errors.Is(err, protocol.ErrInvalidJSON) {
		t.Errorf("ParseMessage(10001 nested arrays) = %v; want ErrInvalidJSON", err)
	}
	ok := `{"type":2,"invocationId":"1","item":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`
	if err := (protocol.JSON{}).ParseMessage([]byte(ok), &m); err != nil {
		t.Errorf("ParseMessage(9999 nested arrays) = %v; want success", err)
	}
}

func TestParseUnescapes(t *testing.T) {
	m := parse(t, `{"t\u0079pe":1,"target":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x","arguments":["\u0041"]}`)
	if want := "a\"b\\c/d\b\f\n\r\té😀\uFFFDx"; m.Target != want {
		t.Errorf("Target = %q; want %q", m.Target, want)
	}
	if got := string(m.Arguments[0]); got != `"\u0041"` {
		t.Errorf("Arguments[0] = %s; want the raw bytes %s", got, `"\u0041"`)
	}
}

func TestParseUnknownTypeIgnored(t *testing.T) {
	m := parse(t, `{"type":99,"target":"x","whatever":[1,2]}`)
	if m.Type != 99 || m.Type.IsKnown() {
		t.Errorf("Type = %v; want unknown type 99", m.Type)
	}
	if m.Target != "" {
		t.Errorf("Target = %q; want it cleared for an unknown type", m.Target)
	}
}

func TestParseUnusedFieldsCleared(t *testing.T) {
	m := parse(t, `{"type":3,"target":"x","arguments":[1],"item":2,"invocationId":"1","allowReconnect":true,"sequenceId":5}`)
	if m.Target != "" || len(m.Arguments) != 0 || m.Item != nil || m.AllowReconnect || m.SequenceID != 0 {
		t.Errorf("Completion kept fields of other types: %+v", m)
	}
	if m.HasResult || m.HasError {
		t.Errorf("void Completion has HasResult %v, HasError %v; want neither", m.HasResult, m.HasError)
	}
}

func TestParseRepeatedHeaderKeepsLast(t *testing.T) {
	m := parse(t, `{"type":5,"invocationId":"1","headers":{"a":"1","b":"2","a":"3"}}`)
	if v, _ := m.Header("a"); v != "3" || len(m.Headers) != 2 {
		t.Errorf("headers = %v; want a=3 and b=2", m.Headers)
	}
}

func TestMessageAliasesInput(t *testing.T) {
	data := []byte(`{"type":1,"target":"abc","arguments":[1]}`)
	m := parse(t, string(data))
	var m2 protocol.Message
	if err := (protocol.JSON{}).ParseMessage(data, &m2); err != nil {
		t.Fatal(err)
	}
	clone := m2.Clone()
	copy(data[20:], "xyz")
	if m2.Target != "xyz" {
		t.Errorf("Target = %q after changing the input; want it to alias the input", m2.Target)
	}
	if clone.Target != "abc" {
		t.Errorf("clone Target = %q; want %q unaffected by the input", clone.Target, "abc")
	}
	if m.Target != "abc" {
		t.Errorf("message parsed from a copy changed: %q", m.Target)
	}
}

func TestAppendMessageRejectsInvalid(t *testing.T) {
	for _, m := range []*protocol.Message{
		{Type: 42},
		{Type: protocol.TypeInvocation},
		{Type: protocol.TypeStreamItem},
		{Type: protocol.TypeStreamInvocation, Target: "x"},
		{Type: protocol.TypeCompletion, InvocationID: "1", HasError: true, HasResult: true},
	} {
		buf := []byte("keep")
		got, err := protocol.JSON{}.AppendMessage(buf, m)
		if !errors.Is(err, protocol.ErrInvalidMessage) {
			t.Errorf("AppendMessage(%+v) error = %v; want ErrInvalidMessage", m, err)
		}
		if string(got) != "keep" {
			t.Errorf("AppendMessage(%+v) changed dst to %q", m, got)
		}
	}
}

func TestAppendMessageEscapes(t *testing.T) {
	m := &protocol.Message{
		Type:         protocol.TypeInvocation,
		Target:       "a\"\\\x01\x7f<é\xff",
		InvocationID: "1",
		Arguments:    []protocol.RawValue{nil},
	}
	got, err := protocol.JSON{}.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"type\":1,\"invocationId\":\"1\",\"target\":\"a\\\"\\\\\\u0001\\u007F<é\uFFFD\",\"arguments\":[null]}\x1e"
	if string(got) != want {
		t.Errorf("AppendMessage = %q; want %q", got, want)
	}
}

func TestAppendValue(t *testing.T) {
	got, err := protocol.JSON{}.AppendValue([]byte("x"), map[string]string{"a": "<b>"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `x{"a":"<b>"}`; string(got) != want {
		t.Errorf("AppendValue = %s; want %s", got, want)
	}
}

func TestFramerMaxMessageSize(t *testing.T) {
	f := protocol.Framer{MaxMessageSize: 8}
	if err := f.Feed([]byte("12345678\x1e123")); err != nil {
		t.Fatal(err)
	}
	if p, err := f.Next(); err != nil || string(p) != "12345678" {
		t.Fatalf("Next = %q, %v; want the 8-byte record", p, err)
	}
	if p, err := f.Next(); p != nil || err != nil {
		t.Fatalf("Next = %q, %v; want nothing yet", p, err)
	}
	if err := f.Feed([]byte("456789")); err != nil {
		t.Fatal(err)
	}
	_, err := f.Next()
	if !errors.Is(err, protocol.ErrMessageTooLarge) {
		t.Fatalf("Next after 9 bytes without a separator = %v; want ErrMessageTooLarge", err)
	}
	if err2 := f.Feed([]byte("\x1e")); err2 != err {
		t.Errorf("Feed after an error = %v; want the same error", err2)
	}

	b := protocol.Framer{Format: protocol.TransferFormatBinary, MaxMessageSize: 8}
	if err := b.Feed([]byte{9}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Next(); !errors.Is(err, protocol.ErrMessageTooLarge) {
		t.Errorf("binary Next with a 9-byte prefix = %v; want ErrMessageTooLarge before the body arrives", err)
	}
}

func TestFramerKeepsTailAcrossFeeds(t *testing.T) {
	var f protocol.Framer
	chunk := []byte(`{"a":1}` + "\x1e" + `{"b"`)
	if err := f.Feed(chunk); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for p, _ := f.Next(); p != nil; p, _ = f.Next() {
		got = append(got, bytes.Clone(p))
	}
	copy(chunk, "XXXXXXXXXXXX") // the caller reuses its buffer
	if err := f.Feed([]byte(":2}\x1e")); err != nil {
		t.Fatal(err)
	}
	for p, _ := f.Next(); p != nil; p, _ = f.Next() {
		got = append(got, bytes.Clone(p))
	}
	if len(got) != 2 || string(got[0]) != `{"a":1}` || string(got[1]) != `{"b":2}` {
		t.Errorf("records = %q; want {\"a\":1} and {\"b\":2}", got)
	}
}

func TestMessageTypeString(t *testing.T) {
	for typ, want := range map[protocol.MessageType]string{
		protocol.TypeInvocation: "Invocation",
		protocol.TypeSequence:   "Sequence",
		0:                       "MessageType(0)",
		-3:                      "MessageType(-3)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("MessageType(%d).String() = %q; want %q", int(typ), got, want)
		}
	}
}

func TestHandshakeResponseErrors(t *testing.T) {
	for _, tt := range []struct {
		record   string
		sentinel error
	}{
		{`{"error":null}`, protocol.ErrWrongType},
		{`{"type":6}`, protocol.ErrNotHandshakeResponse},
		{`{"error":"x"} y`, protocol.ErrInvalidJSON},
		{`{`, protocol.ErrInvalidJSON},
	} {
		if _, err := protocol.ParseHandshakeResponse([]byte(tt.record)); !errors.Is(err, tt.sentinel) {
			t.Errorf("ParseHandshakeResponse(%q) = %v; want %v", tt.record, err, tt.sentinel)
		}
	}
}
