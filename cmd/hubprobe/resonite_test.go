package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
)

// Accounts of the fake service in the resonite tests. carol has
// two-factor authentication on.
const (
	alicePassword = "alice-test-password"
	bobPassword   = "bob-test-password"
	carolPassword = "carol-test-password"
	carolTOTP     = "135790"
)

// A resoniteFixture is a fake of the Resonite cloud on 127.0.0.1 and a
// configuration directory of its own for the hubprobe processes.
type resoniteFixture struct {
	srv       *resonitetest.Server
	configDir string
}

func newResoniteFixture(t *testing.T) *resoniteFixture {
	t.Helper()
	srv := resonitetest.NewServer(resonitetest.Options{Users: []resonitetest.User{
		{ID: "U-alice", Username: "alice", Password: alicePassword},
		{ID: "U-bob", Username: "bob", Password: bobPassword},
		{ID: "U-carol", Username: "carol", Password: carolPassword, TOTP: carolTOTP},
	}})
	t.Cleanup(srv.Close)
	srv.AddContact("U-alice", "U-bob")
	return &resoniteFixture{srv: srv, configDir: t.TempDir()}
}

// env returns the environment of a hubprobe process: the fixture's
// configuration directory, no inherited credentials, and then extra.
func (f *resoniteFixture) env(extra ...string) []string {
	env := []string{
		"XDG_CONFIG_HOME=" + f.configDir,
		"HOME=" + f.configDir,
		"RESONITE_USERNAME=", "RESONITE_EMAIL=", "RESONITE_PASSWORD=", "RESONITE_TOTP=",
	}
	return append(env, extra...)
}

// sessionPath returns the default session file of the fixture's
// configuration directory.
func (f *resoniteFixture) sessionPath() string {
	return filepath.Join(f.configDir, "hubwire", "resonite-session.json")
}

// login signs alice in and returns her stored session.
func (f *resoniteFixture) login(t *testing.T) *storedSession {
	t.Helper()
	r := runProbe(t, f.env("RESONITE_USERNAME=alice", "RESONITE_PASSWORD="+alicePassword), "resonite", "login", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "login: %s", r.stderr)
	return f.readSession(t)
}

func (f *resoniteFixture) readSession(t *testing.T) *storedSession {
	t.Helper()
	data, err := os.ReadFile(f.sessionPath())
	must.NoError(t, err)
	var s storedSession
	must.NoError(t, json.Unmarshal(data, &s))
	return &s
}

// checkNoSecrets requires that the output of r contains none of secrets.
func checkNoSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		check.NotContains(t, r.stdout, s, "stdout shows a secret")
		check.NotContains(t, r.stderr, s, "stderr shows a secret")
	}
}

// sessionSecrets returns the secrets of a stored session.
func sessionSecrets(s *storedSession) []string {
	return []string{s.Token, s.Authorization(), s.SecretMachineID}
}

