package resonite

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEnumDecodeStrings(t *testing.T) {
	tests := []struct {
		in   string
		want OnlineStatus
	}{
		{`"Online"`, StatusOnline},
		{`"online"`, StatusOnline},
		{`"INVISIBLE"`, StatusInvisible},
		{`"Sociable"`, StatusSociable},
		{`"Dancing"`, "Dancing"},
		{`""`, ""},
		{`"On\u006cine"`, StatusOnline},
	}
	for _, tt := range tests {
		var got OnlineStatus
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Unmarshal(%s) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnumDecodeNumbers(t *testing.T) {
	type enums struct {
		Online  OnlineStatus       `json:"online"`
		Type    UserSessionType    `json:"type"`
		Output  OutputDevice       `json:"output"`
		Access  SessionAccessLevel `json:"access"`
		Contact ContactStatus      `json:"contact"`
		Message MessageType        `json:"message"`
	}
	tests := []struct {
		in   string
		want enums
	}{
		{
			`{"online":0,"type":0,"output":0,"access":0,"contact":0,"message":0}`,
			enums{StatusOffline, SessionTypeUnknown, OutputUnknown, AccessPrivate, ContactNone, "0"},
		},
		{
			`{"online":1,"type":2,"output":2,"access":3,"contact":5,"message":1}`,
			enums{StatusInvisible, SessionTypeChatClient, OutputVR, AccessContactsPlus, ContactAccepted, "1"},
		},
		{
			`{"online":5,"type":4,"output":3,"access":5,"contact":1}`,
			enums{Online: StatusSociable, Type: SessionTypeBot, Output: OutputCamera, Access: AccessAnyone, Contact: ContactSearchResult},
		},
		{
			// Numbers out of range are kept as their text.
			`{"online":6,"type":-1,"output":40,"access":6,"contact":6}`,
			enums{Online: "6", Type: "-1", Output: "40", Access: "6", Contact: "6"},
		},
		{
			`{"online":1.5}`,
			enums{Online: "1.5"},
		},
	}
	for _, tt := range tests {
		var got enums
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Unmarshal(%s) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestEnumDecodeAliases(t *testing.T) {
	for in, want := range map[string]SessionAccessLevel{
		`"Friends"`:          AccessContacts,
		`"friendsOfFriends"`: AccessContactsPlus,
		`"registeredusers"`:  AccessRegisteredUsers,
		`"lan"`:              AccessLAN,
	} {
		var got SessionAccessLevel
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", in, err)
		} else if got != want {
			t.Errorf("Unmarshal(%s) = %q; want %q", in, got, want)
		}
	}
}

func TestEnumDecodeNull(t *testing.T) {
	got := StatusBusy
	if err := json.Unmarshal([]byte(`null`), &got); err != nil {
		t.Fatal(err)
	}
	if got != StatusBusy {
		t.Errorf("null changed the value to %q", got)
	}
}

func TestEnumDecodeWrongType(t *testing.T) {
	for _, in := range []string{`true`, `{}`, `[1]`} {
		var got ContactStatus
		err := json.Unmarshal([]byte(in), &got)
		if err == nil {
			t.Errorf("Unmarshal(%s) succeeded with %q; want an error", in, got)
		}
	}
}

func TestEnumEncodeStrings(t *testing.T) {
	v := struct {
		A OnlineStatus       `json:"a"`
		B UserSessionType    `json:"b"`
		C OutputDevice       `json:"c"`
		D SessionAccessLevel `json:"d"`
		E ContactStatus      `json:"e"`
		F MessageType        `json:"f"`
	}{StatusInvisible, SessionTypeBot, OutputScreen, AccessLAN, ContactBlocked, MessageSessionInvite}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"Invisible","b":"Bot","c":"Screen","d":"LAN","e":"Blocked","f":"SessionInvite"}`
	if string(got) != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
}

func TestTimeDecode(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2025-07-29T18:36:13.264859"`, time.Date(2025, 7, 29, 18, 36, 13, 264859000, time.UTC)},
		{`"2025-07-29T18:36:13"`, time.Date(2025, 7, 29, 18, 36, 13, 0, time.UTC)},
		{`"2025-07-29T18:36:13Z"`, time.Date(2025, 7, 29, 18, 36, 13, 0, time.UTC)},
		{`"2025-07-29T18:36:13.1Z"`, time.Date(2025, 7, 29, 18, 36, 13, 100000000, time.UTC)},
		{`"2025-07-29T18:36:13.1234567Z"`, time.Date(2025, 7, 29, 18, 36, 13, 123456700, time.UTC)},
		{`"2025-07-29T18:36:13.123456789123Z"`, time.Date(2025, 7, 29, 18, 36, 13, 123456789, time.UTC)},
		{`"2025-07-29T20:36:13.5+02:00"`, time.Date(2025, 7, 29, 18, 36, 13, 500000000, time.UTC)},
		{`"2025-07-29T18:36:13+0000"`, time.Date(2025, 7, 29, 18, 36, 13, 0, time.UTC)},
		{`"0001-01-01T00:00:00"`, time.Time{}},
		{`""`, time.Time{}},
		{`null`, time.Time{}},
	}
	for _, tt := range tests {
		var got Time
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("Unmarshal(%s) = %v; want %v", tt.in, got.Time, tt.want)
		}
	}
}

