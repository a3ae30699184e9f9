package transport_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hubwire/hubwire/signalr/transport"
)

// negotiateDeviations lists the vectors of negotiate.jsonl that the runner
// does not check as written, with the reason. The runner fails when an
// entry matches no vector.
var negotiateDeviations = map[string]string{
	"dotnet/WriteNegotiateResponseWithNullAvailableTransports": "server-side writer vector: a client " +
		"never writes negotiate responses, so this package has no writer",
	"dotnet/WriteNegotiateResponseWithNullTransferFormats": "server-side writer vector: a client " +
		"never writes negotiate responses, so this package has no writer",
	"impl/write_v1_stateful": "server-side writer vector: a client never writes negotiate responses; " +
		"the same bytes are parsed by impl/read_v1_stateful",
	"impl/write_error": "server-side writer vector: a client never writes negotiate responses; " +
		"the same bytes are parsed by impl/read_error",
}

// negotiateVector is one line of negotiate.jsonl.
type negotiateVector struct {
	Name        string                     `json:"name"`
	Direction   string                     `json:"direction"`
	Encoding    string                     `json:"encoding"`
	Kind        string                     `json:"kind"`
	Side        string                     `json:"side"`
	Input       string                     `json:"input"`
	Output      string                     `json:"output"`
	Expect      map[string]json.RawMessage `json:"expect"`
	ExpectError *struct {
		Kind string `json:"kind"`
	} `json:"expect_error"`
	Message   json.RawMessage `json:"message"`
	ConnectID string          `json:"connect_id"`
}

func TestNegotiateVectors(t *testing.T) {
	vectors := loadNegotiateVectors(t)
	used := make(map[string]bool)
	var ran, passed, deviated int

	for _, v := range vectors {
		if reason, ok := negotiateDeviations[v.Name]; ok {
			used[v.Name] = true
			deviated++
			t.Logf("deviated %s: %s", v.Name, reason)
			continue
		}
		ran++
		ok := t.Run(v.Name, func(t *testing.T) { runNegotiateVector(t, v) })
		if ok {
			passed++
		}
	}

	for name := range negotiateDeviations {
		if !used[name] {
			t.Errorf("deviation entry %q matches no vector in negotiate.jsonl", name)
		}
	}
	t.Logf("negotiate.jsonl vectors: %d lines, %d ran, %d passed, %d deviated and not run", len(vectors), ran, passed, deviated)
	if ran+deviated != len(vectors) {
		t.Errorf("negotiate vectors: %d ran + %d deviated != %d lines", ran, deviated, len(vectors))
	}
}

func loadNegotiateVectors(t *testing.T) []negotiateVector {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "vectors", "negotiate.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var vectors []negotiateVector
	names := make(map[string]bool)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v negotiateVector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("negotiate.jsonl line %d: %v", line, err)
		}
		if names[v.Name] {
			t.Fatalf("negotiate.jsonl line %d: duplicate name %q", line, v.Name)
		}
		names[v.Name] = true
		vectors = append(vectors, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("negotiate.jsonl has no vectors")
	}
	return vectors
}

func runNegotiateVector(t *testing.T, v negotiateVector) {
	if v.Encoding != "text" {
		t.Fatalf("encoding %q: the runner reads only text vectors", v.Encoding)
	}
	switch {
	case v.Direction == "read" && v.ExpectError != nil:
		runParseErrorVector(t, v)
	case v.Direction == "read" && v.Expect != nil:
		runParseVector(t, v)
	case v.Direction == "write" && v.Kind == "negotiate_url":
		runNegotiateURLVector(t, v)
	case v.Direction == "write" && v.Kind == "websocket_url":
		runWebSocketURLVector(t, v)
	default:
		t.Fatalf("no runner for direction %q, kind %q, side %q; add one or a deviation entry",
			v.Direction, v.Kind, v.Side)
	}
}

func runParseErrorVector(t *testing.T, v negotiateVector) {
	resp, err := transport.ParseNegotiateResponse([]byte(v.Input))
	if err == nil {
		t.Fatalf("ParseNegotiateResponse(%s) = %+v; want an error of kind %s", v.Input, resp, v.ExpectError.Kind)
	}
	var want error
	switch v.ExpectError.Kind {
	case "invalid_negotiate_response":
		want = transport.ErrInvalidNegotiateResponse
	case "legacy_aspnet_signalr_server":
		want = transport.ErrClassicServer
	default:
		t.Fatalf("unknown expect_error kind %q", v.ExpectError.Kind)
	}
	if !errors.Is(err, want) {
		t.Errorf("ParseNegotiateResponse(%s) error = %v; want errors.Is %v", v.Input, err, want)
	}
	var respErr *transport.ResponseError
	if !errors.As(err, &respErr) {
		t.Errorf("ParseNegotiateResponse(%s) error %T is not a *ResponseError", v.Input, err)
	}
}

func runParseVector(t *testing.T, v negotiateVector) {
	want := expectedResponse(t, v.Expect)
	got, err := transport.ParseNegotiateResponse([]byte(v.Input))
	if err != nil {
		t.Fatalf("ParseNegotiateResponse(%s) error: %v", v.Input, err)
	}
	compareResponse(t, got, want)

	if v.ConnectID != "" {
		res := negotiateBody(t, v.Input)
		if res.Response.ConnectionToken != v.ConnectID {
			t.Errorf("Negotiate: ConnectionToken = %q; want the connect id %q",
				res.Response.ConnectionToken, v.ConnectID)
		}
	}
}