func TestResoniteLoginWritesPrivateFile(t *testing.T) {
	f := newResoniteFixture(t)
	env := f.env("RESONITE_USERNAME=alice", "RESONITE_PASSWORD="+alicePassword)
	r := runProbe(t, env, "resonite", "login", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "logged in as alice (U-alice) at "+f.srv.URL+"\n")
	check.True(t, regexp.MustCompile(`(?m)^the session token expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in 2[34]h`).MatchString(r.stdout), "stdout: %s", r.stdout)
	check.Contains(t, r.stdout, "saved the session to "+f.sessionPath()+" (mode 0600)")
	check.Equal(t, "", r.stderr)

	info, err := os.Stat(f.sessionPath())
	must.NoError(t, err)
	check.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "session file mode")
	dirInfo, err := os.Stat(filepath.Dir(f.sessionPath()))
	must.NoError(t, err)
	check.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm(), "directory mode")
	deviceInfo, err := os.Stat(filepath.Join(filepath.Dir(f.sessionPath()), "resonite-device.json"))
	must.NoError(t, err)
	check.Equal(t, os.FileMode(0o600), deviceInfo.Mode().Perm(), "device file mode")

	stored := f.readSession(t)
	check.Equal(t, "U-alice", stored.UserID)
	check.Equal(t, f.srv.URL, stored.API)
	check.Equal(t, "alice", stored.Username)
	check.NotEqual(t, "", stored.UID, "UID")
	check.NotEqual(t, "", stored.SecretMachineID, "secretMachineId")
	expire, ok := f.srv.TokenExpire(stored.Token)
	must.True(t, ok, "the stored token is not one the server issued")
	// The server writes the expiry with 100 ns resolution, as .NET does.
	check.True(t, expire.Sub(stored.Expire).Abs() < time.Microsecond, "stored expiry %v, server's %v", stored.Expire, expire)
	checkNoSecrets(t, r, append(sessionSecrets(stored), alicePassword)...)

	// A second login, traced with -v, sends the same device identifiers.
	r = runProbe(t, env, "resonite", "login", "-v", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	second := f.readSession(t)
	check.Equal(t, stored.UID, second.UID, "UID of the second login")
	check.Equal(t, stored.SecretMachineID, second.SecretMachineID, "secretMachineId of the second login")
	check.NotEqual(t, stored.Token, second.Token, "token of the second login")
	var uids []string
	for _, req := range f.srv.Requests() {
		if req.Method == "POST" && req.Path == "/userSessions" {
			uids = append(uids, req.Header.Get("UID"))
		}
	}
	check.Equal(t, []string{stored.UID, stored.UID}, uids, "UID headers of the logins")

	check.Contains(t, r.stderr, "> POST "+f.srv.URL+"/userSessions")
	check.Contains(t, r.stderr, `"password":"[REDACTED]"`)
	check.Contains(t, r.stderr, `"token":"[REDACTED]"`)
	check.Contains(t, r.stderr, `"secretMachineId":"[REDACTED]"`)
	checkNoSecrets(t, r, append(sessionSecrets(second), alicePassword)...)

	// The second login revoked the token of the first.
	check.Contains(t, r.stdout, "revoked the previous session token, which the session file contained\n")
	check.Contains(t, r.stderr, "> DELETE "+f.srv.URL+"/userSessions/U-alice/[REDACTED]")
	checkNoSecrets(t, r, sessionSecrets(stored)...)
	_, ok = f.srv.TokenExpire(stored.Token)
	check.True(t, !ok, "the token of the first login is still live")
	_, ok = f.srv.TokenExpire(second.Token)
	check.True(t, ok, "the token of the second login is not live")

	// A token that the server already revoked is only reported.
	f.srv.Revoke(second.Token)
	r = runProbe(t, env, "resonite", "login", "--json", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"revoked","message":"the previous session token, which the session file contained, was already revoked on the server (404 Not Found)","userId":"U-alice","username":"alice"}`)
}

func TestRevokePreviousFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	defer srv.Close()
	previous := &storedSession{API: srv.URL, Username: "alice", Session: resonite.Session{UserID: "U-alice", Token: "old-token", Expire: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	var out strings.Builder
	var warnings []string
	note := func(msg string) { warnings = append(warnings, msg) }
	revokePrevious(context.Background(), &printer{w: &out}, note, &resonite.API{BaseURL: srv.URL}, previous, 5*time.Second)
	check.Equal(t, "", out.String(), "output after a failed revocation")
	must.Len(t, warnings, 1)
	check.Contains(t, warnings[0], "revoking the previous session token failed: ")
	check.Contains(t, warnings[0], "it stays valid until it expires at 2030-01-02 03:04:05 UTC")
}

func TestResoniteLoginTOTP(t *testing.T) {
	f := newResoniteFixture(t)
	env := f.env("RESONITE_USERNAME=carol", "RESONITE_PASSWORD="+carolPassword)

	r := runProbe(t, env, "resonite", "login", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "hubprobe resonite login: the account needs a TOTP code: set RESONITE_TOTP to the current code of your authenticator app and run login again\n")
	_, err := os.Stat(f.sessionPath())
	check.True(t, os.IsNotExist(err), "a failed login wrote the session file: %v", err)

	r = runProbe(t, append(env, "RESONITE_TOTP=000000"), "resonite", "login", "-v", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "hubprobe resonite login: the API rejected the TOTP code; set RESONITE_TOTP to the current code of your authenticator app")
	check.Contains(t, r.stderr, "Totp: [REDACTED]")
	checkNoSecrets(t, r, carolPassword, "000000")

	r = runProbe(t, append(env, "RESONITE_TOTP="+carolTOTP), "resonite", "login", "-v", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "logged in as carol (U-carol)")
	checkNoSecrets(t, r, append(sessionSecrets(f.readSession(t)), carolPassword, carolTOTP)...)
}

func TestResoniteLoginInvalidCredentials(t *testing.T) {
	f := newResoniteFixture(t)
	const wrong = "not-the-password"
	env := f.env("RESONITE_USERNAME=alice", "RESONITE_PASSWORD="+wrong)

	r := runProbe(t, env, "resonite", "login", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Equal(t, "hubprobe resonite login: invalid credentials: the API rejected the username \"alice\" or its password (400 Bad Request)\n", r.stderr)
	check.Equal(t, "", r.stdout)

	r = runProbe(t, env, "resonite", "login", "-v", "--json", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stdout, `{"event":"error","error":"invalid credentials: the API rejected the username \"alice\" or its password (400 Bad Request)","command":"resonite login"}`)
	check.Contains(t, r.stderr, `"password":"[REDACTED]"`)
	checkNoSecrets(t, r, wrong)

	// The server's copy of the request proves that the password was sent.
	requests := f.srv.Requests()
	must.True(t, len(requests) > 0)
	check.Contains(t, string(requests[len(requests)-1].Body), wrong)
}

func TestResoniteLoginNeedsCredentials(t *testing.T) {
	f := newResoniteFixture(t)
	r := runProbe(t, f.env(), "resonite", "login", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "no username: set RESONITE_USERNAME or RESONITE_EMAIL, or pass --user NAME")

	r = runProbe(t, f.env(), "resonite", "login", "--user", "alice", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "no password: set RESONITE_PASSWORD, pipe it with --password-stdin, or run login in a terminal to be prompted for it")
	_, err := os.Stat(filepath.Dir(f.sessionPath()))
	check.True(t, os.IsNotExist(err), "a failed login created the configuration directory: %v", err)

	// No flag takes a password.
	r = runProbe(t, f.env(), "resonite", "login", "--password", alicePassword, "--api", f.srv.URL)
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, "flag provided but not defined: -password")
	checkNoSecrets(t, r, alicePassword)
}

func TestResoniteLoginPasswordStdin(t *testing.T) {
	f := newResoniteFixture(t)
	path := filepath.Join(t.TempDir(), "custom", "session.json")
	r := runProbeStdin(t, f.env(), alicePassword+"\n", "resonite", "login", "--password-stdin", "--user", "alice", "--session-file", path, "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "saved the session to "+path+" (mode 0600)")
	_, err := os.Stat(filepath.Join(filepath.Dir(path), "resonite-device.json"))
	check.NoError(t, err, "the device file beside the session file")

	for _, stdin := range []string{"\n", ""} {
		r = runProbeStdin(t, f.env(), stdin, "resonite", "login", "--password-stdin", "--user", "alice", "--api", f.srv.URL)
		check.Equal(t, 1, r.code, "stdin %q", stdin)
		check.Contains(t, r.stderr, "--password-stdin: ", "stdin %q", stdin)
		check.NotContains(t, r.stderr, "no password: set RESONITE_PASSWORD", "stdin %q", stdin)
	}
	r = runProbeStdin(t, f.env(), "\n", "resonite", "login", "--password-stdin", "--user", "alice", "--api", f.srv.URL)
	check.Contains(t, r.stderr, "hubprobe resonite login: --password-stdin: the first line of stdin is empty; pipe the password followed by a newline\n")
}

func TestResoniteLoginRateLimited(t *testing.T) {
	f := newResoniteFixture(t)
	f.srv.RateLimit(1, 7*time.Second)
	r := runProbe(t, f.env("RESONITE_USERNAME=alice", "RESONITE_PASSWORD="+alicePassword), "resonite", "login", "--api", f.srv.URL)
	check.Equal(t, 1, r.code)
	check.Equal(t, "hubprobe resonite login: the API rate-limited the login (429 Too Many Requests); retry after 7s\n", r.stderr)
	checkNoSecrets(t, r, alicePassword)
}

func TestResoniteLoginFixesWideFile(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	must.NoError(t, os.Chmod(f.sessionPath(), 0o644))

	r := runProbe(t, f.env(), "resonite", "call", "InitializeStatus")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, f.sessionPath()+" has mode 0644, so other users can read or change it; run 'chmod 600 "+f.sessionPath()+"'")

	r = runProbe(t, f.env("RESONITE_USERNAME=alice", "RESONITE_PASSWORD="+alicePassword), "resonite", "login", "--api", f.srv.URL)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, "warning: "+f.sessionPath()+" had mode 0644, so other users could read the session in it; it now has mode 0600")
	info, err := os.Stat(f.sessionPath())
	must.NoError(t, err)
	check.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

// connectBob connects bob to the fake hub and returns the channel of the
// messages he receives.
func connectBob(t *testing.T, srv *resonitetest.Server) <-chan resonite.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	session, err := (&resonite.API{BaseURL: srv.URL}).Login(ctx, resonite.LoginRequest{Username: "bob", Password: bobPassword, UID: resonite.NewUID()})
	must.NoError(t, err)
	bob, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{Config: signalr.Config{Reconnect: signalr.DelayRetryPolicy{}}})
	must.NoError(t, err)
	messages := make(chan resonite.Message, 10)
	bob.OnReceiveMessage(func(_ context.Context, msg resonite.Message) { messages <- msg })
	must.NoError(t, bob.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		bob.Stop(ctx)
	})
	return messages
}

func TestResoniteCallSendMessage(t *testing.T) {
	f := newResoniteFixture(t)
	stored := f.login(t)
	bobMessages := connectBob(t, f.srv)

	r := runProbe(t, f.env(), "resonite", "call", "-v", "SendMessage", `{"recipientId":"U-bob","content":"hello bob"}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "connected to "+f.srv.HubURL())
	check.Contains(t, r.stdout, "SendMessage completed with no result\n")
	check.Contains(t, r.stdout, `server invoked MessageSent({"id":"MSG-`)
	check.Contains(t, r.stderr, "Authorization: [REDACTED]")
	checkNoSecrets(t, r, sessionSecrets(stored)...)

	select {
	case msg := <-bobMessages:
		check.Equal(t, "hello bob", msg.Content)
		check.Equal(t, "U-alice", msg.SenderID)
		check.Equal(t, resonite.MessageText, msg.MessageType)
	case <-time.After(5 * time.Second):
		t.Fatal("bob received no message")
	}
	messages := f.srv.Messages()
	must.True(t, len(messages) == 1, "the server stored %d messages", len(messages))
	check.Equal(t, "U-bob", messages[0].RecipientID)
	check.True(t, strings.HasPrefix(messages[0].ID, "MSG-"), "message ID %q", messages[0].ID)
	check.Contains(t, r.stdout, messages[0].ID, "the MessageSent event of the message")
}

