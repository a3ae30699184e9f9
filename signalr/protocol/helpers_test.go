package protocol_test

import (
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

const (
	invocationRecord = `{"type":1,"invocationId":"42","target":"SendMessage","arguments":[1234567,"hello, world",{"id":"U-abc","flags":[true,false,null],"score":3.5e2}]}`
	completionRecord = `{"type":3,"invocationId":"42","result":{"ok":true,"items":[1,2,3],"name":"result"}}`
	pingRecord       = `{"type":6}`
)

// messagePackMessages returns the Invocation, Completion and Ping of the
// JSON allocation tests as MessagePack messages, without their length
// prefixes.
func messagePackMessages(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for name, record := range map[string]string{"Invocation": invocationRecord, "Completion": completionRecord, "Ping": pingRecord} {
		frame := toMessagePack(t, record)
		_, n, _ := protocol.ConsumeVarint(frame)
		out[name] = frame[n:]
	}
	return out
}

// toMessagePack converts a JSON hub message to the same message in the
// MessagePack hub protocol, framed, with each raw value re-encoded.
func toMessagePack(t testing.TB, record string) []byte {
	t.Helper()
	var m protocol.Message
	if err := (protocol.JSON{}).ParseMessage([]byte(record), &m); err != nil {
		t.Fatal(err)
	}
	convert := func(raw protocol.RawValue) protocol.RawValue {
		var v any
		if err := (protocol.JSON{}).Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		out, err := protocol.MessagePack{}.AppendValue(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mp := m.Clone()
	for i, a := range mp.Arguments {
		mp.Arguments[i] = convert(a)
	}
	if mp.HasResult {
		mp.Result = convert(mp.Result)
	}
	frame, err := protocol.MessagePack{}.AppendMessage(nil, mp)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}
