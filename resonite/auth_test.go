package resonite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
)

const (
	testPassword = "correct horse <battery> & \"staple\""
	testTOTP     = "493027"
	testUID      = "6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B"
	testMachine  = "b1f2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
)

var (
	alice = resonitetest.User{ID: "U-alice", Username: "Alice", Email: "alice@example.com", Password: testPassword}
	bob   = resonitetest.User{ID: "U-bob", Username: "Bob", Email: "bob@example.com", Password: testPassword, TOTP: testTOTP}
)

// testStart is the fake clock's start, a time with a zone offset to check
// that nothing depends on the local zone.
var testStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

// newTestServer starts a fake server with alice and bob on clock and
// returns it with an API that uses it.
func newTestServer(t *testing.T, clock *fakeClock) (*resonitetest.Server, *resonite.API) {
	t.Helper()
	opts := resonitetest.Options{Users: []resonitetest.User{alice, bob}}
	if clock != nil {
		opts.Now = clock.Now
	}
	srv := resonitetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, &resonite.API{BaseURL: srv.URL}
}

func aliceLogin() resonite.LoginRequest {
	return resonite.LoginRequest{
		Username:        "alice",
		Password:        testPassword,
		SecretMachineID: testMachine,
		UID:             testUID,
	}
}

func login(t *testing.T, api *resonite.API, lr resonite.LoginRequest) *resonite.Session {
	t.Helper()
	s, err := api.Login(context.Background(), lr)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return s
}

func lastRequest(t *testing.T, srv *resonitetest.Server) resonitetest.Request {
	t.Helper()
	requests := srv.Requests()
	if len(requests) == 0 {
		t.Fatal("the server received no request")
	}
	return requests[len(requests)-1]
}

func TestLoginSuccess(t *testing.T) {
	clock := newFakeClock(testStart)
	srv, api := newTestServer(t, clock)

	s := login(t, api, aliceLogin())

	if s.UserID != "U-alice" {
		t.Errorf("UserID = %q; want U-alice", s.UserID)
	}
	if s.Token == "" {
		t.Error("Token is empty")
	}
	if !s.Created.Equal(testStart) {
		t.Errorf("Created = %v; want %v", s.Created, testStart)
	}
	if want := testStart.Add(resonitetest.DefaultTokenLifetime); !s.Expire.Equal(want) {
		t.Errorf("Expire = %v; want %v", s.Expire, want)
	}
	if s.RememberMe {
		t.Error("RememberMe = true; want false")
	}
	if s.UID != testUID {
		t.Errorf("UID = %q; want %q", s.UID, testUID)
	}
	if s.SecretMachineIDHash == "" {
		t.Error("SecretMachineIDHash is empty")
	}
	if userID, ok := srv.Authenticate(s.Authorization()); !ok || userID != "U-alice" {
		t.Errorf("the server does not accept Authorization(): %q, %t", userID, ok)
	}
}