func TestResoniteCallHubError(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	r := runProbe(t, f.env(), "resonite", "call", "--json", "BroadcastStatus", `{"userId":"U-bob","onlineStatus":"Online"}`, `{"group":1,"targetIds":null}`)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stdout, `"event":"error"`)
	check.Contains(t, r.stdout, `is not the authenticated user`)

	r = runProbe(t, f.env(), "resonite", "call", "SendMessage", `{"content":"no recipient"}`)
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `the message has no "recipientId"`)

	r = runProbe(t, f.env(), "resonite", "call", "SendMessage", `{"recipientId":"U-bob"}`)
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `hubprobe resonite call: SendMessage: the Text message has no "content"`)

	r = runProbe(t, f.env(), "resonite", "call", "SendMessage", `{"recipientId":"U-bob","contents":"hi"}`)
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `check the unknown field names ["contents"]`)
	check.Equal(t, 0, len(f.srv.Messages()), "messages the server stored")
}

func TestResoniteCallMessageFieldCase(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	r := runProbe(t, f.env(), "resonite", "call", "SendMessage", `{"RecipientId":"U-bob","Content":"hello","mood":"happy"}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, `warning: SendMessage: the message has the unknown field "mood", which is sent as given; the known fields are id, ownerId,`)
	check.Contains(t, r.stdout, `server invoked MessageSent({"id":"MSG-`, "the confirmation matched the message ID")
	messages := f.srv.Messages()
	must.True(t, len(messages) == 1, "the server stored %d messages", len(messages))
	check.Equal(t, "hello", messages[0].Content)
	check.Equal(t, "U-bob", messages[0].RecipientID)
}

func TestResoniteListenEvents(t *testing.T) {
	f := newResoniteFixture(t)
	stored := f.login(t)

	listen := startProbeEnv(t, f.env(), "resonite", "listen", "--json", "-v", "--count", "2")
	lines := readLines(listen, 2, func(lines []string) bool { return len(lines) == 2 })
	must.Len(t, lines, 2, "stderr: %s", listen.stderr.String())
	check.Contains(t, lines[0], `{"event":"connected","url":"`+f.srv.HubURL()+`"`)
	check.Equal(t, `{"event":"contact","userId":"U-bob","username":"bob","onlineStatus":"Offline"}`, lines[1])

	msg := resonite.Message{ID: "MSG-test", OwnerID: "U-alice", SenderID: "U-bob", RecipientID: "U-alice", MessageType: resonite.MessageText, Content: "pushed by the fake"}
	check.Equal(t, 1, f.srv.SendEvent("U-alice", "ReceiveMessage", msg))
	check.Equal(t, 1, f.srv.SetUserStatus(resonite.UserStatus{UserID: "U-bob", OnlineStatus: resonite.StatusOnline, Sessions: []resonite.UserSessionMetadata{}}))

	rest := listen.wait(t)
	must.Len(t, rest, 2)
	events := parseEvents(t, rest)
	check.Equal(t, "invocation", events[0].Event)
	check.Contains(t, rest[0], `"target":"ReceiveMessage"`)
	check.Contains(t, rest[0], `"content":"pushed by the fake"`)
	check.Contains(t, rest[1], `"target":"ReceiveStatusUpdate"`)
	check.Contains(t, rest[1], `"onlineStatus":"Online"`)
	stderr := listen.stderr.String()
	check.Contains(t, stderr, "Authorization: [REDACTED]")
	for _, s := range sessionSecrets(stored) {
		check.NotContains(t, stderr, s, "stderr shows a secret")
	}
}

func TestResoniteListenTargetsText(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	listen := startProbeEnv(t, f.env(), "resonite", "listen", "--init=false", "--count", "1", "receivemessage")
	lines := readLines(listen, 1, func(lines []string) bool { return len(lines) == 1 })
	must.Len(t, lines, 1, "stderr: %s", listen.stderr.String())
	check.Contains(t, lines[0], "connected to "+f.srv.HubURL())

	// Only ReceiveMessage is printed; the status update is not.
	f.srv.SendEvent("U-alice", "Debug", "not listened to")
	f.srv.SendEvent("U-alice", "ReceiveMessage", resonite.Message{ID: "MSG-1", SenderID: "U-bob", RecipientID: "U-alice", Content: "hi"})
	rest := listen.wait(t)
	must.Len(t, rest, 1)
	check.True(t, strings.HasPrefix(rest[0], `server invoked ReceiveMessage({"id":"MSG-1",`), "line %q", rest[0])
}

func TestResoniteExpiredSession(t *testing.T) {
	f := newResoniteFixture(t)
	stored := f.login(t)

	// Revoked on the server: the hub rejects the token.
	f.srv.RevokeAll()
	for _, args := range [][]string{
		{"resonite", "call", "InitializeStatus"},
		{"resonite", "listen", "-v"},
	} {
		r := runProbe(t, f.env(), args...)
		check.Equal(t, 1, r.code, "%v", args)
		check.Contains(t, r.stderr, "the hub rejected the session token of alice (U-alice) from "+f.sessionPath()+", because it expired or was revoked; sign in again with 'hubprobe resonite login'", "%v", args)
		checkNoSecrets(t, r, sessionSecrets(stored)...)
	}

	// Expired by the local clock: no connection is tried.
	stored.Expire = time.Now().Add(-time.Hour)
	must.NoError(t, saveSession(f.sessionPath(), stored))
	r := runProbe(t, f.env(), "resonite", "call", "InitializeStatus")
	check.Equal(t, 1, r.code)
	check.True(t, regexp.MustCompile(`hubprobe resonite call: the session of alice \(U-alice\) in .* expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; sign in again with 'hubprobe resonite login'\n`).MatchString(r.stderr), "stderr: %s", r.stderr)
}

func TestResoniteNotLoggedIn(t *testing.T) {
	f := newResoniteFixture(t)
	r := runProbe(t, f.env(), "resonite", "listen")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "no session: "+f.sessionPath()+" does not exist; sign in with 'hubprobe resonite login'")
}

func TestResoniteAPIMismatch(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	r := runProbe(t, f.env(), "resonite", "call", "--api", "https://api.example.invalid", "InitializeStatus")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, "--api https://api.example.invalid differs from "+f.srv.URL+", the API that issued the session")
}

func TestResoniteLogout(t *testing.T) {
	f := newResoniteFixture(t)
	stored := f.login(t)

	r := runProbe(t, f.env(), "resonite", "logout", "-v")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "logged out alice (U-alice): revoked the session token and deleted "+f.sessionPath())
	check.Contains(t, r.stderr, "> DELETE "+f.srv.URL+"/userSessions/U-alice/[REDACTED]")
	checkNoSecrets(t, r, sessionSecrets(stored)...)
	_, ok := f.srv.TokenExpire(stored.Token)
	check.True(t, !ok, "the token is still live")
	_, err := os.Stat(f.sessionPath())
	check.True(t, os.IsNotExist(err), "the session file still exists: %v", err)
	_, err = os.Stat(filepath.Join(filepath.Dir(f.sessionPath()), "resonite-device.json"))
	check.NoError(t, err, "logout deleted the device file")

	r = runProbe(t, f.env(), "resonite", "logout")
	check.Equal(t, 0, r.code)
	check.Equal(t, "not logged in: no session file "+f.sessionPath()+", so there was nothing to revoke\n", r.stdout)

	r = runProbe(t, f.env(), "resonite", "logout", "--json")
	check.Equal(t, 0, r.code)
	check.Equal(t, `{"event":"logout","message":"no session file `+f.sessionPath()+`, so there was nothing to revoke","file":"`+f.sessionPath()+`"}`+"\n", r.stdout)

	// A session file that other users can read is revoked all the same.
	stored = f.login(t)
	must.NoError(t, os.Chmod(f.sessionPath(), 0o640))
	r = runProbe(t, f.env(), "resonite", "logout")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, "warning: "+f.sessionPath()+" had mode 0640, so other users could read the token in it before logout revoked it")
	_, ok = f.srv.TokenExpire(stored.Token)
	check.True(t, !ok, "the token of the file with mode 0640 is still live")
}

