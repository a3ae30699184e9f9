package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/hubwire/hubwire/resonite"
)

const resoniteDescription = `Signs in to the Resonite cloud API and connects to its SignalR hub as the
signed-in user. The API is unofficial: Resonite documents it on its wiki but
gives no guarantees, and it changes without notice.

Try it without an account or network access, against a fake of the service
on 127.0.0.1:

  hubprobe resonite demo

or run one command against that fake with --demo, signed in as its demo
user alice, whose contact bob has the user ID U-bob:

  hubprobe resonite login --demo
  hubprobe resonite call --demo SendMessage '{"recipientId":"U-bob","content":"hi"}'
  hubprobe resonite listen --demo --count 2

--demo needs no credentials and cannot be combined with --api, --hub or
--session-file. Its session file is in a temporary directory, which is
removed when the command ends.

Sign in, send a message, listen, and sign out:

  export RESONITE_USERNAME=alice
  hubprobe resonite login
  hubprobe resonite call SendMessage '{"recipientId":"U-bob","content":"hello"}'
  hubprobe resonite listen ReceiveMessage ReceiveStatusUpdate
  hubprobe resonite logout

Credentials: login reads RESONITE_USERNAME (or RESONITE_EMAIL),
RESONITE_PASSWORD and RESONITE_TOTP. When one is missing and stdin is a
terminal, login prompts for it, without echo for the password and the TOTP
code. When stdin is not a terminal, they must be set, or the password piped
with --password-stdin. No flag takes a password, token or TOTP code, because
other users of the machine can see command lines.

Session file: login stores the user ID, the session token, its expiry, the
API URL and the device identifiers in the session file, by default
resonite-session.json in the hubwire directory of the user's configuration
directory (~/.config/hubwire on Linux), with mode 0600 in a directory with
mode 0700. call and listen reject a session file that other users can
read, and logout revokes the token in it. The device identifiers, UID and
secretMachineId, are also kept in resonite-device.json beside it, which
logout keeps, so that every login sends the same ones. hubprobe never prints the token, the
password or the TOTP code, and -v hides them in its trace.

Commands:
  login   sign in and store the session token in the session file
  call    invoke a method of the Resonite hub as the signed-in user
  listen  print the events the Resonite hub sends to the signed-in user
  logout  revoke the session token and delete the session file
  demo    run login, chat and presence against a fake of the Resonite cloud
          on 127.0.0.1

Run 'hubprobe help resonite COMMAND' or 'hubprobe resonite help COMMAND' for
the flags of a command.`

// runResonite implements "hubprobe resonite" without a known subcommand:
// it prints the help for -h and reports anything else as a usage error.
func runResonite(env *environment, args []string) error {
	cmd := lookupCommand("resonite")
	fs := newFlagSet(env, cmd, resoniteDescription)
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(cmd.name, "missing COMMAND: login, call, listen, logout, demo or help")
	}
	return usagef(cmd.name, "unknown command %q: use login, call, listen, logout, demo or help", fs.Arg(0))
}

// resoniteFlags are the flags that locate the session and the service.
type resoniteFlags struct {
	sessionFile string
	api         string
	hub         string
}

// registerSession adds --session-file and --api. login sets defaultAPI to
// the real service; the other commands leave it empty and take the API
// from the session file.
func (f *resoniteFlags) registerSession(fs *flag.FlagSet, defaultAPI string) {
	fs.StringVar(&f.sessionFile, "session-file", "", "the session `FILE`; the default is resonite-session.json in the hubwire directory of the user's configuration directory")
	if defaultAPI != "" {
		fs.StringVar(&f.api, "api", defaultAPI, "base `URL` of the Resonite REST API")
	} else {
		fs.StringVar(&f.api, "api", "", "base `URL` of the Resonite REST API; the default, and the only value accepted, is the API that issued the session, as stored in the session file")
	}
}

// sessionPath returns the --session-file path or the default one.
func (f *resoniteFlags) sessionPath() (string, error) {
	if f.sessionFile != "" {
		return f.sessionFile, nil
	}
	return defaultSessionFile()
}

// registerResoniteOutput adds --json and -v to a command that talks only
// to the REST API.
func registerResoniteOutput(fs *flag.FlagSet, cf *connFlags) {
	fs.BoolVar(&cf.json, "json", false, "print one JSON object per line instead of text; an error that ends the command is printed as {\"event\":\"error\",...} on stdout, with the same exit status")
	fs.BoolVar(&cf.verbose, "v", false, "trace the HTTP requests and responses to stderr, with the password, TOTP code, token and Authorization header hidden")
}

