package resonite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// The models decode tolerantly: unknown fields are ignored, optional fields
// are pointers or omitted when empty, and enums and timestamps accept the
// variants described on their types. The API changes without notice, and
// strict decoding has broken other clients.

// A Message is a chat message, sent with the hub's SendMessage and received
// with ReceiveMessage and MessageSent.
type Message struct {
	// ID is "MSG-" plus a random UUID, chosen by the sender. See
	// [NewMessageID].
	ID string `json:"id"`

	// OwnerID is the user whose copy of the message this is. For a sent
	// message it is the sender.
	OwnerID string `json:"ownerId"`

	// SenderID is the sending user. The server requires it to be the
	// authenticated user.
	SenderID string `json:"senderId"`

	// SenderUserSessionID is the user session that sent the message, if
	// known.
	SenderUserSessionID string `json:"senderUserSessionId,omitempty"`

	RecipientID string      `json:"recipientId"`
	MessageType MessageType `json:"messageType"`

	// Content is the text of a MessageText message. For the other types it
	// is a JSON document encoded as a string: a record for MessageObject
	// and MessageSound, a SessionInfo for MessageSessionInvite.
	Content string `json:"content"`

	// SendTime must be within a few seconds of the server's clock.
	SendTime       Time `json:"sendTime"`
	LastUpdateTime Time `json:"lastUpdateTime"`

	// ReadTime is nil while the recipient has not read the message.
	ReadTime *Time `json:"readTime"`

	IsMigrated bool `json:"isMigrated"`
}

// NewMessageID returns a new random message ID: "MSG-" followed by a UUID
// version 4 in lowercase.
func NewMessageID() string {
	return "MSG-" + newUUID()
}

// newUUID returns a random UUID version 4 in its 36-character form.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])         // crypto/rand.Read never returns an error since Go 1.24
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// A UserSessionMetadata describes one world session a user session is in,
// as listed in [UserStatus.Sessions].
type UserSessionMetadata struct {
	// SessionHash identifies the session without revealing its ID. See
	// [SessionHash].
	SessionHash   string             `json:"sessionHash"`
	AccessLevel   SessionAccessLevel `json:"accessLevel"`
	SessionHidden bool               `json:"sessionHidden"`
	IsHost        bool               `json:"isHost"`

	// BroadcastKey, when not empty, subscribes to the session's updates
	// with the hub's ListenOnKey.
	BroadcastKey string `json:"broadcastKey,omitempty"`
}

// SessionHash returns the hash that [UserSessionMetadata.SessionHash] holds
// for the session sessionID of a user whose [UserStatus.HashSalt] is
// hashSalt: the uppercase hex SHA-256 of the UTF-8 bytes of
// sessionID + hashSalt. To find which known session a contact is in, hash
// each session ID with the contact's salt and compare.
func SessionHash(sessionID, hashSalt string) string {
	h := sha256.New()
	h.Write([]byte(sessionID))
	h.Write([]byte(hashSalt))
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hexUpper(out[:], h.Sum(sum[:0]))
	return string(out[:])
}

// hexUpper writes src to dst as uppercase hex. dst must be twice as long.
func hexUpper(dst, src []byte) {
	const digits = "0123456789ABCDEF"
	for i, c := range src {
		dst[2*i] = digits[c>>4]
		dst[2*i+1] = digits[c&0x0f]
	}
}

// A UserStatus is the presence of one user session, sent with the hub's
// BroadcastStatus and received with ReceiveStatusUpdate.
type UserStatus struct {
	UserID string `json:"userId"`

	// UserSessionID is a random UUID that a client chooses once per
	// running instance.
	UserSessionID string          `json:"userSessionId"`
	SessionType   UserSessionType `json:"sessionType"`
	OutputDevice  OutputDevice    `json:"outputDevice"`
	IsMobile      bool            `json:"isMobile"`
	OnlineStatus  OnlineStatus    `json:"onlineStatus"`
	IsPresent     bool            `json:"isPresent"`

	LastPresenceTimestamp *Time `json:"lastPresenceTimestamp,omitempty"`
	LastStatusChange      Time  `json:"lastStatusChange"`

	// HashSalt is the salt of the hashes in Sessions. Received statuses
	// carry it.
	HashSalt string `json:"hashSalt,omitempty"`

	// AppVersion is shown to contacts for ChatClient and Bot sessions.
	AppVersion        string `json:"appVersion,omitempty"`
	CompatibilityHash string `json:"compatibilityHash,omitempty"`

	// PublicRSAKey is the session's public key ({"Exponent", "Modulus"}),
	// kept undecoded.
	PublicRSAKey json.RawMessage `json:"publicRSAKey,omitempty"`

	Sessions []UserSessionMetadata `json:"sessions"`

	// CurrentSessionIndex is the index in Sessions of the session the user
	// is in, or -1 for none.
	CurrentSessionIndex int `json:"currentSessionIndex"`
}

