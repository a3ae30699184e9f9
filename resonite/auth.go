package resonite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A LoginRequest holds the credentials of [API.Login]. Exactly one of
// Username, Email and OwnerID must be set.
type LoginRequest struct {
	// Username is the user's name. A value that contains '@' is sent as
	// the email instead, as the Dart client ReCon does with its single
	// login field.
	Username string

	// Email is the user's email address.
	Email string

	// OwnerID is the user ID, such as "U-alice".
	OwnerID string

	Password string

	// TOTP is the current code of the user's authenticator app. It is
	// needed only when two-factor authentication is on, and sent in the
	// TOTP header only when it is not empty. Login returns an error
	// matching ErrTOTPRequired when a code is needed.
	TOTP string

	// SecretMachineID identifies the installation. The Resonite wiki
	// suggests a random UUID version 4. When it is empty, Login sends a new
	// random UUID; set it to a stored value to keep it across logins.
	SecretMachineID string

	// RememberMe requests a long-lived token. According to the Resonite
	// wiki, it lasts 30 days.
	RememberMe bool

	// UID is the device identifier sent in the UID header: a SHA-256 in
	// hex, which the wiki recommends deriving from hardware information.
	// It is required. Create one with NewUID or UIDFromSeed and store it,
	// so that every login and extension of the installation sends the same
	// value.
	UID string
}

// NewUID returns a new random device identifier for [LoginRequest.UID]:
// the uppercase hex SHA-256 of 32 random bytes, as several clients of the
// API send. Store it and reuse it for later logins.
func NewUID() string {
	var seed [32]byte
	rand.Read(seed[:]) // crypto/rand.Read never returns an error since Go 1.24
	return uidFromBytes(seed[:])
}

// UIDFromSeed returns the device identifier derived from seed, such as a
// hardware serial number: the uppercase hex SHA-256 of seed.
func UIDFromSeed(seed string) string {
	return uidFromBytes([]byte(seed))
}

func uidFromBytes(b []byte) string {
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hexUpper(out[:], sum[:])
	return string(out[:])
}

// loginBody is the JSON body of POST /userSessions.
type loginBody struct {
	Username        string              `json:"username,omitempty"`
	Email           string              `json:"email,omitempty"`
	OwnerID         string              `json:"ownerId,omitempty"`
	Authentication  loginAuthentication `json:"authentication"`
	SecretMachineID string              `json:"secretMachineId"`
	RememberMe      bool                `json:"rememberMe"`
}

// loginAuthentication is the polymorphic authentication object of a login.
// The server reads the $type discriminator only when it is the first
// property, so it is the first field.
type loginAuthentication struct {
	Type     string `json:"$type"`
	Password string `json:"password"`
}

// loginResponse is the body of a successful POST /userSessions.
type loginResponse struct {
	Entity struct {
		UserID              string `json:"userId"`
		Token               string `json:"token"`
		Created             Time   `json:"created"`
		Expire              Time   `json:"expire"`
		RememberMe          bool   `json:"rememberMe"`
		SecretMachineIDHash string `json:"secretMachineIdHash"`
	} `json:"entity"`
}

// validate checks that r can be sent, without putting any credential into
// the error.
func (r *LoginRequest) validate() error {
	identifiers := 0
	for _, v := range [...]string{r.Username, r.Email, r.OwnerID} {
		if v != "" {
			identifiers++
		}
	}
	switch {
	case identifiers == 0:
		return errors.New("resonite: invalid login request: set one of Username, Email and OwnerID")
	case identifiers > 1:
		return errors.New("resonite: invalid login request: set only one of Username, Email and OwnerID")
	case r.Password == "":
		return errors.New("resonite: invalid login request: Password is empty")
	case r.UID == "":
		return errors.New("resonite: invalid login request: UID is empty; create one with NewUID and store it")
	case !validHeaderValue(r.UID):
		return errors.New("resonite: invalid login request: UID contains characters other than printable ASCII")
	case !validHeaderValue(r.TOTP):
		return errors.New("resonite: invalid login request: TOTP contains characters other than printable ASCII")
	}
	return nil
}