func TestLoginRequestHeaders(t *testing.T) {
	srv, api := newTestServer(t, nil)
	login(t, api, aliceLogin())

	req := lastRequest(t, srv)
	if req.Method != http.MethodPost || req.Path != "/userSessions" {
		t.Errorf("request = %s %s; want POST /userSessions", req.Method, req.Path)
	}
	if got := req.Header.Get("UID"); got != testUID {
		t.Errorf("UID header = %q; want %q", got, testUID)
	}
	if _, ok := req.Header["Totp"]; ok {
		t.Errorf("TOTP header sent without a code: %q", req.Header.Get("TOTP"))
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	if got := req.Header.Get("User-Agent"); got != resonite.DefaultUserAgent {
		t.Errorf("User-Agent = %q; want %q", got, resonite.DefaultUserAgent)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q; want none", got)
	}
}

func TestLoginBodyBytes(t *testing.T) {
	password, err := json.Marshal(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	auth := `"authentication":{"$type":"password","password":` + string(password) + `}`
	tail := auth + `,"secretMachineId":"` + testMachine + `","rememberMe":false}`
	tests := []struct {
		name string
		edit func(*resonite.LoginRequest)
		want string
	}{
		{"username", func(lr *resonite.LoginRequest) {}, `{"username":"alice",` + tail},
		{"username with @", func(lr *resonite.LoginRequest) { lr.Username = "alice@example.com" }, `{"email":"alice@example.com",` + tail},
		{"email", func(lr *resonite.LoginRequest) { lr.Username, lr.Email = "", "alice@example.com" }, `{"email":"alice@example.com",` + tail},
		{"owner ID", func(lr *resonite.LoginRequest) { lr.Username, lr.OwnerID = "", "U-alice" }, `{"ownerId":"U-alice",` + tail},
		{
			"remember me",
			func(lr *resonite.LoginRequest) { lr.RememberMe = true },
			`{"username":"alice",` + strings.Replace(tail, `"rememberMe":false`, `"rememberMe":true`, 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, api := newTestServer(t, nil)
			lr := aliceLogin()
			tt.edit(&lr)
			login(t, api, lr)
			if got := string(lastRequest(t, srv).Body); got != tt.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestLoginGeneratesSecretMachineID(t *testing.T) {
	srv, api := newTestServer(t, nil)
	lr := aliceLogin()
	lr.SecretMachineID = ""
	login(t, api, lr)

	var body struct {
		SecretMachineID string `json:"secretMachineId"`
	}
	if err := json.Unmarshal(lastRequest(t, srv).Body, &body); err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(body.SecretMachineID) {
		t.Errorf("secretMachineId = %q; want a UUID version 4", body.SecretMachineID)
	}
}

func TestLoginRememberMe(t *testing.T) {
	clock := newFakeClock(testStart)
	_, api := newTestServer(t, clock)
	lr := aliceLogin()
	lr.RememberMe = true
	s := login(t, api, lr)
	if !s.RememberMe {
		t.Error("RememberMe = false; want true")
	}
	if want := testStart.Add(resonitetest.DefaultRememberMeLifetime); !s.Expire.Equal(want) {
		t.Errorf("Expire = %v; want %v", s.Expire, want)
	}
}

func TestLoginWithTOTP(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, resonite.LoginRequest{Email: "bob@example.com", Password: testPassword, TOTP: testTOTP, UID: testUID})
	if s.UserID != "U-bob" {
		t.Errorf("UserID = %q; want U-bob", s.UserID)
	}
	if got := lastRequest(t, srv).Header.Get("TOTP"); got != testTOTP {
		t.Errorf("TOTP header = %q; want %q", got, testTOTP)
	}
}

func TestLoginTOTPRequired(t *testing.T) {
	for name, code := range map[string]string{"missing": "", "wrong": "000000"} {
		t.Run(name, func(t *testing.T) {
			_, api := newTestServer(t, nil)
			_, err := api.Login(context.Background(), resonite.LoginRequest{Username: "Bob", Password: testPassword, TOTP: code, UID: testUID})
			if !errors.Is(err, resonite.ErrTOTPRequired) {
				t.Fatalf("err = %v; want ErrTOTPRequired", err)
			}
			if errors.Is(err, resonite.ErrInvalidCredentials) {
				t.Errorf("err = %v also matches ErrInvalidCredentials", err)
			}
			statusErr, ok := errors.AsType[*resonite.StatusError](err)
			if !ok {
				t.Fatalf("err = %T; want *StatusError", err)
			}
			if statusErr.StatusCode != http.StatusForbidden {
				t.Errorf("StatusCode = %d; want 403", statusErr.StatusCode)
			}
			if statusErr.Body != "TOTP" {
				t.Errorf("Body = %q; want TOTP", statusErr.Body)
			}
			if code != "" && strings.Contains(err.Error(), code) {
				t.Errorf("error text contains the TOTP code: %v", err)
			}
		})
	}
}

func TestLoginInvalidCredentials(t *testing.T) {
	tests := map[string]resonite.LoginRequest{
		"wrong password": {Username: "alice", Password: "wrong password", UID: testUID},
		"unknown user":   {Username: "carol", Password: testPassword, UID: testUID},
		"unknown email":  {Email: "carol@example.com", Password: testPassword, UID: testUID},
	}
	for name, lr := range tests {
		t.Run(name, func(t *testing.T) {
			_, api := newTestServer(t, nil)
			_, err := api.Login(context.Background(), lr)
			if !errors.Is(err, resonite.ErrInvalidCredentials) {
				t.Fatalf("err = %v; want ErrInvalidCredentials", err)
			}
			statusErr, ok := errors.AsType[*resonite.StatusError](err)
			if !ok || statusErr.StatusCode != http.StatusBadRequest {
				t.Errorf("err = %#v; want a *StatusError with 400", err)
			}
			if strings.Contains(err.Error(), lr.Password) {
				t.Errorf("error text contains the password: %v", err)
			}
		})
	}
}

func TestLoginRateLimited(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.RateLimit(1, 7*time.Second)

	_, err := api.Login(context.Background(), aliceLogin())
	rateErr, ok := errors.AsType[*resonite.RateLimitError](err)
	if !ok {
		t.Fatalf("err = %v; want *RateLimitError", err)
	}
	if rateErr.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter = %v; want 7s", rateErr.RetryAfter)
	}
	if rateErr.Endpoint != "POST /userSessions" {
		t.Errorf("Endpoint = %q", rateErr.Endpoint)
	}

	// The limit applied to one request only.
	login(t, api, aliceLogin())
}

func TestLoginRateLimitedWithoutRetryAfter(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.RateLimit(1, 0)
	_, err := api.Login(context.Background(), aliceLogin())
	rateErr, ok := errors.AsType[*resonite.RateLimitError](err)
	if !ok {
		t.Fatalf("err = %v; want *RateLimitError", err)
	}
	if rateErr.RetryAfter != 0 {
		t.Errorf("RetryAfter = %v; want 0", rateErr.RetryAfter)
	}
}

func TestLoginUnexpectedStatus(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.FailNext(http.StatusServiceUnavailable, "down for maintenance")

	_, err := api.Login(context.Background(), aliceLogin())
	statusErr, ok := errors.AsType[*resonite.StatusError](err)
	if !ok {
		t.Fatalf("err = %v; want *StatusError", err)
	}
	if statusErr.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("StatusCode = %d; want 503", statusErr.StatusCode)
	}
	if statusErr.Body != "down for maintenance" {
		t.Errorf("Body = %q", statusErr.Body)
	}
	for _, sentinel := range []error{resonite.ErrTOTPRequired, resonite.ErrInvalidCredentials, resonite.ErrSessionExpired} {
		if errors.Is(err, sentinel) {
			t.Errorf("err matches %v", sentinel)
		}
	}
	want := `resonite: POST /userSessions: 503 Service Unavailable: response body "down for maintenance"`
	if err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}
}

func TestLoginForbiddenWithoutTOTPBody(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.FailNext(http.StatusForbidden, "Account locked")
	_, err := api.Login(context.Background(), aliceLogin())
	if errors.Is(err, resonite.ErrTOTPRequired) {
		t.Errorf("err = %v; a 403 without the body TOTP must not match ErrTOTPRequired", err)
	}
	if statusErr, ok := errors.AsType[*resonite.StatusError](err); !ok || statusErr.StatusCode != http.StatusForbidden {
		t.Errorf("err = %v; want a *StatusError with 403", err)
	}
}

func TestLoginErrorRedactsEcho(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.FailNext(http.StatusInternalServerError, `request {"password":"`+testPassword+`"} with TOTP `+testTOTP+` failed`)
	lr := aliceLogin()
	lr.TOTP = testTOTP
	_, err := api.Login(context.Background(), lr)
	if err == nil {
		t.Fatal("Login succeeded; want an error")
	}
	for _, secret := range []string{testPassword, testTOTP} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error text contains the secret %q: %v", secret, err)
		}
	}
	statusErr, _ := errors.AsType[*resonite.StatusError](err)
	if statusErr == nil || !strings.Contains(statusErr.Body, "[redacted]") {
		t.Errorf("Body = %v; want the secrets replaced by [redacted]", statusErr)
	}
}