func TestTimeDecodeZeroIsZero(t *testing.T) {
	var got Time
	if err := json.Unmarshal([]byte(`"0001-01-01T00:00:00"`), &got); err != nil {
		t.Fatal(err)
	}
	if !got.IsZero() {
		t.Errorf("IsZero() = false for %v", got.Time)
	}
}

func TestTimeDecodeInvalid(t *testing.T) {
	for _, in := range []string{`"yesterday"`, `"2025-13-01T00:00:00Z"`, `12`, `true`} {
		var got Time
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %v; want an error", in, got.Time)
		}
	}
}

func TestTimeEncode(t *testing.T) {
	zone := time.FixedZone("CEST", 2*60*60)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 1, 13, 12, 0, 0, 123456789, zone), `"2024-01-13T10:00:00.123Z"`},
		{time.Date(2024, 1, 13, 10, 0, 0, 0, time.UTC), `"2024-01-13T10:00:00.000Z"`},
		{time.Time{}, `"0001-01-01T00:00:00.000Z"`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(NewTime(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	pattern := regexp.MustCompile(`^MSG-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 100 {
		id := NewMessageID()
		if !pattern.MatchString(id) {
			t.Fatalf("NewMessageID() = %q; want MSG- and a lowercase UUID version 4", id)
		}
		if seen[id] {
			t.Fatalf("NewMessageID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSessionHash(t *testing.T) {
	sessionID := "S-3f1e6c2a-8d3b-4c55-9a0e-7d2b1c4e5f60"
	salt := "NbW0dtvC8A9pT6Jm"
	sum := sha256.Sum256([]byte(sessionID + salt))
	want := strings.ToUpper(fmt.Sprintf("%x", sum))
	if got := SessionHash(sessionID, salt); got != want {
		t.Errorf("SessionHash = %s; want %s", got, want)
	}
	// sha256("abc"), from FIPS 180-2 appendix B.1.
	const abc = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
	if got := SessionHash("ab", "c"); got != abc {
		t.Errorf(`SessionHash("ab", "c") = %s; want %s`, got, abc)
	}
	// Non-ASCII IDs hash their UTF-8 bytes.
	sum = sha256.Sum256([]byte("S-U-Bob:Café" + "ß"))
	if got, want := SessionHash("S-U-Bob:Café", "ß"), strings.ToUpper(fmt.Sprintf("%x", sum)); got != want {
		t.Errorf("SessionHash of UTF-8 = %s; want %s", got, want)
	}
}

func TestMessageDecode(t *testing.T) {
	in := `{
		"id": "MSG-7b0e3f4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
		"ownerId": "U-alice",
		"recipientId": "U-alice",
		"senderId": "U-bob",
		"senderUserSessionId": null,
		"messageType": "Text",
		"content": "hello",
		"sendTime": "2025-07-29T18:36:13.264859",
		"lastUpdateTime": "2025-07-29T18:36:13.2648591Z",
		"readTime": null,
		"isMigrated": false,
		"otherId": "U-bob",
		"someFutureField": {"nested": [1, 2, 3]}
	}`
	var m Message
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != "MSG-7b0e3f4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b" {
		t.Errorf("ID = %q", m.ID)
	}
	if m.SenderID != "U-bob" || m.OwnerID != "U-alice" || m.RecipientID != "U-alice" {
		t.Errorf("IDs = %q, %q, %q", m.SenderID, m.OwnerID, m.RecipientID)
	}
	if m.MessageType != MessageText {
		t.Errorf("MessageType = %q", m.MessageType)
	}
	if m.Content != "hello" {
		t.Errorf("Content = %q", m.Content)
	}
	if want := time.Date(2025, 7, 29, 18, 36, 13, 264859000, time.UTC); !m.SendTime.Equal(want) {
		t.Errorf("SendTime = %v; want %v", m.SendTime.Time, want)
	}
	if m.ReadTime != nil {
		t.Errorf("ReadTime = %v; want nil", m.ReadTime)
	}
}

func TestMessageEncode(t *testing.T) {
	send := time.Date(2024, 1, 13, 10, 0, 0, 0, time.UTC)
	m := Message{
		ID:             "MSG-00000000-0000-4000-8000-000000000000",
		OwnerID:        "U-bob",
		SenderID:       "U-bob",
		RecipientID:    "U-alice",
		MessageType:    MessageText,
		Content:        "hi",
		SendTime:       NewTime(send),
		LastUpdateTime: NewTime(send),
	}
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"MSG-00000000-0000-4000-8000-000000000000","ownerId":"U-bob","senderId":"U-bob",` +
		`"recipientId":"U-alice","messageType":"Text","content":"hi",` +
		`"sendTime":"2024-01-13T10:00:00.000Z","lastUpdateTime":"2024-01-13T10:00:00.000Z",` +
		`"readTime":null,"isMigrated":false}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

func TestUserStatusEncode(t *testing.T) {
	change := time.Date(2024, 1, 13, 10, 0, 0, 0, time.UTC)
	s := UserStatus{
		UserID:                "U-bot",
		UserSessionID:         "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
		SessionType:           SessionTypeBot,
		OutputDevice:          OutputUnknown,
		OnlineStatus:          StatusInvisible,
		IsPresent:             true,
		LastPresenceTimestamp: &Time{change},
		LastStatusChange:      NewTime(change),
		AppVersion:            "hubwire",
		CompatibilityHash:     "hubwire",
		Sessions:              []UserSessionMetadata{},
		CurrentSessionIndex:   -1,
	}
	got, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"userId":"U-bot","userSessionId":"6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",` +
		`"sessionType":"Bot","outputDevice":"Unknown","isMobile":false,"onlineStatus":"Invisible",` +
		`"isPresent":true,"lastPresenceTimestamp":"2024-01-13T10:00:00.000Z",` +
		`"lastStatusChange":"2024-01-13T10:00:00.000Z","appVersion":"hubwire","compatibilityHash":"hubwire",` +
		`"sessions":[],"currentSessionIndex":-1}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(string(got), "$type") {
		t.Errorf("Marshal wrote a $type discriminator: %s", got)
	}
}

func TestUserStatusDecode(t *testing.T) {
	in := `{
		"userId": "U-alice",
		"userSessionId": "0d6c5e2f-1b3a-4c4d-9e8f-0a1b2c3d4e5f",
		"sessionType": "GraphicalClient",
		"outputDevice": 2,
		"isMobile": false,
		"onlineStatus": "Online",
		"isPresent": true,
		"lastPresenceTimestamp": "2025-07-29T18:36:13.264859",
		"lastStatusChange": "2025-07-29T18:30:00Z",
		"hashSalt": "salt",
		"appVersion": "2025.7.29.1",
		"compatibilityHash": "abc",
		"publicRSAKey": {"Exponent": "AQAB", "Modulus": "xyz"},
		"sessions": [
			{"sessionHash": "ABC", "accessLevel": "Contacts", "sessionHidden": false, "isHost": true, "broadcastKey": null},
			{"sessionHash": "DEF", "accessLevel": 5, "sessionHidden": true, "isHost": false, "broadcastKey": "key"}
		],
		"currentSessionIndex": 0,
		"newField": 1
	}`
	var s UserStatus
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if s.OutputDevice != OutputVR {
		t.Errorf("OutputDevice = %q; want VR", s.OutputDevice)
	}
	if s.SessionType != SessionTypeGraphicalClient || s.OnlineStatus != StatusOnline {
		t.Errorf("SessionType, OnlineStatus = %q, %q", s.SessionType, s.OnlineStatus)
	}
	if s.LastPresenceTimestamp == nil || s.LastPresenceTimestamp.Nanosecond() != 264859000 {
		t.Errorf("LastPresenceTimestamp = %v", s.LastPresenceTimestamp)
	}
	if len(s.Sessions) != 2 {
		t.Fatalf("len(Sessions) = %d; want 2", len(s.Sessions))
	}
	if s.Sessions[0].BroadcastKey != "" || s.Sessions[1].BroadcastKey != "key" {
		t.Errorf("BroadcastKeys = %q, %q", s.Sessions[0].BroadcastKey, s.Sessions[1].BroadcastKey)
	}
	if s.Sessions[1].AccessLevel != AccessAnyone {
		t.Errorf("Sessions[1].AccessLevel = %q; want Anyone", s.Sessions[1].AccessLevel)
	}
	if string(s.PublicRSAKey) != `{"Exponent": "AQAB", "Modulus": "xyz"}` {
		t.Errorf("PublicRSAKey = %s", s.PublicRSAKey)
	}
}

func TestSessionInfoDecode(t *testing.T) {
	in := `{
		"name": "<color=red>Party</color>",
		"description": null,
		"correspondingWorldId": {"recordId": "R-1", "ownerId": "U-host"},
		"tags": ["a", "b"],
		"sessionId": "S-U-host:party",
		"normalizedSessionId": "s-u-host:party",
		"hostUserId": "U-host",
		"hostMachineId": "m",
		"hostUsername": "Host",
		"compatibilityHash": "c",
		"systemCompatibilityHash": "sc",
		"dataModelAssemblies": [{"name": "FrooxEngine", "compatibilityHash": "x"}],
		"universeId": null,
		"appVersion": "2025.1.1",
		"headlessHost": true,
		"sessionURLs": ["lnl-nat://abc/S-U-host:party"],
		"parentSessionIds": [],
		"nestedSessionIds": [],
		"sessionUsers": [
			{"username": "Host", "userID": "U-host", "isPresent": true, "outputDevice": 1},
			{"username": "Guest", "userId": "U-guest", "isPresent": false, "outputDevice": null}
		],
		"thumbnailUrl": "https://assets.example/thumb.webp",
		"joinedUsers": 2, "activeUsers": 1, "totalJoinedUsers": 3, "totalActiveUsers": 2, "maxUsers": 16,
		"mobileFriendly": false,
		"sessionBeginTime": "2025-01-01T00:00:00.1234567Z",
		"lastUpdate": "2025-01-01T01:00:00",
		"accessLevel": "Anyone",
		"hideFromListing": false,
		"broadcastKey": "bk",
		"awayKickEnabled": true,
		"awayKickMinutes": 5.5,
		"hasEnded": false,
		"isValid": true,
		"futureField": "x"
	}`

	var s SessionInfo
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}

	if s.SessionID != "S-U-host:party" || s.Name != "<color=red>Party</color>" {
		t.Errorf("SessionID, Name = %q, %q", s.SessionID, s.Name)
	}
	if s.CorrespondingWorldID == nil || s.CorrespondingWorldID.RecordID != "R-1" {
		t.Errorf("CorrespondingWorldID = %+v", s.CorrespondingWorldID)
	}

	if len(s.SessionUsers) != 2 {
		t.Fatalf("len(SessionUsers) = %d; want 2", len(s.SessionUsers))
	}
	host, guest := s.SessionUsers[0], s.SessionUsers[1]
	if host.UserID != "U-host" || guest.UserID != "U-guest" {
		t.Errorf("UserIDs = %q, %q", host.UserID, guest.UserID)
	}
	if host.OutputDevice == nil || *host.OutputDevice != OutputScreen {
		t.Errorf("host OutputDevice = %v; want Screen", host.OutputDevice)
	}
	if guest.OutputDevice != nil {
		t.Errorf("guest OutputDevice = %v; want nil", *guest.OutputDevice)
	}

	if s.AccessLevel != AccessAnyone || s.MaxUsers != 16 || s.AwayKickMinutes != 5.5 || !s.IsValid {
		t.Errorf("AccessLevel, MaxUsers, AwayKickMinutes, IsValid = %q, %d, %v, %t",
			s.AccessLevel, s.MaxUsers, s.AwayKickMinutes, s.IsValid)
	}
	if s.LastUpdate.Hour() != 1 || s.LastUpdate.Location() != time.UTC {
		t.Errorf("LastUpdate = %v", s.LastUpdate.Time)
	}
}

func TestSessionUserEncode(t *testing.T) {
	vr := OutputVR
	got, err := json.Marshal(SessionUser{Username: "A", UserID: "U-a", OutputDevice: &vr})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"username":"A","userID":"U-a","isPresent":false,"outputDevice":"VR"}`
	if string(got) != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
}

func TestContactDecode(t *testing.T) {
	in := `{
		"id": "U-bob",
		"ownerId": "U-alice",
		"contactUsername": "Bob",
		"contactStatus": "accepted",
		"isAccepted": true,
		"profile": {"iconUrl": "resdb:///abc.webp", "displayBadges": [{"$type": "badge"}]},
		"latestMessageTime": "0001-01-01T00:00:00",
		"isMigrated": true,
		"isCounterpartMigrated": false,
		"alternateUsernames": null,
		"userStatus": {"userId": "U-bob", "onlineStatus": "Away", "sessions": [], "currentSessionIndex": -1}
	}`
	var c Contact
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.ContactStatus != ContactAccepted {
		t.Errorf("ContactStatus = %q; want Accepted", c.ContactStatus)
	}
	if !c.LatestMessageTime.IsZero() {
		t.Errorf("LatestMessageTime = %v; want zero", c.LatestMessageTime.Time)
	}
	if c.Profile == nil || c.Profile.IconURL != "resdb:///abc.webp" || len(c.Profile.DisplayBadges) != 1 {
		t.Errorf("Profile = %+v", c.Profile)
	}
	if c.UserStatus == nil || c.UserStatus.OnlineStatus != StatusAway || c.UserStatus.CurrentSessionIndex != -1 {
		t.Errorf("UserStatus = %+v", c.UserStatus)
	}
}

func TestContactEncode(t *testing.T) {
	c := Contact{ID: "U-bob", OwnerID: "U-alice", ContactUsername: "Bob", ContactStatus: ContactAccepted, IsAccepted: true}
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"U-bob","ownerId":"U-alice","contactUsername":"Bob","contactStatus":"Accepted",` +
		`"isAccepted":true,"latestMessageTime":"0001-01-01T00:00:00.000Z","isMigrated":false,"isCounterpartMigrated":false}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

func TestBroadcastToContactsEncode(t *testing.T) {
	got, err := json.Marshal(BroadcastToContacts)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"group":1,"targetIds":null}`; string(got) != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
}

func TestReadReceiptEncode(t *testing.T) {
	r := ReadReceipt{SenderID: "U-bob", IDs: []string{"MSG-1"}, ReadTime: NewTime(time.Date(2024, 1, 13, 10, 0, 0, 0, time.UTC))}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"senderId":"U-bob","ids":["MSG-1"],"readTime":"2024-01-13T10:00:00.000Z"}`; string(got) != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
}

func TestMessagesReadDecode(t *testing.T) {
	var m MessagesRead
	if err := json.Unmarshal([]byte(`{"recipientId":"U-bob","ids":["MSG-1","MSG-2"],"readTime":"2024-01-13T10:00:00"}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.RecipientID != "U-bob" || len(m.IDs) != 2 || m.ReadTime == nil {
		t.Errorf("MessagesRead = %+v", m)
	}
}

func TestSessionHidesToken(t *testing.T) {
	const token = "tok-SECRET-1234"
	s := Session{UserID: "U-alice", Token: token, Expire: time.Date(2024, 1, 14, 0, 0, 0, 0, time.UTC)}
	if got, want := s.Authorization(), "res U-alice:"+token; got != want {
		t.Errorf("Authorization() = %q; want %q", got, want)
	}
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("session", "session", s, "pointer", &s)
	outputs := map[string]string{
		"String": s.String(),
		"%v":     fmt.Sprintf("%v", s),
		"%+v":    fmt.Sprintf("%+v", s),
		"%#v":    fmt.Sprintf("%#v", s),
		"%s":     fmt.Sprintf("%s", &s),
		"%d":     fmt.Sprintf("%d", s),
		"nested": fmt.Sprintf("%+v", struct{ S Session }{s}),
		"slog":   logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, token) {
			t.Errorf("%s output contains the token: %s", name, out)
		}
		if !strings.Contains(out, "U-alice") {
			t.Errorf("%s output lacks the user ID: %s", name, out)
		}
	}
}
