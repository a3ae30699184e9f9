package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// messageFields are the JSON names of the fields of resonite.Message.
var messageFields = []string{
	"id", "ownerId", "senderId", "senderUserSessionId", "recipientId", "messageType",
	"content", "sendTime", "lastUpdateTime", "readTime", "isMigrated",
}

// completeMessage fills in the missing fields of arg, the JSON object of a
// SendMessage, as resonite.Hub.SendMessage does, and returns it with its
// message ID and the names of the fields it does not recognize. Field names
// match without regard to case, as the hub matches them, and are sent in
// their usual spelling. Fields that arg has stay as they are, and unknown
// ones are sent unchanged. A Text message needs a non-empty "content". An
// argument that is not a JSON object is returned unchanged, with no ID.
func completeMessage(arg protocol.RawValue, userID string, now time.Time) (protocol.RawValue, string, []string, error) {
	if len(arg) == 0 || arg[0] != '{' {
		return arg, "", nil, nil
	}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(arg, &given); err != nil {
		return nil, "", nil, err
	}
	fields, unknown, err := canonicalFields(given)
	if err != nil {
		return nil, "", nil, err
	}
	if _, ok := fields["recipientId"]; !ok {
		return nil, "", nil, errors.New(`the message has no "recipientId"; give the user ID of the recipient, such as {"recipientId":"U-bob","content":"hello"}`)
	}
	setDefault := func(key string, value any) {
		if raw, ok := fields[key]; ok && string(raw) != `""` {
			return
		}
		encoded, _ := json.Marshal(value)
		fields[key] = encoded
	}
	setDefault("id", resonite.NewMessageID())
	setDefault("senderId", userID)
	fields["ownerId"] = firstPresent(fields, "ownerId", fields["senderId"])
	setDefault("messageType", resonite.MessageText)
	setDefault("sendTime", resonite.NewTime(now))
	fields["lastUpdateTime"] = firstPresent(fields, "lastUpdateTime", fields["sendTime"])
	setDefault("readTime", nil)
	setDefault("isMigrated", false)

	if err := checkTextContent(fields, unknown); err != nil {
		return nil, "", nil, err
	}
	var id string
	if err := json.Unmarshal(fields["id"], &id); err != nil {
		return nil, "", nil, fmt.Errorf(`"id" must be a string: %v`, err)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, "", nil, err
	}
	return protocol.RawValue(out), id, unknown, nil
}

// canonicalFields returns given with each known field name spelled as in
// messageFields, and the sorted names of the unknown fields. Two names of
// one known field that differ only in case are an error, because the hub
// would take one of them and drop the other.
func canonicalFields(given map[string]json.RawMessage) (map[string]json.RawMessage, []string, error) {
	fields := make(map[string]json.RawMessage, len(given))
	spelling := make(map[string]string, len(given)) // canonical name to given name
	var unknown []string
	for name, value := range given {
		i := slices.IndexFunc(messageFields, func(known string) bool { return strings.EqualFold(name, known) })
		if i < 0 {
			unknown = append(unknown, name)
			fields[name] = value
			continue
		}
		key := messageFields[i]
		if other, ok := spelling[key]; ok {
			return nil, nil, fmt.Errorf("the message has both %q and %q, which the hub takes as the same field; keep one", min(other, name), max(other, name))
		}
		spelling[key] = name
		fields[key] = value
	}
	slices.Sort(unknown)
	return fields, unknown, nil
}

// checkTextContent returns an error when fields is a Text message whose
// "content" is missing, null, empty or not a string. unknown are the
// unknown field names, shown as the likely cause of a missing content.
func checkTextContent(fields map[string]json.RawMessage, unknown []string) error {
	var messageType string
	if json.Unmarshal(fields["messageType"], &messageType) != nil || !strings.EqualFold(messageType, string(resonite.MessageText)) {
		// NOTE: a messageType given as a number is not checked, because
		// the numeric values of the service's enum are not documented here.
		return nil
	}
	raw, ok := fields["content"]
	var content string
	switch {
	case !ok || string(raw) == "null":
		msg := `the Text message has no "content"; give its text, such as {"recipientId":"U-bob","content":"hello"}`
		if len(unknown) > 0 {
			msg += fmt.Sprintf(", and check the unknown field names %q", unknown)
		}
		return errors.New(msg)
	case json.Unmarshal(raw, &content) != nil:
		kind := "a JSON array"
		if raw[0] != '[' {
			kind = jsonKind(raw[0])
		}
		return fmt.Errorf(`the "content" of a Text message must be a JSON string, not %s`, kind)
	case content == "":
		return errors.New(`the "content" of the Text message is empty; give its text, such as {"recipientId":"U-bob","content":"hello"}`)
	}
	return nil
}

// firstPresent returns fields[key] when it is set and not an empty string,
// and otherwise fallback.
func firstPresent(fields map[string]json.RawMessage, key string, fallback json.RawMessage) json.RawMessage {
	if raw, ok := fields[key]; ok && string(raw) != `""` {
		return raw
	}
	return fallback
}