func TestResoniteLogoutRevokedOnServer(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	f.srv.RevokeAll()
	r := runProbe(t, f.env(), "resonite", "logout", "-v")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, "> DELETE "+f.srv.URL+"/userSessions/U-alice/[REDACTED]", "the trace of -v")
	check.Equal(t, "logged out alice (U-alice): the session was already logged out on the server (404 Not Found); deleted "+f.sessionPath()+"\n", r.stdout)
	_, err := os.Stat(f.sessionPath())
	check.True(t, os.IsNotExist(err), "the session file still exists: %v", err)
}

func TestResoniteLogoutKeepsFileOnFailure(t *testing.T) {
	f := newResoniteFixture(t)
	f.login(t)
	f.srv.FailNext(500, "internal error")
	r := runProbe(t, f.env(), "resonite", "logout")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "revoking the session token failed: ")
	check.Contains(t, r.stderr, f.sessionPath()+" is kept so that you can run logout again")
	_, err := os.Stat(f.sessionPath())
	check.NoError(t, err)
}

func TestResoniteDemo(t *testing.T) {
	r := runProbe(t, []string{"XDG_CONFIG_HOME=" + t.TempDir()}, "resonite", "demo", "-v")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for _, want := range []string{
		`The API responded 403 "TOTP"`,
		"logged in as alice (U-alice) at http://127.0.0.1:",
		"contact bob (U-bob): Offline",
		`server invoked ReceiveStatusUpdate({"userId":"U-bob"`,
		`"onlineStatus":"Online"`,
		`server invoked ReceiveMessage({`,
		`"content":"Hi alice, are you there?"`,
		"SendMessage completed with no result",
		`bob received "Hi bob, this is hubprobe." from U-alice.`,
		"logged out alice (U-alice): revoked the session token",
	} {
		check.Contains(t, r.stdout, want)
	}
	check.Contains(t, r.stderr, "Totp: [REDACTED]")
	checkNoSecrets(t, r, demoAlicePassword, demoAliceTOTP, demoBobPassword)
	check.True(t, !regexp.MustCompile(`"token":"[^\[]`).MatchString(r.stderr), "the trace shows a token")
}