func TestLoginErrorBodyTruncated(t *testing.T) {
	srv, api := newTestServer(t, nil)
	srv.FailNext(http.StatusInternalServerError, strings.Repeat("é", 1000))
	_, err := api.Login(context.Background(), aliceLogin())
	statusErr, ok := errors.AsType[*resonite.StatusError](err)
	if !ok {
		t.Fatalf("err = %v; want *StatusError", err)
	}
	if len(statusErr.Body) > resonite.MaxErrorBody {
		t.Errorf("len(Body) = %d; want at most %d", len(statusErr.Body), resonite.MaxErrorBody)
	}
	if !strings.HasPrefix(statusErr.Body, "éé") || strings.ContainsRune(statusErr.Body, '\uFFFD') {
		t.Errorf("Body was not cut at a character boundary: %q", statusErr.Body[len(statusErr.Body)-4:])
	}
}

func TestLoginInvalidResponse(t *testing.T) {
	for name, body := range map[string]string{"not JSON": "<html>", "no token": `{"entity":{"userId":"U-alice"}}`} {
		t.Run(name, func(t *testing.T) {
			srv, api := newTestServer(t, nil)
			srv.FailNext(http.StatusOK, body)
			s, err := api.Login(context.Background(), aliceLogin())
			if err == nil {
				t.Fatalf("Login = %v; want an error", s)
			}
		})
	}
}

