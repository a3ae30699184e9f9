package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func TestCompleteMessageFields(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	arg := protocol.RawValue(`{"RecipientID":"U-bob","CONTENT":"hi","id":"MSG-1","mood":"happy"}`)
	out, id, unknown, err := completeMessage(arg, "U-alice", now)
	must.NoError(t, err)
	check.Equal(t, "MSG-1", id)
	check.Equal(t, []string{"mood"}, unknown)

	var fields map[string]json.RawMessage
	must.NoError(t, json.Unmarshal(out, &fields))
	check.Equal(t, `"U-bob"`, string(fields["recipientId"]), "recipientId spelled as the hub spells it")
	check.Equal(t, `"hi"`, string(fields["content"]), "content spelled as the hub spells it")
	check.Equal(t, `"happy"`, string(fields["mood"]), "the unknown field is sent as given")
	check.Equal(t, `"U-alice"`, string(fields["senderId"]))
	check.Equal(t, `"Text"`, string(fields["messageType"]))
	_, ok := fields["RecipientID"]
	check.True(t, !ok, "the given spelling is sent too")
}

func TestCompleteMessageTextContent(t *testing.T) {
	for _, tt := range []struct {
		arg, err string
	}{
		{`{"recipientId":"U-bob"}`, `the Text message has no "content"`},
		{`{"recipientId":"U-bob","content":null}`, `the Text message has no "content"`},
		{`{"recipientId":"U-bob","contents":"hi"}`, `check the unknown field names ["contents"]`},
		{`{"recipientId":"U-bob","content":""}`, `the "content" of the Text message is empty`},
		{`{"recipientId":"U-bob","content":42}`, `the "content" of a Text message must be a JSON string, not a JSON number`},
		{`{"recipientId":"U-bob","content":["hi"]}`, `must be a JSON string, not a JSON array`},
		{`{"recipientId":"U-bob","messageType":"text"}`, `the Text message has no "content"`},
		{`{"recipientId":"U-bob","content":"a","Content":"b"}`, `the message has both "Content" and "content", which the hub takes as the same field`},
	} {
		_, _, _, err := completeMessage(protocol.RawValue(tt.arg), "U-alice", time.Now())
		if check.True(t, err != nil, "%s: no error", tt.arg) {
			check.Contains(t, err.Error(), tt.err, "%s", tt.arg)
		}
	}

	// Other message types carry a JSON document in content, or none.
	_, _, _, err := completeMessage(protocol.RawValue(`{"recipientId":"U-bob","messageType":"InviteRequest"}`), "U-alice", time.Now())
	check.NoError(t, err, "InviteRequest without content")
}