// newAPI returns a client of the REST API at baseURL. With -v it traces
// every request to stderr.
func newAPI(env *environment, baseURL string, verbose bool) *resonite.API {
	api := &resonite.API{BaseURL: baseURL}
	if verbose {
		tr := &tracer{w: env.stderr}
		api.Logger = tr.logger()
		api.HTTPClient = &http.Client{Transport: tr.roundTripper(http.DefaultTransport)}
	}
	return api
}

// addSessionSecrets registers the secrets of a session with the redactor,
// so that no output shows them.
func addSessionSecrets(env *environment, s *storedSession) {
	env.secrets.add(s.Token)
	env.secrets.add(s.Authorization())
	env.secrets.add(s.SecretMachineID)
}

const resoniteLoginDescription = `Signs in to the Resonite API and stores the session in the session file
with mode 0600. It prints who signed in and when the token expires, never
the token.

The username comes from --user, RESONITE_USERNAME or RESONITE_EMAIL, the
password from RESONITE_PASSWORD or, with --password-stdin, from the first
line of stdin, and the TOTP code of an account with two-factor
authentication from RESONITE_TOTP. When stdin is a terminal, login prompts
for what is missing, without echo for the password and the TOTP code.
Otherwise login fails and names the variable to set. When the API responds
that a TOTP code is needed, or that the code was wrong, login prompts for it
up to three times.

When the session file contains an unexpired session of the same user at
the same API, login revokes its token after the new session is saved, so
that the old token does not stay valid. A failure to revoke it is only a
warning.

Every login sends the same UID and secretMachineId, which the first login
creates and stores in resonite-device.json beside the session file. A
session file that other users could read is replaced by one with mode 0600,
and login prints a warning.

With --demo, login signs the demo user alice in to a fake of the service
on 127.0.0.1 with her demo password and TOTP code, so it prompts for
nothing and reads no environment variable. The session file is in a temporary
directory that is removed on exit. --demo cannot be combined with --api,
--session-file, --user or --password-stdin.

Exit status 1 when the credentials are invalid, a TOTP code is needed but
not given, the API rate-limits the request (the message gives the
Retry-After wait) or the session file cannot be written.`

// maxTOTPAttempts is how many TOTP codes login sends before it gives up.
const maxTOTPAttempts = 3