func TestLoginInvalidRequest(t *testing.T) {
	tests := map[string]func(*resonite.LoginRequest){
		"no identifier":   func(lr *resonite.LoginRequest) { lr.Username = "" },
		"two identifiers": func(lr *resonite.LoginRequest) { lr.Email = "alice@example.com" },
		"no password":     func(lr *resonite.LoginRequest) { lr.Password = "" },
		"no UID":          func(lr *resonite.LoginRequest) { lr.UID = "" },
		"UID with space":  func(lr *resonite.LoginRequest) { lr.UID = "AB CD" },
		"TOTP with CRLF":  func(lr *resonite.LoginRequest) { lr.TOTP = "123\r\nX: y" },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			srv, api := newTestServer(t, nil)
			lr := aliceLogin()
			edit(&lr)
			if _, err := api.Login(context.Background(), lr); err == nil {
				t.Fatal("Login succeeded; want an error")
			} else if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error text contains the password: %v", err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("the server received %d requests; want none", n)
			}
		})
	}
}

func TestLoginCanceled(t *testing.T) {
	_, api := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := api.Login(ctx, aliceLogin())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
}

func TestExtendSuccess(t *testing.T) {
	clock := newFakeClock(testStart)
	srv, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())

	clock.Advance(time.Hour)
	if err := api.Extend(context.Background(), s); err != nil {
		t.Fatalf("Extend: %v", err)
	}

	req := lastRequest(t, srv)
	if req.Method != http.MethodPatch || req.Path != "/userSessions" {
		t.Errorf("request = %s %s; want PATCH /userSessions", req.Method, req.Path)
	}
	if got := req.Header.Get("Authorization"); got != "res U-alice:"+s.Token {
		t.Errorf("Authorization header is not res <userId>:<token>")
	}
	if got := req.Header.Get("UID"); got != testUID {
		t.Errorf("UID header = %q; want %q", got, testUID)
	}
	if got := req.Header.Get("User-Agent"); got != resonite.DefaultUserAgent {
		t.Errorf("User-Agent = %q", got)
	}
	if len(req.Body) != 0 {
		t.Errorf("body = %q; want none", req.Body)
	}
	expire, ok := srv.TokenExpire(s.Token)
	if want := testStart.Add(time.Hour + resonitetest.DefaultTokenLifetime); !ok || !expire.Equal(want) {
		t.Errorf("server expiry = %v, %t; want %v", expire, ok, want)
	}
}

