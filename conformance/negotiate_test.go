package conformance

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// idPattern matches the connection ids and tokens: 16 bytes in unpadded
// base64url.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

type negotiateBody struct {
	NegotiateVersion *int   `json:"negotiateVersion"`
	ConnectionID     string `json:"connectionId"`
	ConnectionToken  string `json:"connectionToken"`
	URL              string `json:"url"`
	AccessToken      string `json:"accessToken"`
	Error            string `json:"error"`
}

func decodeNegotiate(t *testing.T, body string) negotiateBody {
	t.Helper()
	var n negotiateBody
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatalf("negotiate body %q: %v", body, err)
	}
	return n
}

func TestNegotiateVersions(t *testing.T) {
	srv := startServer(t, Options{})
	tests := []struct {
		name  string
		query string
		want  *regexp.Regexp
	}{
		{
			name:  "absent",
			query: "",
			want:  regexp.MustCompile(`^\{"negotiateVersion":0,"connectionId":"[A-Za-z0-9_-]{22}","availableTransports":\[\{"transport":"WebSockets","transferFormats":\["Text","Binary"\]\}\]\}$`),
		},
		{
			name:  "v0",
			query: "?negotiateVersion=0",
			want:  regexp.MustCompile(`^\{"negotiateVersion":0,"connectionId":"[A-Za-z0-9_-]{22}","availableTransports":\[\{"transport":"WebSockets","transferFormats":\["Text","Binary"\]\}\]\}$`),
		},
		{
			name:  "v1",
			query: "?negotiateVersion=1",
			want:  regexp.MustCompile(`^\{"negotiateVersion":1,"connectionId":"[A-Za-z0-9_-]{22}","connectionToken":"[A-Za-z0-9_-]{22}","availableTransports":\[\{"transport":"WebSockets","transferFormats":\["Text","Binary"\]\}\]\}$`),
		},
		{
			name:  "above the maximum",
			query: "?negotiateVersion=7",
			want:  regexp.MustCompile(`^\{"negotiateVersion":1,"connectionId":"[^"]+","connectionToken":"[^"]+",`),
		},
		{
			name:  "invalid",
			query: "?negotiateVersion=x",
			want:  regexp.MustCompile(`^\{"error":"The client requested an invalid protocol version 'x'"\}$`),
		},
		{
			name:  "negative",
			query: "?negotiateVersion=-1",
			want:  regexp.MustCompile(`^\{"error":"The client requested version '-1', but the server does not support this version."\}$`),
		},
		{
			name:  "stateful reconnect not enabled",
			query: "?negotiateVersion=1&useStatefulReconnect=true",
			want:  regexp.MustCompile(`^\{"negotiateVersion":1,`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := negotiate(t, srv.HubURL()+"/negotiate"+tt.query, nil)
			if status != http.StatusOK {
				t.Fatalf("status = %d; want 200", status)
			}
			if !tt.want.MatchString(body) {
				t.Errorf("body = %s; want a match of %s", body, tt.want)
			}
		})
	}
}

func TestNegotiateIDsDiffer(t *testing.T) {
	srv := startServer(t, Options{})
	_, body := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil)
	n := decodeNegotiate(t, body)
	if !idPattern.MatchString(n.ConnectionID) || !idPattern.MatchString(n.ConnectionToken) {
		t.Fatalf("ids %q and %q are not 16 bytes of base64url", n.ConnectionID, n.ConnectionToken)
	}
	if n.ConnectionID == n.ConnectionToken {
		t.Errorf("connectionId and connectionToken are both %q", n.ConnectionID)
	}
}

func TestNegotiateStatefulReconnect(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true})
	_, body := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", nil)
	if !strings.HasPrefix(body, `{"useStatefulReconnect":true,"negotiateVersion":1,"connectionId":`) {
		t.Errorf("body = %s; want useStatefulReconnect first", body)
	}
	_, body = negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil)
	if strings.Contains(body, "useStatefulReconnect") {
		t.Errorf("body = %s; want no useStatefulReconnect when the client did not ask", body)
	}
}

func TestNegotiateRedirect(t *testing.T) {
	srv := startServer(t, Options{
		Redirect: func(r *http.Request) *Redirect {
			switch r.URL.Query().Get("hop") {
			case "":
				return &Redirect{URL: "http://127.0.0.1:1/hub?hop=1", AccessToken: "secret\"token"}
			case "1":
				return &Redirect{URL: "http://127.0.0.1:1/hub?hop=2"}
			}
			return nil
		},
	})
	tests := []struct {
		query string
		want  string
	}{
		{"", `{"negotiateVersion":0,"url":"http://127.0.0.1:1/hub?hop=1","accessToken":"secret\"token","availableTransports":[]}`},
		{"?hop=1", `{"negotiateVersion":0,"url":"http://127.0.0.1:1/hub?hop=2","availableTransports":[]}`},
	}
	for _, tt := range tests {
		_, body := negotiate(t, srv.HubURL()+"/negotiate"+tt.query, nil)
		if body != tt.want {
			t.Errorf("negotiate%s = %s; want %s", tt.query, body, tt.want)
		}
	}
	_, body := negotiate(t, srv.HubURL()+"/negotiate?hop=2&negotiateVersion=1", nil)
	if n := decodeNegotiate(t, body); n.ConnectionToken == "" {
		t.Errorf("end of the redirect chain = %s; want a connection", body)
	}
}