// runResoniteLogin implements "hubprobe resonite login".
func runResoniteLogin(env *environment, args []string) error {
	cmd := lookupCommand("resonite login")
	fs := newFlagSet(env, cmd, resoniteLoginDescription)
	var rf resoniteFlags
	rf.registerSession(fs, resonite.DefaultBaseURL)
	var cf connFlags
	registerResoniteOutput(fs, &cf)
	user := fs.String("user", "", "the `NAME` or email address to sign in with; the default is RESONITE_USERNAME, then RESONITE_EMAIL")
	rememberMe := fs.Bool("remember-me", false, "request a long-lived token, which lasts 30 days according to the Resonite wiki, instead of one of about 24 hours")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of RESONITE_PASSWORD")
	timeout := fs.Duration("timeout", 30*time.Second, "maximum `duration` of each request to the API")
	demo := fs.Bool("demo", false, demoFlagHelp)
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd.name, "unexpected argument %q; login takes no arguments, and the password never comes from the command line", fs.Arg(0))
	}
	var service *demoService
	if *demo {
		if err := rejectWithDemo(cmd, fs, "api", "session-file", "user", "password-stdin"); err != nil {
			return err
		}
		var err error
		if service, err = startDemoService(env); err != nil {
			return err
		}
		defer service.close()
		rf.api, rf.sessionFile = service.srv.URL, service.sessionPath()
	}
	apiURL, err := normalizeAPI(rf.api)
	if err != nil {
		return usagef(cmd.name, "--api: %v", err)
	}
	if *timeout <= 0 {
		return usagef(cmd.name, "--timeout %v: must be positive", *timeout)
	}
	path, err := rf.sessionPath()
	if err != nil {
		return err
	}

	p := newPrinter(env, cf.json)
	notes := newReconnectEvents(env, cf.json).p // stderr for text, stdout for JSON
	note := func(msg string) { notes.print(event{Event: "warning", Message: msg}) }
	var creds credentials
	askCode := func(rejected bool) (string, error) { return askTOTP(env, rejected) }
	if service != nil {
		// The demo user alice has two-factor authentication on, so login
		// goes through the TOTP step with her fixed code.
		creds = credentials{username: "alice", password: demoAlicePassword}
		askCode = demoTOTP
	} else if creds, err = readCredentials(env, *user, *passwordStdin); err != nil {
		return err
	}
	dev, err := loadDevice(path, note)
	if err != nil {
		return fmt.Errorf("reading the device identifiers: %w", err)
	}
	env.secrets.add(dev.SecretMachineID)
	req := resonite.LoginRequest{
		Username:        creds.username,
		Password:        creds.password,
		TOTP:            creds.totp,
		UID:             dev.UID,
		SecretMachineID: dev.SecretMachineID,
		RememberMe:      *rememberMe,
	}

	// The session that the new login replaces. Its token is revoked
	// after the new session is saved, so that it does not stay valid.
	previous, err := loadSession(path, true)
	if err != nil {
		previous = nil
	} else {
		addSessionSecrets(env, previous)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	api := newAPI(env, apiURL, cf.verbose)
	session, err := login(ctx, env, api, req, *timeout, askCode)
	if err != nil {
		return err
	}

	stored := &storedSession{API: apiURL, Username: creds.username, SecretMachineID: dev.SecretMachineID, Session: *session}
	addSessionSecrets(env, stored)
	oldMode, hadWideMode := widerMode(path)
	if err := saveSession(path, stored); err != nil {
		return fmt.Errorf("signed in, but writing the session file failed: %w", err)
	}
	if hadWideMode {
		note(fmt.Sprintf("%s had mode %04o, so other users could read the session in it; it now has mode 0600", path, oldMode))
	}
	p.print(loginEvent(stored, path))
	if replacesSession(previous, stored) {
		revokePrevious(ctx, p, note, newAPI(env, apiURL, cf.verbose), previous, *timeout)
	}
	return nil
}

// replacesSession reports whether the new session stored replaces
// previous, a session of the same user at the same API whose token has not
// expired by the local clock.
func replacesSession(previous, stored *storedSession) bool {
	if previous == nil || previous.API != stored.API || previous.UserID != stored.UserID || previous.Token == stored.Token {
		return false
	}
	return previous.Expire.IsZero() || time.Now().Before(previous.Expire)
}

// revokePrevious revokes the token of previous, the session that a new
// login replaced. A failure is only a warning, because the new session is
// already saved.
func revokePrevious(ctx context.Context, p *printer, note func(string), api *resonite.API, previous *storedSession, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status := recordStatus(api)
	if err := api.Logout(ctx, &previous.Session); err != nil {
		msg := fmt.Sprintf("revoking the previous session token failed: %v; it stays valid until it expires", err)
		if !previous.Expire.IsZero() {
			msg += " at " + previous.Expire.UTC().Format("2006-01-02 15:04:05 MST")
		}
		note(msg)
		return
	}
	msg := "revoked the previous session token, which the session file contained"
	switch status.code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		msg = fmt.Sprintf("the previous session token, which the session file contained, was already revoked on the server (%d %s)", status.code, http.StatusText(status.code))
	}
	p.print(event{Event: "revoked", UserID: previous.UserID, Username: previous.Username, Message: msg})
}

// loginEvent describes a stored session without its token.
func loginEvent(s *storedSession, path string) event {
	e := event{Event: "login", UserID: s.UserID, Username: s.Username, URL: s.API, File: path}
	if !s.Expire.IsZero() {
		e.Expire = s.Expire.UTC().Format(time.RFC3339)
	}
	return e
}

// widerMode returns the permissions of the file at path and whether they
// give access to users other than the owner.
func widerMode(path string) (os.FileMode, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return info.Mode().Perm(), checkPrivate(path, info) != nil
}