// expectedResponse builds the response the expect object of a vector
// describes. It fails on properties it does not know, so that none is
// silently ignored.
func expectedResponse(t *testing.T, expect map[string]json.RawMessage) *transport.NegotiateResponse {
	t.Helper()
	if kind := string(expect["kind"]); kind != `"NegotiateResponse"` {
		t.Fatalf("expect.kind = %s; want \"NegotiateResponse\"", kind)
	}
	want := new(transport.NegotiateResponse)
	for key, raw := range expect {
		var target any
		switch key {
		case "kind":
			continue
		case "negotiateVersion":
			target = &want.NegotiateVersion
		case "connectionId":
			target = &want.ConnectionID
		case "connectionToken":
			target = &want.ConnectionToken
		case "url":
			target = &want.URL
		case "accessToken":
			target = &want.AccessToken
		case "error":
			target = &want.Error
		case "useStatefulReconnect":
			target = &want.UseStatefulReconnect
		case "availableTransports":
			var list []struct {
				Transport       string   `json:"transport"`
				TransferFormats []string `json:"transferFormats"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				t.Fatalf("expect.availableTransports: %v", err)
			}
			want.AvailableTransports = []transport.AvailableTransport{}
			for _, e := range list {
				want.AvailableTransports = append(want.AvailableTransports, transport.AvailableTransport{
					Transport:       e.Transport,
					TransferFormats: e.TransferFormats,
				})
			}
			continue
		default:
			t.Fatalf("expect has property %q, which the runner does not compare", key)
		}
		if err := json.Unmarshal(raw, target); err != nil {
			t.Fatalf("expect.%s: %v", key, err)
		}
	}
	return want
}

func compareResponse(t *testing.T, got, want *transport.NegotiateResponse) {
	t.Helper()
	if got.NegotiateVersion != want.NegotiateVersion {
		t.Errorf("NegotiateVersion = %d; want %d", got.NegotiateVersion, want.NegotiateVersion)
	}
	if got.ConnectionID != want.ConnectionID {
		t.Errorf("ConnectionID = %q; want %q", got.ConnectionID, want.ConnectionID)
	}
	if got.ConnectionToken != want.ConnectionToken {
		t.Errorf("ConnectionToken = %q; want %q", got.ConnectionToken, want.ConnectionToken)
	}
	if got.URL != want.URL {
		t.Errorf("URL = %q; want %q", got.URL, want.URL)
	}
	if got.AccessToken != want.AccessToken {
		t.Errorf("AccessToken = %q; want %q", got.AccessToken, want.AccessToken)
	}
	if got.Error != want.Error {
		t.Errorf("Error = %q; want %q", got.Error, want.Error)
	}
	if got.UseStatefulReconnect != want.UseStatefulReconnect {
		t.Errorf("UseStatefulReconnect = %v; want %v", got.UseStatefulReconnect, want.UseStatefulReconnect)
	}
	if (got.AvailableTransports == nil) != (want.AvailableTransports == nil) {
		t.Errorf("AvailableTransports = %#v; want %#v (absent and empty differ)",
			got.AvailableTransports, want.AvailableTransports)
	}
	if !slices.EqualFunc(got.AvailableTransports, want.AvailableTransports, equalTransport) {
		t.Errorf("AvailableTransports = %+v; want %+v", got.AvailableTransports, want.AvailableTransports)
	}
}

func equalTransport(a, b transport.AvailableTransport) bool {
	return a.Transport == b.Transport && slices.Equal(a.TransferFormats, b.TransferFormats)
}

// negotiateBody runs Negotiate against a server that replies with body.
func negotiateBody(t *testing.T, body string) *transport.NegotiateResult {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer srv.Close()
	res, err := transport.Negotiate(context.Background(), srv.Client(), srv.URL+"/hub", transport.NegotiateOptions{})
	if err != nil {
		t.Fatalf("Negotiate: %v", err)
	}
	return res
}

func runNegotiateURLVector(t *testing.T, v negotiateVector) {
	var m struct {
		HubURL               string `json:"hubUrl"`
		NegotiateVersion     *int   `json:"negotiateVersion"`
		UseStatefulReconnect bool   `json:"useStatefulReconnect"`
	}
	if err := json.Unmarshal(v.Message, &m); err != nil {
		t.Fatalf("message: %v", err)
	}
	if m.NegotiateVersion == nil {
		t.Fatal("message has no negotiateVersion")
	}
	got, err := transport.NegotiateURL(m.HubURL, *m.NegotiateVersion, m.UseStatefulReconnect)
	if err != nil {
		t.Fatalf("NegotiateURL(%q) error: %v", m.HubURL, err)
	}
	if got != v.Output {
		t.Errorf("NegotiateURL(%q, %d, %v) = %q; want %q",
			m.HubURL, *m.NegotiateVersion, m.UseStatefulReconnect, got, v.Output)
	}
}

// runWebSocketURLVector expects a message of the form
// {"hubUrl": ..., "connectionToken": ...}. negotiate.jsonl has no such
// lines yet; the WebSocket URL rules are tested in TestWebSocketURL.
func runWebSocketURLVector(t *testing.T, v negotiateVector) {
	var m struct {
		HubURL          string `json:"hubUrl"`
		ConnectionToken string `json:"connectionToken"`
	}
	if err := json.Unmarshal(v.Message, &m); err != nil {
		t.Fatalf("message: %v", err)
	}
	got, err := transport.WebSocketURL(m.HubURL, m.ConnectionToken)
	if err != nil {
		t.Fatalf("WebSocketURL(%q) error: %v", m.HubURL, err)
	}
	if got != v.Output {
		t.Errorf("WebSocketURL(%q, %q) = %q; want %q", m.HubURL, m.ConnectionToken, got, v.Output)
	}
}