func TestExtendExpiredToken(t *testing.T) {
	clock := newFakeClock(testStart)
	_, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())

	clock.Advance(resonitetest.DefaultTokenLifetime)
	err := api.Extend(context.Background(), s)
	if !errors.Is(err, resonite.ErrSessionExpired) {
		t.Fatalf("err = %v; want ErrSessionExpired", err)
	}
	if statusErr, ok := errors.AsType[*resonite.StatusError](err); !ok || statusErr.StatusCode != http.StatusForbidden {
		t.Errorf("err = %v; want a *StatusError with 403", err)
	}
	if strings.Contains(err.Error(), s.Token) {
		t.Errorf("error text contains the token: %v", err)
	}
}

func TestExtendRevokedToken(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, aliceLogin())
	srv.Revoke(s.Token)
	if err := api.Extend(context.Background(), s); !errors.Is(err, resonite.ErrSessionExpired) {
		t.Errorf("err = %v; want ErrSessionExpired", err)
	}
}

func TestExtendRateLimited(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, aliceLogin())
	srv.RateLimit(1, 90*time.Second)
	err := api.Extend(context.Background(), s)
	if rateErr, ok := errors.AsType[*resonite.RateLimitError](err); !ok || rateErr.RetryAfter != 90*time.Second {
		t.Errorf("err = %v; want a *RateLimitError with 1m30s", err)
	}
}

func TestLogout(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, aliceLogin())

	if err := api.Logout(context.Background(), s); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	req := lastRequest(t, srv)
	if want := "/userSessions/U-alice/" + s.Token; req.Method != http.MethodDelete || req.Path != want {
		t.Errorf("request = %s %s; want DELETE /userSessions/U-alice/<token>", req.Method, req.Path)
	}
	if req.Header.Get("Authorization") != s.Authorization() {
		t.Error("Authorization header is not res <userId>:<token>")
	}
	if _, ok := srv.Authenticate(s.Authorization()); ok {
		t.Error("the token still works after Logout")
	}

	// A second logout finds the token gone and succeeds.
	if err := api.Logout(context.Background(), s); err != nil {
		t.Errorf("second Logout: %v", err)
	}
	if got := lastRequest(t, srv).Path; got != req.Path {
		t.Errorf("second Logout sent %s", got)
	}
}

func TestLogoutExpiredToken(t *testing.T) {
	clock := newFakeClock(testStart)
	_, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())
	clock.Advance(48 * time.Hour)
	if err := api.Logout(context.Background(), s); err != nil {
		t.Errorf("Logout of an expired token: %v", err)
	}
}

func TestLogoutAlreadyLoggedOutStatuses(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound} {
		srv, api := newTestServer(t, nil)
		s := login(t, api, aliceLogin())
		srv.FailNext(status, "")
		if err := api.Logout(context.Background(), s); err != nil {
			t.Errorf("Logout with %d: %v; want nil", status, err)
		}
	}
}

func TestLogoutServerError(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, aliceLogin())
	srv.FailNext(http.StatusInternalServerError, "")
	err := api.Logout(context.Background(), s)
	statusErr, ok := errors.AsType[*resonite.StatusError](err)
	if !ok || statusErr.StatusCode != http.StatusInternalServerError {
		t.Fatalf("err = %v; want a *StatusError with 500", err)
	}
	if statusErr.Endpoint != "DELETE /userSessions/{userId}/{token}" {
		t.Errorf("Endpoint = %q", statusErr.Endpoint)
	}
	if strings.Contains(err.Error(), s.Token) {
		t.Errorf("error text contains the token: %v", err)
	}
	if _, ok := srv.Authenticate(s.Authorization()); !ok {
		t.Error("the token stopped working although Logout failed")
	}
}

func TestTransportErrorHidesToken(t *testing.T) {
	srv, api := newTestServer(t, nil)
	s := login(t, api, aliceLogin())
	srv.Close()

	for name, call := range map[string]func() error{
		"Logout": func() error { return api.Logout(context.Background(), s) },
		"Extend": func() error { return api.Extend(context.Background(), s) },
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s to a closed server succeeded", name)
		}
		if strings.Contains(err.Error(), s.Token) {
			t.Errorf("%s error text contains the token: %v", name, err)
		}
		if !strings.Contains(err.Error(), "/userSessions") {
			t.Errorf("%s error text does not name the endpoint: %v", name, err)
		}
	}
}