// login signs in with req. When the API responds that a TOTP code is
// needed or was wrong, it calls totp, with rejected set when req had a
// code, and tries again, at most maxTOTPAttempts codes in all. Each
// request gets at most timeout.
func login(ctx context.Context, env *environment, api *resonite.API, req resonite.LoginRequest, timeout time.Duration, totp func(rejected bool) (string, error)) (*resonite.Session, error) {
	for codes := 0; ; codes++ {
		reqCtx, cancel := context.WithTimeout(ctx, timeout)
		session, err := api.Login(reqCtx, req)
		cancel()
		if err == nil {
			return session, nil
		}
		if !errors.Is(err, resonite.ErrTOTPRequired) {
			return nil, describeLoginError(err, req)
		}
		if codes == maxTOTPAttempts {
			return nil, fmt.Errorf("the API rejected %d TOTP codes; check the clock of the device that shows them and run login again", codes)
		}
		code, err := totp(req.TOTP != "")
		if err != nil {
			return nil, err
		}
		env.secrets.add(code)
		req.TOTP = code
	}
}

// describeLoginError returns the message for a failed login, with the next
// step to take. None of the errors of package resonite contain the
// password or the TOTP code.
func describeLoginError(err error, req resonite.LoginRequest) error {
	var rate *resonite.RateLimitError
	switch {
	case errors.Is(err, resonite.ErrInvalidCredentials):
		return fmt.Errorf("invalid credentials: the API rejected the username %q or its password (400 Bad Request)", req.Username)
	case errors.As(err, &rate) && rate.RetryAfter > 0:
		return fmt.Errorf("the API rate-limited the login (429 Too Many Requests); retry after %v", rate.RetryAfter)
	case errors.As(err, &rate):
		return errors.New("the API rate-limited the login (429 Too Many Requests) without a Retry-After header; wait a minute and retry")
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the login request timed out: %w; check the network or raise --timeout", err)
	}
	return fmt.Errorf("login failed: %w", err)
}

// askTOTP prompts for a TOTP code on the terminal, or returns an error that
// names the variable to set when stdin is not a terminal. rejected reports that the API
// rejected the code sent before.
func askTOTP(env *environment, rejected bool) (string, error) {
	if !env.terminal.available() {
		if rejected {
			return "", errors.New("the API rejected the TOTP code; set RESONITE_TOTP to the current code of your authenticator app and run login again")
		}
		return "", errors.New("the account needs a TOTP code: set RESONITE_TOTP to the current code of your authenticator app and run login again")
	}
	if rejected {
		fmt.Fprintln(env.stderr, "The API rejected the TOTP code.")
	}
	code, err := env.terminal.readSecret("TOTP code: ")
	if err != nil {
		return "", fmt.Errorf("reading the TOTP code: %w", err)
	}
	if code == "" {
		return "", errors.New("no TOTP code was entered")
	}
	return code, nil
}

// credentials are the username, password and TOTP code that login sends.
type credentials struct {
	username string
	password string
	totp     string
}

