package resonite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The enum types below are strings on the wire. Their UnmarshalJSON methods
// accept the name in any letter case, and store the canonical spelling, so
// that comparisons with the constants work. Some of them also accept a JSON
// number, by the numbering their documentation gives. A string or number the
// package does not know is kept as it is (a number as its decimal text)
// instead of failing, so that values added to the API later do not break
// decoding. Their MarshalJSON methods always write the string, because the
// server treats numbers differently: a status sent as the number 1 instead of
// "Invisible" bypasses its invisible filtering.

// A MessageType is the kind of a [Message]. Numbers are not accepted when
// decoding, because the server's numbering is unknown.
type MessageType string

// Message types.
const (
	MessageText           MessageType = "Text"
	MessageObject         MessageType = "Object"
	MessageSound          MessageType = "Sound"
	MessageSessionInvite  MessageType = "SessionInvite"
	MessageInviteRequest  MessageType = "InviteRequest"
	MessageCreditTransfer MessageType = "CreditTransfer"
	MessageSugarCubes     MessageType = "SugarCubes"
)

var messageTypeNames = enumNames{
	names: []string{"Text", "Object", "Sound", "SessionInvite", "InviteRequest", "CreditTransfer", "SugarCubes"},
}

// MarshalJSON writes t as a JSON string.
func (t MessageType) MarshalJSON() ([]byte, error) { return marshalEnum(string(t)) }

// UnmarshalJSON decodes a JSON string. An unknown name is kept as it is.
func (t *MessageType) UnmarshalJSON(data []byte) error {
	return messageTypeNames.decode(data, "MessageType", (*string)(t))
}

// An OnlineStatus is the presence a user shows to contacts. Decoding accepts
// the numbers 0 to 5 in the order of the constants, as the Rust and Dart
// clients of the API number them.
type OnlineStatus string

// Online statuses.
const (
	StatusOffline   OnlineStatus = "Offline"
	StatusInvisible OnlineStatus = "Invisible"
	StatusAway      OnlineStatus = "Away"
	StatusBusy      OnlineStatus = "Busy"
	StatusOnline    OnlineStatus = "Online"
	StatusSociable  OnlineStatus = "Sociable"
)

var onlineStatusNames = enumNames{
	names:    []string{"Offline", "Invisible", "Away", "Busy", "Online", "Sociable"},
	numbered: true,
}

// MarshalJSON writes s as a JSON string, never as a number.
func (s OnlineStatus) MarshalJSON() ([]byte, error) { return marshalEnum(string(s)) }

// UnmarshalJSON decodes a JSON string or number.
func (s *OnlineStatus) UnmarshalJSON(data []byte) error {
	return onlineStatusNames.decode(data, "OnlineStatus", (*string)(s))
}

// A UserSessionType is the kind of program behind a user session. Decoding
// accepts the numbers 0 to 4 in the order of the constants.
type UserSessionType string

// User session types. Since Resonite 2024.7.19 contacts see the statuses of
// ChatClient and Bot sessions as "Chat client: <appVersion>".
const (
	SessionTypeUnknown         UserSessionType = "Unknown"
	SessionTypeGraphicalClient UserSessionType = "GraphicalClient"
	SessionTypeChatClient      UserSessionType = "ChatClient"
	SessionTypeHeadless        UserSessionType = "Headless"
	SessionTypeBot             UserSessionType = "Bot"
)

var userSessionTypeNames = enumNames{
	names:    []string{"Unknown", "GraphicalClient", "ChatClient", "Headless", "Bot"},
	numbered: true,
}

// MarshalJSON writes t as a JSON string.
func (t UserSessionType) MarshalJSON() ([]byte, error) { return marshalEnum(string(t)) }

// UnmarshalJSON decodes a JSON string or number.
func (t *UserSessionType) UnmarshalJSON(data []byte) error {
	return userSessionTypeNames.decode(data, "UserSessionType", (*string)(t))
}

// An OutputDevice is the display a user session runs on. Decoding accepts the
// numbers 0 to 3 in the order of the constants; session user lists carry
// numbers.
type OutputDevice string

// Output devices.
const (
	OutputUnknown OutputDevice = "Unknown"
	OutputScreen  OutputDevice = "Screen"
	OutputVR      OutputDevice = "VR"
	OutputCamera  OutputDevice = "Camera"
)

var outputDeviceNames = enumNames{
	names:    []string{"Unknown", "Screen", "VR", "Camera"},
	numbered: true,
}

// MarshalJSON writes d as a JSON string.
func (d OutputDevice) MarshalJSON() ([]byte, error) { return marshalEnum(string(d)) }

// UnmarshalJSON decodes a JSON string or number.
func (d *OutputDevice) UnmarshalJSON(data []byte) error {
	return outputDeviceNames.decode(data, "OutputDevice", (*string)(d))
}

