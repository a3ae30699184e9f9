package resonitetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newUserServer(t *testing.T, now func() time.Time) *Server {
	t.Helper()
	srv := NewServer(Options{
		Users: []User{{ID: "U-alice", Username: "Alice", Email: "alice@example.com", Password: "pw"}},
		Now:   now,
	})
	t.Cleanup(srv.Close)
	return srv
}

// post sends a login request and returns the status and body.
func post(t *testing.T, srv *Server, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/userSessions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("UID", "ABC")
	for key, value := range header {
		if value == "" {
			req.Header.Del(key)
		} else {
			req.Header.Set(key, value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

const validLogin = `{"username":"alice","authentication":{"$type":"password","password":"pw"},"secretMachineId":"m","rememberMe":false}`

func TestLoginChecks(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"valid", validLogin, nil, http.StatusOK, ""},
		{"email", strings.Replace(validLogin, `"username":"alice"`, `"email":"ALICE@example.com"`, 1), nil, http.StatusOK, ""},
		{"owner ID", strings.Replace(validLogin, `"username":"alice"`, `"ownerID":"U-alice"`, 1), nil, http.StatusOK, ""},
		{"wrong password", strings.Replace(validLogin, `"pw"`, `"nope"`, 1), nil, http.StatusBadRequest, "Invalid credentials"},
		{"$type second", strings.Replace(validLogin, `"$type":"password","password":"pw"`, `"password":"pw","$type":"password"`, 1),
			nil, http.StatusBadRequest, "authentication must start with $type"},
		{"other $type", strings.Replace(validLogin, `"$type":"password"`, `"$type":"sessionToken"`, 1), nil, http.StatusBadRequest, "Unsupported authentication type"},
		{"two identifiers", strings.Replace(validLogin, `"username":"alice"`, `"username":"alice","email":"alice@example.com"`, 1),
			nil, http.StatusBadRequest, "Only one of username, email and ownerId may be set"},
		{"no secretMachineId", strings.Replace(validLogin, `"secretMachineId":"m"`, `"secretMachineId":""`, 1), nil, http.StatusBadRequest, "secretMachineId is required"},
		{"not JSON", "username=alice", nil, http.StatusBadRequest, "Invalid request body"},
		{"no UID", validLogin, map[string]string{"UID": ""}, http.StatusBadRequest, "UID header is missing"},
		{"form content type", validLogin, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			http.StatusUnsupportedMediaType, "Content-Type must be application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newUserServer(t, nil)
			status, body := post(t, srv, tt.body, tt.header)
			if status != tt.wantStatus {
				t.Errorf("status = %d; want %d (body %q)", status, tt.wantStatus, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body = %q; want %q", body, tt.wantBody)
			}
		})
	}
}

func TestLoginResponseShape(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := newUserServer(t, func() time.Time { return start })
	status, body := post(t, srv, validLogin, nil)
	if status != http.StatusOK {
		t.Fatalf("status = %d, body %q", status, body)
	}
	var resp struct {
		Entity      map[string]any `json:"entity"`
		ConfigFiles any            `json:"configFiles"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Entity["userId"] != "U-alice" {
		t.Errorf("userId = %v", resp.Entity["userId"])
	}
	if resp.Entity["created"] != "2025-03-01T12:00:00.0000000Z" {
		t.Errorf("created = %v", resp.Entity["created"])
	}
	if resp.Entity["expire"] != "2025-03-02T12:00:00.0000000Z" {
		t.Errorf("expire = %v", resp.Entity["expire"])
	}
	token, _ := resp.Entity["token"].(string)
	if _, ok := srv.Authenticate("res U-alice:" + token); !ok {
		t.Error("Authenticate rejects the new token")
	}
	if logins, _ := srv.Counts(); logins != 1 {
		t.Errorf("logins = %d; want 1", logins)
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := newUserServer(t, func() time.Time { return now })
	_, body := post(t, srv, validLogin, nil)
	var resp struct {
		Entity struct {
			Token string `json:"token"`
		} `json:"entity"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	token := resp.Entity.Token

	for _, bad := range []string{"", "res ", "res U-alice", "res U-alice:", "Bearer " + token, "res U-bob:" + token, "res U-alice:x" + token} {
		if _, ok := srv.Authenticate(bad); ok {
			t.Errorf("Authenticate(%q) = true", bad)
		}
	}
	if id, ok := srv.Authenticate("res U-alice:" + token); !ok || id != "U-alice" {
		t.Errorf("Authenticate(valid) = %q, %t", id, ok)
	}
	if expire, ok := srv.TokenExpire(token); !ok || !expire.Equal(now.Add(DefaultTokenLifetime)) {
		t.Errorf("TokenExpire = %v, %t", expire, ok)
	}
	srv.RevokeAll()
	if _, ok := srv.Authenticate("res U-alice:" + token); ok {
		t.Error("Authenticate accepts a token after RevokeAll")
	}
	if _, ok := srv.TokenExpire(token); ok {
		t.Error("TokenExpire finds a revoked token")
	}
}

func TestGetUser(t *testing.T) {
	srv := newUserServer(t, nil)
	for path, wantStatus := range map[string]int{
		"/users/U-alice":                http.StatusOK,
		"/users/alice?byUsername=true":  http.StatusOK,
		"/users/U-nobody":               http.StatusNotFound,
		"/users/alice":                  http.StatusNotFound,
		"/users/nobody?byUsername=true": http.StatusNotFound,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var user struct {
			ID       string `json:"id"`
			Username string `json:"username"`
		}
		json.NewDecoder(resp.Body).Decode(&user)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Errorf("GET %s: status %d; want %d", path, resp.StatusCode, wantStatus)
		}
		if wantStatus == http.StatusOK && (user.ID != "U-alice" || user.Username != "Alice") {
			t.Errorf("GET %s = %+v", path, user)
		}
	}
}

func TestAddUserReplaces(t *testing.T) {
	srv := newUserServer(t, nil)
	srv.AddUser(User{ID: "U-alice", Username: "Alice", Password: "new"})
	if status, _ := post(t, srv, validLogin, nil); status != http.StatusBadRequest {
		t.Errorf("login with the old password: status %d; want 400", status)
	}
	u, ok := srv.User("U-alice")
	if !ok || u.Password != "new" {
		t.Errorf("User = %+v, %t", u, ok)
	}
}

func TestCloseTwice(t *testing.T) {
	srv := NewServer(Options{})
	srv.Close()
	srv.Close()
}
