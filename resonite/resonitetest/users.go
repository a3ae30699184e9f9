package resonitetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// A User is an account of the fake server.
type User struct {
	// ID is the user ID, such as "U-alice".
	ID string

	// Username and Email identify the user at login, compared without
	// regard to letter case.
	Username string
	Email    string
	Password string

	// TOTP, when set, is the code the user's logins must send in the TOTP
	// header, as if two-factor authentication were on.
	TOTP string
}

// AddUser adds an account, replacing one with the same ID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.users {
		if old.ID == u.ID {
			s.users[i] = &u
			return
		}
	}
	s.users = append(s.users, &u)
}

// User returns the account with the given ID.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByID(id); u != nil {
		return *u, true
	}
	return User{}, false
}

// userByID returns the user with the given ID, or nil. s.mu must be held.
func (s *Server) userByID(id string) *User {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// A restHandler handles a REST request whose body has been read.
type restHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// rest wraps h with what every REST endpoint does: it reads the body,
// records the request, responds with a failure that RateLimit or FailNext
// queued, and logs the outcome.
func (s *Server) rest(h restHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil || len(body) > maxRequestBody {
			http.Error(w, "Invalid request body", http.StatusBadRequest)
			return
		}

		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method,
			Path:   r.URL.Path,
			Header: r.Header.Clone(),
			Body:   body,
		})
		var forced *failure
		if len(s.failures) > 0 {
			forced = &s.failures[0]
			s.failures = s.failures[1:]
		}
		s.mu.Unlock()

		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if forced != nil {
			for key, values := range forced.header {
				rec.Header()[key] = values
			}
			writeText(rec, forced.status, forced.body)
		} else {
			h(rec, r, body)
		}
		// r.Pattern leaves out the path values, which can contain a token.
		s.opts.Logger.Debug("resonitetest: request", "pattern", r.Pattern, "status", rec.status)
	}
}

// statusRecorder remembers the status code of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, text)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(data)
}

// dotnetTime formats t as the .NET server does, with seven fractional
// digits, so that clients parse the server's form.
func dotnetTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

// handleLogin serves POST /userSessions.
//
// Some checks are the fake's own, because no client has reported what the
// real server does in these cases. The fake returns 400 for a missing UID
// header or secretMachineId, 400 when $type is not the first property of
// authentication, and 415 for a Content-Type other than application/json.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, body []byte) {
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/json" {
		writeText(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	uid := r.Header.Get("UID")
	if uid == "" {
		writeText(w, http.StatusBadRequest, "UID header is missing")
		return
	}
	login, problem := parseLogin(body)
	if problem != "" {
		writeText(w, http.StatusBadRequest, problem)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.findUser(login)
	if u == nil || u.Password != login.password {
		writeText(w, http.StatusBadRequest, "Invalid credentials")
		return
	}
	if u.TOTP != "" && r.Header.Get("TOTP") != u.TOTP {
		writeText(w, http.StatusForbidden, "TOTP")
		return
	}

	now := s.opts.Now()
	tok := newToken()
	t := &token{userID: u.ID, rememberMe: login.rememberMe, expire: now.Add(s.lifetime(login.rememberMe))}
	s.tokens[tok] = t
	s.logins++

	machineSalt, uidSalt := newToken(), newToken()
	writeJSON(w, http.StatusOK, map[string]any{
		"entity": map[string]any{
			"userId":              u.ID,
			"token":               tok,
			"created":             dotnetTime(now),
			"expire":              dotnetTime(t.expire),
			"rememberMe":          login.rememberMe,
			"secretMachineIdHash": saltedHash(login.secretMachineID, machineSalt),
			"secretMachineIdSalt": machineSalt,
			"uidHash":             saltedHash(uid, uidSalt),
			"uidSalt":             uidSalt,
			"originalLoginType":   "Password",
			"originalLoginId":     u.ID,
			"isMachineBound":      false,
			"logoutUrlClientSide": false,
			"sessionLoginCounter": 0,
		},
		"configFiles": nil,
	})
}

func (s *Server) lifetime(rememberMe bool) time.Duration {
	if rememberMe {
		return s.opts.RememberMeLifetime
	}
	return s.opts.TokenLifetime
}

func saltedHash(value, salt string) string {
	sum := sha256.Sum256([]byte(value + salt))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// loginRequest is the parsed body of POST /userSessions.
type loginRequest struct {
	field           string // "username", "email" or "ownerid"
	identifier      string
	password        string
	secretMachineID string
	rememberMe      bool
}

// parseLogin parses a login body. It returns a description of the problem
// when the body is invalid. Property names match without regard to letter
// case, as in the .NET JSON reader.
func parseLogin(body []byte) (loginRequest, string) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(body, &props); err != nil {
		return loginRequest{}, "Invalid request body"
	}
	var login loginRequest
	var auth json.RawMessage
	for name, value := range props {
		switch key := strings.ToLower(name); key {
		case "username", "email", "ownerid":
			if login.field != "" {
				return loginRequest{}, "Only one of username, email and ownerId may be set"
			}
			login.field = key
			if json.Unmarshal(value, &login.identifier) != nil {
				return loginRequest{}, "Invalid " + name
			}
		case "authentication":
			auth = value
		case "secretmachineid":
			if json.Unmarshal(value, &login.secretMachineID) != nil {
				return loginRequest{}, "Invalid secretMachineId"
			}
		case "rememberme":
			if json.Unmarshal(value, &login.rememberMe) != nil {
				return loginRequest{}, "Invalid rememberMe"
			}
		}
	}
	switch {
	case login.field == "" || login.identifier == "":
		return loginRequest{}, "One of username, email and ownerId is required"
	case login.secretMachineID == "":
		return loginRequest{}, "secretMachineId is required"
	case auth == nil:
		return loginRequest{}, "authentication is required"
	}

	// The polymorphic reader of the server needs $type as the first
	// property.
	dec := json.NewDecoder(bytes.NewReader(auth))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return loginRequest{}, "authentication must be an object"
	}
	if tok, err := dec.Token(); err != nil || tok != "$type" {
		return loginRequest{}, "authentication must start with $type"
	}
	var fields struct {
		Type     string `json:"$type"`
		Password string `json:"password"`
	}
	if json.Unmarshal(auth, &fields) != nil || fields.Type != "password" {
		return loginRequest{}, "Unsupported authentication type"
	}
	login.password = fields.Password
	return login, ""
}