// validHeaderValue reports whether s contains only printable ASCII
// without spaces, which is enough for UIDs and TOTP codes.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Login signs in with POST /userSessions and returns the new session.
//
// A 403 response with the body "TOTP" gives an error matching
// [ErrTOTPRequired], a 400 response one matching [ErrInvalidCredentials],
// and a 429 response a [*RateLimitError]. Other failures give a
// [*StatusError]. No error contains the password, the TOTP code or the
// secret machine ID.
func (a *API) Login(ctx context.Context, lr LoginRequest) (*Session, error) {
	if err := lr.validate(); err != nil {
		return nil, err
	}
	body := loginBody{
		OwnerID:         lr.OwnerID,
		Authentication:  loginAuthentication{Type: "password", Password: lr.Password},
		SecretMachineID: lr.SecretMachineID,
		RememberMe:      lr.RememberMe,
	}
	if body.SecretMachineID == "" {
		body.SecretMachineID = newUUID()
	}
	switch {
	case lr.Email != "":
		body.Email = lr.Email
	case strings.Contains(lr.Username, "@"):
		body.Email = lr.Username
	default:
		body.Username = lr.Username
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("resonite: encoding the login request failed: %w", err)
	}

	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("UID", lr.UID)
	if lr.TOTP != "" {
		header.Set("TOTP", lr.TOTP)
	}
	req := &request{
		method:   http.MethodPost,
		path:     "/userSessions",
		endpoint: "POST /userSessions",
		header:   header,
		body:     data,
		secrets:  secretsOf(lr.Password, lr.TOTP, body.SecretMachineID),
	}
	resp, err := a.send(ctx, req)
	if err != nil {
		return nil, err
	}

	switch {
	case is2xx(resp.statusCode):
	case resp.statusCode == http.StatusForbidden && strings.TrimSpace(string(resp.body)) == "TOTP":
		return nil, a.statusError(req, resp, ErrTOTPRequired)
	case resp.statusCode == http.StatusBadRequest:
		return nil, a.statusError(req, resp, ErrInvalidCredentials)
	default:
		return nil, a.statusError(req, resp, nil)
	}

	var lresp loginResponse
	if err := decodeJSON(req, resp, &lresp); err != nil {
		return nil, err
	}
	entity := &lresp.Entity
	if entity.UserID == "" || entity.Token == "" {
		return nil, fmt.Errorf("resonite: %s: the %d response has no userId or token", req.endpoint, resp.statusCode)
	}
	s := &Session{
		UserID:              entity.UserID,
		Token:               entity.Token,
		Created:             entity.Created.Time,
		Expire:              entity.Expire.Time,
		RememberMe:          entity.RememberMe,
		UID:                 lr.UID,
		SecretMachineIDHash: entity.SecretMachineIDHash,
	}
	a.logger().DebugContext(ctx, "resonite: logged in", "session", s)
	return s, nil
}

// secretsOf returns the strings that errors and logs must not contain:
// each value as it is and, where it differs, as it appears inside a JSON
// string.
func secretsOf(values ...string) []string {
	secrets := make([]string, 0, 2*len(values))
	for _, v := range values {
		if v == "" {
			continue
		}
		secrets = append(secrets, v)
		if quoted, err := json.Marshal(v); err == nil {
			if escaped := string(quoted[1 : len(quoted)-1]); escaped != v {
				secrets = append(secrets, escaped)
			}
		}
	}
	return secrets
}

// authRequest returns a request authenticated as s.
func authRequest(s *Session, method, path, endpoint string) *request {
	header := http.Header{}
	header.Set("Authorization", s.Authorization())
	return &request{
		method:   method,
		path:     path,
		endpoint: endpoint,
		header:   header,
		secrets:  secretsOf(s.Token, s.Authorization()),
	}
}

// Extend extends the lifetime of the session's token with
// PATCH /userSessions. Any 2xx status is success; ReCon expects 204 No
// Content. It also sends the session's UID, as the Dart client ReCon does.
//
// The response carries no new expiry, so Extend leaves s unchanged; see
// [RefresherOptions.Lifetime] for how long the token is assumed to last
// afterwards. A 401 or 403 response gives an error matching
// [ErrSessionExpired], and a 429 response a [*RateLimitError].
func (a *API) Extend(ctx context.Context, s *Session) error {
	req := authRequest(s, http.MethodPatch, "/userSessions", "PATCH /userSessions")
	if s.UID != "" {
		req.header.Set("UID", s.UID)
	}
	resp, err := a.send(ctx, req)
	if err != nil {
		return err
	}
	switch {
	case is2xx(resp.statusCode):
		a.logger().DebugContext(ctx, "resonite: session extended", "user_id", s.UserID)
		return nil
	case resp.statusCode == http.StatusUnauthorized || resp.statusCode == http.StatusForbidden:
		return a.statusError(req, resp, ErrSessionExpired)
	default:
		return a.statusError(req, resp, nil)
	}
}

// Logout revokes the session's token with
// DELETE /userSessions/{userId}/{token}. A 401, 403 or 404 response means
// that the token no longer works, so Logout treats it as success and can be
// called again safely. Other failures give a [*StatusError] or
// [*RateLimitError].
//
// NOTE: The endpoint is disputed. Three clients use this path and expect
// 200, while one client follows the wiki's "Revoking a token" section with
// DELETE /users/{userId}/{token}, and the path has not been checked against
// the live API here.
func (a *API) Logout(ctx context.Context, s *Session) error {
	path := "/userSessions/" + url.PathEscape(s.UserID) + "/" + url.PathEscape(s.Token)
	req := authRequest(s, http.MethodDelete, path, "DELETE /userSessions/{userId}/{token}")
	resp, err := a.send(ctx, req)
	if err != nil {
		return err
	}
	switch resp.statusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		a.logger().DebugContext(ctx, "resonite: session was already logged out", "user_id", s.UserID, "status", resp.statusCode)
		return nil
	}
	if !is2xx(resp.statusCode) {
		return a.statusError(req, resp, nil)
	}
	a.logger().DebugContext(ctx, "resonite: logged out", "user_id", s.UserID)
	return nil
}

// sessionLifetime returns the assumed lifetime of a token after an
// extension. See RefresherOptions.Lifetime.
func sessionLifetime(s *Session) time.Duration {
	if !s.Created.IsZero() && s.Expire.After(s.Created) {
		return s.Expire.Sub(s.Created)
	}
	if s.RememberMe {
		return 30 * 24 * time.Hour
	}
	return 24 * time.Hour
}