func TestNegotiateError(t *testing.T) {
	srv := startServer(t, Options{
		NegotiateError: func(*http.Request) string { return "This connection is not allowed." },
		Redirect:       func(*http.Request) *Redirect { return &Redirect{URL: "http://127.0.0.1:1/"} },
	})
	status, body := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil)
	if status != http.StatusOK {
		t.Errorf("status = %d; want 200", status)
	}
	if want := `{"error":"This connection is not allowed."}`; body != want {
		t.Errorf("body = %s; want %s", body, want)
	}
}

func TestNegotiateUnauthorized(t *testing.T) {
	srv := startServer(t, Options{
		Authorize: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer good" },
	})
	status, _ := negotiate(t, srv.HubURL()+"/negotiate", nil)
	if status != http.StatusUnauthorized {
		t.Errorf("status without a token = %d; want 401", status)
	}
	status, _ = negotiate(t, srv.HubURL()+"/negotiate", http.Header{"Authorization": {"Bearer bad"}})
	if status != http.StatusUnauthorized {
		t.Errorf("status with a wrong token = %d; want 401", status)
	}
	status, _ = negotiate(t, srv.HubURL()+"/negotiate", http.Header{"Authorization": {"Bearer good"}})
	if status != http.StatusOK {
		t.Errorf("status with the token = %d; want 200", status)
	}

	_, err := tryDialRaw(t, srv.HubURL(), nil)
	if want := ws.StatusError(http.StatusUnauthorized); err != want {
		t.Errorf("WebSocket without a token: error %v; want %v", err, want)
	}
	c := dialRaw(t, srv.HubURL(), http.Header{"Authorization": {"Bearer good"}})
	c.handshake()
}

func TestNegotiateMethodAndPath(t *testing.T) {
	srv := startServer(t, Options{})
	resp, err := httpClient(t).Get(srv.HubURL() + "/negotiate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET negotiate: status %d; want 405", resp.StatusCode)
	}
	status, _ := negotiate(t, srv.URL()+"/other/negotiate", nil)
	if status != http.StatusNotFound {
		t.Errorf("negotiate on another path: status %d; want 404", status)
	}
}

func TestWebSocketConnectionIDs(t *testing.T) {
	srv := startServer(t, Options{})
	_, body := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil)
	n := decodeNegotiate(t, body)

	if _, err := tryDialRaw(t, srv.HubURL()+"?id=unknown", nil); err != ws.StatusError(http.StatusNotFound) {
		t.Errorf("unknown id: error %v; want 404", err)
	}
	if _, err := tryDialRaw(t, srv.HubURL()+"?id="+n.ConnectionID, nil); err != ws.StatusError(http.StatusNotFound) {
		t.Errorf("connectionId instead of the token in version 1: error %v; want 404", err)
	}

	first := dialRaw(t, srv.HubURL()+"?id="+n.ConnectionToken, nil)
	first.handshake()
	if _, err := tryDialRaw(t, srv.HubURL()+"?id="+n.ConnectionToken, nil); err != ws.StatusError(http.StatusConflict) {
		t.Errorf("second WebSocket for the token: error %v; want 409", err)
	}
	conns := srv.Conns()
	if len(conns) != 1 || conns[0].ID() != n.ConnectionID {
		t.Fatalf("Conns() = %v; want the connection %s", conns, n.ConnectionID)
	}

	// Once the connection has ended its token is unknown.
	first.sendRecord(`{"type":7}`)
	first.expectClosed()
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })
	if _, err := tryDialRaw(t, srv.HubURL()+"?id="+n.ConnectionToken, nil); err != ws.StatusError(http.StatusNotFound) {
		t.Errorf("token of an ended connection: error %v; want 404", err)
	}
}

func TestWebSocketVersion0UsesConnectionID(t *testing.T) {
	srv := startServer(t, Options{})
	_, body := negotiate(t, srv.HubURL()+"/negotiate", nil)
	n := decodeNegotiate(t, body)
	c := dialRaw(t, srv.HubURL()+"?id="+n.ConnectionID, nil)
	c.handshake()
}

func TestWebSocketSkipNegotiation(t *testing.T) {
	srv := startServer(t, Options{})
	c := dialRaw(t, srv.HubURL(), nil)
	c.handshake()
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`)
	c.expectRecord(`{"type":3,"invocationId":"1","result":3}`)
	conns := srv.Conns()
	if len(conns) != 1 || !idPattern.MatchString(conns[0].ID()) {
		t.Errorf("Conns() = %v; want one connection with a generated id", conns)
	}
}

func TestHubPathWithoutUpgrade(t *testing.T) {
	srv := startServer(t, Options{})
	resp, err := httpClient(t).Get(srv.HubURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET hub without upgrade: status %d; want 400", resp.StatusCode)
	}
}