// findUser returns the user a login names, or nil. s.mu must be held.
func (s *Server) findUser(login loginRequest) *User {
	for _, u := range s.users {
		switch login.field {
		case "username":
			if strings.EqualFold(u.Username, login.identifier) {
				return u
			}
		case "email":
			if u.Email != "" && strings.EqualFold(u.Email, login.identifier) {
				return u
			}
		case "ownerid":
			if u.ID == login.identifier {
				return u
			}
		}
	}
	return nil
}

// authenticate checks the Authorization header of r. It responds with 401
// when the header is missing or malformed and 403 when the token is not
// live, and then returns "". s.mu must be held.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (userID, tok string) {
	userID, tok, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return "", ""
	}
	t := s.liveToken(tok)
	if t == nil || t.userID != userID {
		writeText(w, http.StatusForbidden, "Forbidden")
		return "", ""
	}
	return userID, tok
}

// handleExtend serves PATCH /userSessions: it moves the expiry of the
// caller's token to now plus the lifetime and responds 204 No Content.
func (s *Server) handleExtend(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	userID, tok := s.authenticate(w, r)
	if userID == "" {
		return
	}
	t := s.tokens[tok]
	t.expire = s.opts.Now().Add(s.lifetime(t.rememberMe))
	s.extends++
	w.WriteHeader(http.StatusNoContent)
}

// handleLogout serves DELETE /userSessions/{userId}/{token}. It responds
// 404 when the token in the path is not live, and 403 when the
// Authorization header does not authenticate its user.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, ok := parseAuthorization(r.Header.Get("Authorization")); !ok {
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	pathUser, pathToken := r.PathValue("userId"), r.PathValue("token")
	if t := s.liveToken(pathToken); t == nil || t.userID != pathUser {
		writeText(w, http.StatusNotFound, "Not Found")
		return
	}
	userID, _ := s.authenticate(w, r)
	if userID == "" {
		return
	}
	if userID != pathUser {
		writeText(w, http.StatusForbidden, "Forbidden")
		return
	}
	delete(s.tokens, pathToken)
	w.WriteHeader(http.StatusOK)
}

// handleUser serves GET /users/{userId}, with byUsername=true looking the
// user up by name. It needs no Authorization.
func (s *Server) handleUser(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.PathValue("userId")
	var u *User
	if r.URL.Query().Get("byUsername") == "true" {
		for _, candidate := range s.users {
			if strings.EqualFold(candidate.Username, key) {
				u = candidate
				break
			}
		}
	} else {
		u = s.userByID(key)
	}
	if u == nil {
		writeText(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                 u.ID,
		"username":           u.Username,
		"normalizedUsername": strings.ToLower(u.Username),
		"registrationDate":   dotnetTime(time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC)),
		"isVerified":         true,
		"isLocked":           false,
	})
}
