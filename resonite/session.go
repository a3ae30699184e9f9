package resonite

import (
	"fmt"
	"log/slog"
	"time"
)

// A Session is a signed-in user session, as [API.Login] returns it. The
// Token is a secret: the String, Format and LogValue methods leave it out,
// so printing or logging a Session does not reveal it. Encoding a Session
// as JSON includes the Token, so that callers can store the session and
// reuse it; store it like a password.
type Session struct {
	// UserID is the signed-in user, "U-" followed by the user's ID. It is
	// not the username.
	UserID string `json:"userId"`

	// Token authenticates requests together with UserID.
	Token string `json:"token"`

	// Created is when the server created the session.
	Created time.Time `json:"created"`

	// Expire is when the token stops working, as the login reported it.
	// [API.Extend] leaves it unchanged, because the server does not return
	// the new value; [Refresher.Expire] tracks the assumed one.
	Expire time.Time `json:"expire"`

	// RememberMe is the rememberMe flag of the login, which selects the
	// longer token lifetime.
	RememberMe bool `json:"rememberMe"`

	// UID is the device identifier the login sent in its UID header.
	// [API.Extend] sends it again.
	UID string `json:"uid,omitempty"`

	// SecretMachineIDHash is the hash of the login's secretMachineId that
	// the server returned. Clients use it as the machine ID of
	// POST /stats/instanceOnline/{machineId}.
	SecretMachineIDHash string `json:"secretMachineIdHash,omitempty"`
}

// Authorization returns the value of the Authorization header for s:
// "res <userId>:<token>". The value contains the token, so it must not be
// logged.
func (s *Session) Authorization() string {
	return "res " + s.UserID + ":" + s.Token
}

// String describes s without its token.
func (s Session) String() string {
	return fmt.Sprintf("resonite.Session{UserID: %q, Expire: %s, RememberMe: %t}",
		s.UserID, s.Expire.Format(time.RFC3339), s.RememberMe)
}

// Format writes [Session.String] for every verb, so that no fmt verb prints
// the token.
func (s Session) Format(f fmt.State, verb rune) {
	f.Write([]byte(s.String()))
}

// LogValue returns the user ID and expiry of s for log/slog, without the
// token.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user_id", s.UserID),
		slog.Time("expire", s.Expire),
		slog.Bool("remember_me", s.RememberMe),
	)
}