// A SessionAccessLevel is the rule for who may join a session. Decoding accepts the
// numbers 0 to 5 in the order of the constants, and the older names
// "Friends" and "FriendsOfFriends" for Contacts and ContactsPlus.
type SessionAccessLevel string

// Session access levels.
const (
	AccessPrivate         SessionAccessLevel = "Private"
	AccessLAN             SessionAccessLevel = "LAN"
	AccessContacts        SessionAccessLevel = "Contacts"
	AccessContactsPlus    SessionAccessLevel = "ContactsPlus"
	AccessRegisteredUsers SessionAccessLevel = "RegisteredUsers"
	AccessAnyone          SessionAccessLevel = "Anyone"
)

var accessLevelNames = enumNames{
	names:    []string{"Private", "LAN", "Contacts", "ContactsPlus", "RegisteredUsers", "Anyone"},
	numbered: true,
	aliases:  map[string]string{"friends": "Contacts", "friendsoffriends": "ContactsPlus"},
}

// MarshalJSON writes l as a JSON string.
func (l SessionAccessLevel) MarshalJSON() ([]byte, error) { return marshalEnum(string(l)) }

// UnmarshalJSON decodes a JSON string or number.
func (l *SessionAccessLevel) UnmarshalJSON(data []byte) error {
	return accessLevelNames.decode(data, "SessionAccessLevel", (*string)(l))
}

// A ContactStatus is the state of a contact relation.
//
// The numbering is disputed between clients, and the server sends strings.
// Decoding accepts the numbers 0 to 5 in the order of the constants, which
// is the order of the Dart client ReCon and of the FriendStatus enum of
// NeosVR. The Rust crate resonite numbers them differently (Accepted is 1
// there), so a number from a source that follows it decodes wrongly.
type ContactStatus string

// Contact statuses.
const (
	ContactNone         ContactStatus = "None"
	ContactSearchResult ContactStatus = "SearchResult"
	ContactRequested    ContactStatus = "Requested"
	ContactIgnored      ContactStatus = "Ignored"
	ContactBlocked      ContactStatus = "Blocked"
	ContactAccepted     ContactStatus = "Accepted"
)

var contactStatusNames = enumNames{
	names:    []string{"None", "SearchResult", "Requested", "Ignored", "Blocked", "Accepted"},
	numbered: true,
}

// MarshalJSON writes s as a JSON string.
func (s ContactStatus) MarshalJSON() ([]byte, error) { return marshalEnum(string(s)) }

// UnmarshalJSON decodes a JSON string or number.
func (s *ContactStatus) UnmarshalJSON(data []byte) error {
	return contactStatusNames.decode(data, "ContactStatus", (*string)(s))
}

// enumNames describes the values of one enum type for decoding.
type enumNames struct {
	names    []string          // canonical spellings, in numeric order
	numbered bool              // JSON numbers index names
	aliases  map[string]string // lowercase old name to canonical name
}

// decode stores the value of the JSON string or number data in dst. JSON
// null leaves dst unchanged, as encoding/json does for strings.
func (e *enumNames) decode(data []byte, typeName string, dst *string) error {
	if len(data) == 0 {
		return fmt.Errorf("resonite: invalid %s: empty JSON value", typeName)
	}
	switch c := data[0]; {
	case c == 'n' && string(data) == "null":
		return nil
	case c == '"':
		s, err := unquote(data)
		if err != nil {
			return fmt.Errorf("resonite: invalid %s: %w", typeName, err)
		}
		*dst = e.canonical(s)
		return nil
	case c == '-' || c >= '0' && c <= '9':
		if !e.numbered {
			*dst = string(data)
			return nil
		}
		n, err := strconv.Atoi(string(data))
		if err == nil && n >= 0 && n < len(e.names) {
			*dst = e.names[n]
		} else {
			*dst = string(data)
		}
		return nil
	default:
		return fmt.Errorf("resonite: invalid %s: JSON value %.20q is neither a string nor a number", typeName, data)
	}
}

// canonical returns the canonical spelling of s, or s itself when s names
// no known value.
func (e *enumNames) canonical(s string) string {
	for _, name := range e.names {
		if strings.EqualFold(s, name) {
			return name
		}
	}
	if name, ok := e.aliases[strings.ToLower(s)]; ok {
		return name
	}
	return s
}

// unquote decodes the JSON string data, taking the fast path when it has no
// escapes.
func unquote(data []byte) (string, error) {
	if len(data) >= 2 && data[len(data)-1] == '"' {
		inner := data[1 : len(data)-1]
		if !strings.ContainsAny(string(inner), "\\\"") {
			return string(inner), nil
		}
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return "", err
	}
	return s, nil
}

func marshalEnum(s string) ([]byte, error) {
	return json.Marshal(s)
}