func TestNewUID(t *testing.T) {
	hex64 := regexp.MustCompile(`^[0-9A-F]{64}$`)
	a, b := resonite.NewUID(), resonite.NewUID()
	if !hex64.MatchString(a) {
		t.Errorf("NewUID() = %q; want 64 uppercase hex digits", a)
	}
	if a == b {
		t.Errorf("NewUID() returned %q twice", a)
	}
}

func TestUIDFromSeed(t *testing.T) {
	sum := sha256.Sum256([]byte("machine-1234"))
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := resonite.UIDFromSeed("machine-1234"); got != want {
		t.Errorf("UIDFromSeed = %s; want %s", got, want)
	}
}

func TestDefaultUserAgentNamesVersion(t *testing.T) {
	if !strings.HasPrefix(resonite.DefaultUserAgent, "hubwire/"+resonite.Version+" ") {
		t.Errorf("DefaultUserAgent = %q; want it to start with hubwire/%s", resonite.DefaultUserAgent, resonite.Version)
	}
}

func TestCustomUserAgent(t *testing.T) {
	srv, api := newTestServer(t, nil)
	api.UserAgent = "mybot/2.0"
	login(t, api, aliceLogin())
	if got := lastRequest(t, srv).Header.Get("User-Agent"); got != "mybot/2.0" {
		t.Errorf("User-Agent = %q; want mybot/2.0", got)
	}
}

// lockedBuffer is a bytes.Buffer for log handlers that several goroutines
// write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNoSecretsInLogsOrErrors(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newFakeClock(testStart)
	srv := resonitetest.NewServer(resonitetest.Options{Users: []resonitetest.User{alice, bob}, Now: clock.Now, Logger: logger})
	defer srv.Close()
	api := &resonite.API{BaseURL: srv.URL, Logger: logger}
	ctx := context.Background()

	var errs []error
	call := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	bobLogin := resonite.LoginRequest{Username: "Bob", Password: testPassword, UID: testUID}
	_, err := api.Login(ctx, bobLogin)
	call(err)
	bobLogin.TOTP = "111111"
	_, err = api.Login(ctx, bobLogin)
	call(err)
	bobLogin.TOTP = testTOTP
	s, err := api.Login(ctx, bobLogin)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	call(api.Extend(ctx, s))
	srv.FailNext(http.StatusInternalServerError, "token "+s.Token)
	call(api.Extend(ctx, s))
	srv.RateLimit(1, time.Second)
	call(api.Logout(ctx, s))
	call(api.Logout(ctx, s))
	clock.Advance(48 * time.Hour)
	call(api.Extend(ctx, s))
	call(api.Logout(ctx, s))
	logger.Debug("session", "session", s)
	srv.Close()
	call(api.Logout(ctx, s))

	if len(errs) < 5 {
		t.Errorf("got %d errors; the test expects at least 5", len(errs))
	}
	output := logs.String()
	if !strings.Contains(output, "POST /userSessions") {
		t.Errorf("the log has no request records:\n%s", output)
	}
	for _, err := range errs {
		output += "\n" + err.Error()
	}
	secrets := map[string]string{
		"password":      testPassword,
		"TOTP code":     testTOTP,
		"wrong TOTP":    "111111",
		"token":         s.Token,
		"authorization": s.Authorization(),
	}
	for name, secret := range secrets {
		if strings.Contains(output, secret) {
			t.Errorf("the %s appears in the logs or errors:\n%s", name, output)
		}
	}
	// The password is also checked in its JSON-escaped form.
	escaped, _ := json.Marshal(testPassword)
	if strings.Contains(output, string(escaped[1:len(escaped)-1])) {
		t.Errorf("the escaped password appears in the logs or errors")
	}
}