func TestResoniteHelp(t *testing.T) {
	r := runProbe(t, nil, "help", "resonite")
	must.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, "usage: hubprobe resonite COMMAND [flags] [arguments]")
	check.Contains(t, r.stdout, "hubprobe resonite demo")
	check.Contains(t, r.stdout, "RESONITE_PASSWORD")

	r = runProbe(t, nil, "help", "resonite", "listen")
	must.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, "usage: hubprobe resonite listen [flags] [TARGET...]")
	check.Contains(t, r.stdout, "-contact USERID")
	check.NotContains(t, r.stdout, "-protocol")

	r = runProbe(t, nil, "resonite", "call", "-h")
	must.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, "usage: hubprobe resonite call [flags] METHOD [ARG...]")

	r = runProbe(t, nil, "resonite", "nosuch")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `hubprobe resonite: unknown command "nosuch"`)
	check.Contains(t, r.stderr, "Run 'hubprobe help resonite' for its commands.\n")

	r = runProbe(t, nil, "resonite")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, "hubprobe resonite: missing COMMAND")
	check.Contains(t, r.stderr, "Run 'hubprobe help resonite' for its commands.\n")
	check.NotContains(t, r.stderr, "'hubprobe resonite -h'")

	r = runProbe(t, nil, "resonite", "help", "login")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "usage: hubprobe resonite login [flags]")
	check.Contains(t, r.stdout, "-password-stdin")

	r = runProbe(t, nil, "resonite", "help")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "usage: hubprobe resonite COMMAND [flags] [arguments]")

	r = runProbe(t, nil, "resonite", "help", "nosuch")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `unknown command "resonite nosuch"`)

	r = runProbe(t, nil, "resonite", "login", "--nosuchflag")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, "Run 'hubprobe resonite login -h' for its flags.\n")
}

func TestResoniteFlagAfterArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		hint string
	}{
		{[]string{"resonite", "listen", "--timeout", "3s", "ReceiveMessage", "--json"}, `argument "--json" looks like a flag: flags must come before TARGET`},
		{[]string{"resonite", "listen", "ReceiveMessage", "-v"}, `argument "-v" looks like a flag: flags must come before TARGET`},
		{[]string{"resonite", "call", "InitializeStatus", "--json"}, "it looks like a flag, and flags must come before METHOD"},
		{[]string{"resonite", "call", "SendMessage", `{"recipientId":"U-bob","content":"hi"}`, "-v"}, "it looks like a flag, and flags must come before METHOD"},
		{[]string{"listen", "http://127.0.0.1:1/hub", "Notify", "--json"}, `argument "--json" looks like a flag: flags must come before URL`},
	} {
		r := runProbe(t, nil, tt.args...)
		check.Equal(t, 2, r.code, "hubprobe %v", tt.args)
		check.Contains(t, r.stderr, tt.hint, "hubprobe %v", tt.args)
		check.Equal(t, "", r.stdout, "hubprobe %v", tt.args)
	}
}

func TestResoniteListenReconnect(t *testing.T) {
	f := newResoniteFixture(t)
	stored := f.login(t)
	listen := startProbeEnv(t, f.env(), "resonite", "listen", "--json", "--reconnect-delays", "0,0", "--init=false", "--contact", "U-bob", "ReceiveStatusUpdate")
	must.True(t, listen.stdout.Scan(), "no output; stderr: %s", listen.stderr.String())
	must.Contains(t, listen.stdout.Text(), `"event":"connected"`)

	// listen prints "connected" before it sends ListenOnContact, so the
	// connection is dropped only once bob's status reaches it.
	deadline := time.Now().Add(5 * time.Second)
	for f.srv.SetUserStatus(resonite.UserStatus{UserID: "U-bob", OnlineStatus: resonite.StatusOnline, Sessions: []resonite.UserSessionMetadata{}}) == 0 {
		must.True(t, time.Now().Before(deadline), "ListenOnContact was not sent within 5s")
		time.Sleep(10 * time.Millisecond)
	}
	must.True(t, listen.stdout.Scan(), "no status update; stderr: %s", listen.stderr.String())
	must.Contains(t, listen.stdout.Text(), `"onlineStatus":"Online"`)

	// After the reconnect, the hub has sent ListenOnContact again, so
	// bob's status still arrives.
	check.Equal(t, 1, f.srv.DropUser("U-alice"))
	lines := readLines(listen, 10, func(lines []string) bool { return countPrefix(lines, `{"event":"reconnected"`) == 1 })
	must.Equal(t, 1, countPrefix(lines, `{"event":"reconnected"`), "lines: %q; stderr: %s", lines, listen.stderr.String())
	deadline = time.Now().Add(5 * time.Second)
	for f.srv.SetUserStatus(resonite.UserStatus{UserID: "U-bob", OnlineStatus: resonite.StatusBusy, Sessions: []resonite.UserSessionMetadata{}}) == 0 {
		must.True(t, time.Now().Before(deadline), "ListenOnContact was not sent again within 5s")
		time.Sleep(10 * time.Millisecond)
	}
	must.True(t, listen.stdout.Scan(), "no event after the reconnect; stderr: %s", listen.stderr.String())
	check.Contains(t, listen.stdout.Text(), `"onlineStatus":"Busy"`)

	// A revoked token ends the reconnecting at once.
	f.srv.RevokeAll()
	check.Equal(t, 1, f.srv.DropUser("U-alice"))
	var rest []string
	for listen.stdout.Scan() {
		rest = append(rest, listen.stdout.Text())
	}
	err := listen.cmd.Wait()
	check.Equal(t, 1, listen.cmd.ProcessState.ExitCode(), "listen ended with %v", err)
	must.True(t, len(rest) > 0, "no output after the second drop")
	check.Contains(t, rest[len(rest)-1], `"error":"the hub rejected the session token of alice (U-alice) from `)
	check.Contains(t, rest[len(rest)-1], `sign in again with 'hubprobe resonite login'"`)
	for _, s := range sessionSecrets(stored) {
		check.NotContains(t, strings.Join(rest, "\n"), s, "output shows a secret")
	}
}