// A SessionInfo describes a world session, as GET /sessions returns it and
// the hub's ReceiveSessionUpdate sends it.
type SessionInfo struct {
	// Name may contain rich-text tags such as <color=red>.
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags"`

	// SessionID is "S-" followed by a UUID, or "S-U-<user>:<name>" for a
	// custom ID.
	SessionID            string    `json:"sessionId"`
	NormalizedSessionID  string    `json:"normalizedSessionId,omitempty"`
	CorrespondingWorldID *RecordID `json:"correspondingWorldId,omitempty"`

	HostUserID        string `json:"hostUserId,omitempty"`
	HostUserSessionID string `json:"hostUserSessionId,omitempty"`
	HostMachineID     string `json:"hostMachineId,omitempty"`
	HostUsername      string `json:"hostUsername,omitempty"`
	HeadlessHost      bool   `json:"headlessHost"`

	CompatibilityHash       string              `json:"compatibilityHash,omitempty"`
	SystemCompatibilityHash string              `json:"systemCompatibilityHash,omitempty"`
	DataModelAssemblies     []DataModelAssembly `json:"dataModelAssemblies,omitempty"`
	UniverseID              string              `json:"universeId,omitempty"`
	AppVersion              string              `json:"appVersion,omitempty"`

	// SessionURLs are the addresses to join, such as "lnl-nat://..." and
	// "res-steam://...".
	SessionURLs      []string `json:"sessionURLs"`
	ParentSessionIDs []string `json:"parentSessionIds,omitempty"`
	NestedSessionIDs []string `json:"nestedSessionIds,omitempty"`

	SessionUsers     []SessionUser `json:"sessionUsers"`
	ThumbnailURL     string        `json:"thumbnailUrl,omitempty"`
	JoinedUsers      int           `json:"joinedUsers"`
	ActiveUsers      int           `json:"activeUsers"`
	TotalJoinedUsers int           `json:"totalJoinedUsers"`
	TotalActiveUsers int           `json:"totalActiveUsers"`
	MaxUsers         int           `json:"maxUsers"`

	MobileFriendly   bool               `json:"mobileFriendly"`
	SessionBeginTime Time               `json:"sessionBeginTime"`
	LastUpdate       Time               `json:"lastUpdate"`
	AccessLevel      SessionAccessLevel `json:"accessLevel"`
	HideFromListing  bool               `json:"hideFromListing"`

	// BroadcastKey, when not empty, subscribes to the session's updates
	// with the hub's ListenOnKey.
	BroadcastKey    string  `json:"broadcastKey,omitempty"`
	AwayKickEnabled bool    `json:"awayKickEnabled"`
	AwayKickMinutes float64 `json:"awayKickMinutes"`
	HasEnded        bool    `json:"hasEnded"`
	IsValid         bool    `json:"isValid"`
}

// A RecordID names a record of the cloud storage.
type RecordID struct {
	RecordID string `json:"recordId"`
	OwnerID  string `json:"ownerId"`
}

// A DataModelAssembly is one entry of [SessionInfo.DataModelAssemblies].
type DataModelAssembly struct {
	Name              string `json:"name"`
	CompatibilityHash string `json:"compatibilityHash"`
}

// A SessionUser is a user in a session, as listed in
// [SessionInfo.SessionUsers].
type SessionUser struct {
	Username string `json:"username"`

	// UserID has the JSON name "userID", with a capital D, unlike the other
	// models. Decoding matches either spelling.
	UserID        string `json:"userID"`
	UserSessionID string `json:"userSessionId,omitempty"`
	IsPresent     bool   `json:"isPresent"`

	// OutputDevice is nil when the server sends null. The server sends it
	// as a number, which decodes to the named value.
	OutputDevice *OutputDevice `json:"outputDevice"`
}

// A Contact is an entry of a user's contact list, as GET
// /users/{userId}/contacts and the hub's InitializeStatus return it and the
// hub's UpdateContact takes it.
type Contact struct {
	// ID is the contact's user ID.
	ID string `json:"id"`

	// OwnerID is the user whose list holds the contact.
	OwnerID         string        `json:"ownerId"`
	ContactUsername string        `json:"contactUsername"`
	ContactStatus   ContactStatus `json:"contactStatus"`
	IsAccepted      bool          `json:"isAccepted"`
	Profile         *Profile      `json:"profile,omitempty"`

	// LatestMessageTime is the zero time when there was no message.
	LatestMessageTime     Time     `json:"latestMessageTime"`
	IsMigrated            bool     `json:"isMigrated"`
	IsCounterpartMigrated bool     `json:"isCounterpartMigrated"`
	AlternateUsernames    []string `json:"alternateUsernames,omitempty"`

	// UserStatus is embedded in the contacts that InitializeStatus
	// returns, and nil elsewhere.
	UserStatus *UserStatus `json:"userStatus,omitempty"`
}

// A Profile is the public profile of a user.
type Profile struct {
	IconURL     string `json:"iconUrl,omitempty"`
	Tagline     string `json:"tagline,omitempty"`
	Description string `json:"description,omitempty"`

	// DisplayBadges are kept undecoded because their shape is not
	// documented.
	DisplayBadges []json.RawMessage `json:"displayBadges,omitempty"`
}

// A BroadcastTarget selects the receivers of the hub's BroadcastStatus.
// Group 1 with nil TargetIDs sends to all contacts; other groups are not
// documented.
type BroadcastTarget struct {
	Group     int      `json:"group"`
	TargetIDs []string `json:"targetIds"`
}

// BroadcastToContacts sends a status to all contacts.
var BroadcastToContacts = BroadcastTarget{Group: 1}

// A ReadReceipt is the argument of the hub's MarkMessagesRead.
type ReadReceipt struct {
	// SenderID is the other user, whose messages were read.
	SenderID string   `json:"senderId"`
	IDs      []string `json:"ids"`
	ReadTime Time     `json:"readTime"`
}

// A MessagesRead is the argument of the hub's MessagesRead event: the
// recipient read the listed messages.
type MessagesRead struct {
	RecipientID string   `json:"recipientId"`
	IDs         []string `json:"ids"`
	ReadTime    *Time    `json:"readTime,omitempty"`
}