// readCredentials returns the credentials from the flags, the environment,
// stdin and prompts, as the help of login describes, and registers the
// secrets with the redactor.
func readCredentials(env *environment, user string, passwordStdin bool) (credentials, error) {
	var c credentials
	c.username = firstNonEmpty(user, env.getenv("RESONITE_USERNAME"), env.getenv("RESONITE_EMAIL"))
	if c.username == "" && !passwordStdin && env.terminal.available() {
		name, err := env.terminal.readLine("Resonite username or email: ")
		if err != nil {
			return c, fmt.Errorf("reading the username: %w", err)
		}
		c.username = name
	}
	if c.username == "" {
		return c, errors.New("no username: set RESONITE_USERNAME or RESONITE_EMAIL, or pass --user NAME")
	}

	switch {
	case passwordStdin:
		password, err := readLine(bufio.NewReader(env.stdin))
		if err != nil {
			return c, fmt.Errorf("--password-stdin: reading the password from stdin: %w", err)
		}
		if password == "" {
			return c, errors.New("--password-stdin: the first line of stdin is empty; pipe the password followed by a newline")
		}
		c.password = password
	case env.getenv("RESONITE_PASSWORD") != "":
		c.password = env.getenv("RESONITE_PASSWORD")
	case env.terminal.available():
		password, err := env.terminal.readSecret("Password for " + c.username + ": ")
		if err != nil {
			return c, fmt.Errorf("reading the password: %w", err)
		}
		c.password = password
	}
	if c.password == "" {
		return c, errors.New("no password: set RESONITE_PASSWORD, pipe it with --password-stdin, or run login in a terminal to be prompted for it")
	}
	env.secrets.add(c.password)

	c.totp = env.getenv("RESONITE_TOTP")
	env.secrets.add(c.totp)
	return c, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

const resoniteLogoutDescription = `Revokes the session token with the API that issued it and deletes the
session file. The device identifiers in resonite-device.json stay, so that
the next login sends the same ones.

Logout also reads a session file that other users can read, to revoke the
token that may have leaked. When revoking fails, for example because the
network is down, the session file is kept so that logout can be tried
again, and the exit status is 1. When the API responds 401, 403 or 404,
the token no longer works, so logout reports that the session was already
logged out and deletes the session file. Without a session file, logout
prints so and exits with status 0.`

// runResoniteLogout implements "hubprobe resonite logout".
func runResoniteLogout(env *environment, args []string) error {
	cmd := lookupCommand("resonite logout")
	fs := newFlagSet(env, cmd, resoniteLogoutDescription)
	var rf resoniteFlags
	rf.registerSession(fs, "")
	var cf connFlags
	registerResoniteOutput(fs, &cf)
	timeout := fs.Duration("timeout", 30*time.Second, "maximum `duration` of the request to the API")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd.name, "unexpected argument %q", fs.Arg(0))
	}
	if *timeout <= 0 {
		return usagef(cmd.name, "--timeout %v: must be positive", *timeout)
	}
	path, err := rf.sessionPath()
	if err != nil {
		return err
	}
	p := newPrinter(env, cf.json)
	stored, err := loadSession(path, true)
	if errors.Is(err, errNoSession) {
		p.print(event{Event: "logout", File: path, Message: "no session file " + path + ", so there was nothing to revoke"})
		return nil
	}
	if err != nil {
		return err
	}
	addSessionSecrets(env, stored)
	if err := rf.checkAPI(cmd, stored, path); err != nil {
		return err
	}
	mode, wide := widerMode(path)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := logout(ctx, env, p, newAPI(env, stored.API, cf.verbose), stored, path, *timeout); err != nil {
		return err
	}
	if wide {
		msg := fmt.Sprintf("%s had mode %04o, so other users could read the token in it before logout revoked it", path, mode)
		newReconnectEvents(env, cf.json).p.print(event{Event: "warning", Message: msg})
	}
	return nil
}

// logout revokes the token of stored and deletes its session file.
func logout(ctx context.Context, env *environment, p *printer, api *resonite.API, stored *storedSession, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// api.Logout returns nil both when it revoked the token and when the
	// API responded that the token no longer works, so the status of the
	// response distinguishes the two.
	status := recordStatus(api)
	if err := api.Logout(ctx, &stored.Session); err != nil {
		return fmt.Errorf("revoking the session token failed: %w; %s is kept so that you can run logout again", err, path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("revoked the session token, but deleting the session file failed: %w", err)
	}
	msg := "revoked the session token and deleted " + path
	switch status.code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		msg = fmt.Sprintf("the session was already logged out on the server (%d %s); deleted %s", status.code, http.StatusText(status.code), path)
	}
	p.print(event{Event: "logout", UserID: stored.UserID, Username: stored.Username, File: path, Message: msg})
	return nil
}

// A statusRecorder is an http.RoundTripper that stores the status code of
// the last response it passes on.
type statusRecorder struct {
	next http.RoundTripper
	code int
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.code = resp.StatusCode
	}
	return resp, err
}

// recordStatus makes api send its requests through a statusRecorder and
// returns the recorder.
func recordStatus(api *resonite.API) *statusRecorder {
	client := http.Client{}
	if api.HTTPClient != nil {
		client = *api.HTTPClient
	}
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	recorder := &statusRecorder{next: next}
	client.Transport = recorder
	api.HTTPClient = &client
	return recorder
}

// checkAPI rejects an --api that differs from the API that issued the
// stored session, because the token must not go to another server.
func (f *resoniteFlags) checkAPI(cmd *command, stored *storedSession, path string) error {
	if f.api == "" {
		return nil
	}
	api, err := normalizeAPI(f.api)
	if err != nil {
		return usagef(cmd.name, "--api: %v", err)
	}
	if api != stored.API {
		return usagef(cmd.name, "--api %s differs from %s, the API that issued the session in %s; omit --api, or sign in to %s with 'hubprobe resonite login --api %s'", api, stored.API, path, api, api)
	}
	return nil
}