// TestResoniteLoginPromptsWithoutEcho runs login on a pseudo-terminal
// that script(1) opens, types the password and the TOTP code at the
// prompts, and checks that the terminal did not echo them. The kernel
// echoes input on the terminal itself, so hubprobe's redaction cannot hide
// an echo.
func TestResoniteLoginPromptsWithoutEcho(t *testing.T) {
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed")
	}
	f := newResoniteFixture(t)
	command := executable + " resonite login --user carol --api " + f.srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptPath, "-q", "-e", "-c", command, "/dev/null")
	cmd.Env = append(os.Environ(), f.env()...)
	stdin, err := cmd.StdinPipe()
	must.NoError(t, err)
	output := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = output, output
	must.NoError(t, cmd.Start())

	type answer struct{ prompt, input string }
	for _, a := range []answer{{"Password for carol: ", carolPassword}, {"TOTP code: ", carolTOTP}} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(output.String(), a.prompt) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no prompt %q within 10s; output: %q", a.prompt, output.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := stdin.Write([]byte(a.input + "\n"))
		must.NoError(t, err)
	}
	err = cmd.Wait()
	out := output.String()
	must.NoError(t, err, "output: %q", out)
	check.Contains(t, out, "logged in as carol (U-carol)")
	check.NotContains(t, out, carolPassword, "the terminal echoed the password")
	check.NotContains(t, out, carolTOTP, "the terminal echoed the TOTP code")
}
