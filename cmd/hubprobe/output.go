package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

const redacted = "[REDACTED]"

// A redactor replaces known secrets in everything written through the
// writers it wraps. Each Write is redacted on its own, so a secret split
// across two writes would pass. Every print of hubprobe is a single Write.
type redactor struct {
	mu      sync.Mutex
	secrets []string
}

func newRedactor() *redactor { return &redactor{} }

// add registers a secret. Values shorter than 4 bytes are ignored, since
// replacing them would garble ordinary output.
func (r *redactor) add(secret string) {
	if len(secret) < 4 {
		return
	}
	r.mu.Lock()
	r.secrets = append(r.secrets, secret)
	r.mu.Unlock()
}

func (r *redactor) redact(p []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if bytes.Contains(p, []byte(s)) {
			p = bytes.ReplaceAll(p, []byte(s), []byte(redacted))
		}
	}
	return p
}

// list returns a copy of the registered secrets.
func (r *redactor) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

// redactBinary returns a binary WebSocket message with every known secret
// replaced. A secret inside a MessagePack string or binary value is
// replaced in that value, and the value's length and the length prefix of
// its hub message are rewritten, so the message stays valid. handshake
// reports that the message is the first of its direction, which starts
// with the JSON handshake. A secret that is still left, such as one inside
// an extension value or in bytes that form no whole hub message, is
// replaced byte for byte, which leaves that hub message invalid.
func (r *redactor) redactBinary(data []byte, handshake bool) []byte {
	secrets := r.list()
	if !containsAny(data, secrets) {
		return data
	}
	var out []byte
	for _, part := range splitBinaryMessage(data, handshake) {
		switch part.kind {
		case partHandshake:
			out = protocol.AppendRecord(out, part.data)
		case partHubMessage:
			value, next, err := redactMessagePack(nil, part.data, 0, 0, secrets)
			if err != nil || next != len(part.data) {
				value = part.data
			}
			out = protocol.AppendFrame(out, value)
		default:
			out = append(out, part.data...)
		}
	}
	return r.redact(out)
}

func containsAny(data []byte, secrets []string) bool {
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

// redactMessagePack appends the MessagePack value at data[i] to dst with
// the secrets in its strings and binary values replaced, and returns the
// offset after the value.
func redactMessagePack(dst, data []byte, i, depth int, secrets []string) ([]byte, int, error) {
	h, err := readMPHeader(data, i)
	if err != nil {
		return dst, 0, err
	}
	switch h.kind {
	case mpString, mpBinary:
		payload := data[h.body:h.end()]
		if !containsAny(payload, secrets) {
			return append(dst, data[i:h.end()]...), h.end(), nil
		}
		for _, s := range secrets {
			payload = bytes.ReplaceAll(payload, []byte(s), []byte(redacted))
		}
		var v any = payload
		if h.kind == mpString {
			v = string(payload)
		}
		encoded, err := msgpack.Marshal(v)
		if err != nil {
			return dst, 0, err
		}
		return append(dst, encoded...), h.end(), nil
	case mpArray, mpMap:
		if depth >= maxValueDepth {
			return dst, 0, invalidMessagePack(h.body, "values nest too deeply")
		}
		dst = append(dst, data[i:h.body]...)
		n := h.count
		if h.kind == mpMap {
			n *= 2
		}
		next := h.body
		for range n {
			if dst, next, err = redactMessagePack(dst, data, next, depth+1, secrets); err != nil {
				return dst, 0, err
			}
		}
		return dst, next, nil
	}
	return append(dst, data[i:h.end()]...), h.end(), nil
}

func (r *redactor) wrap(w io.Writer) io.Writer { return &redactWriter{r: r, w: w} }

type redactWriter struct {
	r  *redactor
	mu sync.Mutex
	w  io.Writer
}

func (w *redactWriter) Write(p []byte) (int, error) {
	out := w.r.redact(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// An event is one line of output. With --json it is printed as one JSON
// object; otherwise as text.
type event struct {
	Event        string            `json:"event"`
	Target       string            `json:"target,omitempty"`
	InvocationID string            `json:"invocationId,omitempty"`
	Arguments    []json.RawMessage `json:"arguments,omitempty"`
	Result       json.RawMessage   `json:"result,omitempty"`
	Item         json.RawMessage   `json:"item,omitempty"`
	Index        *int              `json:"index,omitempty"`
	Error        string            `json:"error,omitempty"`
	Message      string            `json:"message,omitempty"`
	URL          string            `json:"url,omitempty"`
	ConnectionID string            `json:"connectionId,omitempty"`

	// Command and Usage are set on the error that ends a command.
	Command string `json:"command,omitempty"`
	Usage   string `json:"usage,omitempty"`

	// Line, Direction and HubMessage locate a message of a capture file:
	// the 1-based file line, "client-to-server" or "server-to-client",
	// and the 1-based hub message within the WebSocket message.
	Line       int    `json:"line,omitempty"`
	Direction  string `json:"direction,omitempty"`
	HubMessage int    `json:"hubMessage,omitempty"`

	// WebSocketMessages and HubMessages are the counts of replay --check.
	WebSocketMessages *int `json:"webSocketMessages,omitempty"`
	HubMessages       *int `json:"hubMessages,omitempty"`

	// UserID, Username, OnlineStatus, Expire and File describe a Resonite
	// user, a contact or a session file. Expire is in RFC 3339.
	UserID       string `json:"userId,omitempty"`
	Username     string `json:"username,omitempty"`
	OnlineStatus string `json:"onlineStatus,omitempty"`
	Expire       string `json:"expire,omitempty"`
	File         string `json:"file,omitempty"`
}

// A printer writes events to stdout.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	color bool
}

func newPrinter(env *environment, jsonOut bool) *printer {
	color := env.isTTY && env.getenv("NO_COLOR") == "" && !jsonOut
	return &printer{w: env.stdout, json: jsonOut, color: color}
}

// ANSI colours of the text output.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		line, err := json.Marshal(e)
		if err != nil {
			line, _ = json.Marshal(event{Event: "error", Error: "encoding output: " + err.Error()})
		}
		p.w.Write(append(line, '\n'))
		return
	}
	p.w.Write([]byte(p.text(e) + "\n"))
}

// text formats e for people.
func (p *printer) text(e event) string {
	switch e.Event {
	case "step":
		return "\n" + p.paint(ansiBold, "== "+e.Message)
	case "note":
		return p.paint(ansiDim, "   "+e.Message)
	case "connected":
		s := "connected to " + e.URL
		if e.ConnectionID != "" {
			s += " (connection ID " + e.ConnectionID + ")"
		}
		return p.paint(ansiGreen, s)
	case "result":
		if e.Result == nil {
			return p.paint(ansiGreen, e.Target+" completed with no result")
		}
		return p.paint(ansiGreen, e.Target+" returned ") + indentJSON(e.Result)
	case "sent":
		return p.paint(ansiGreen, "sent "+e.Target+" without waiting for a result")
	case "item":
		return p.paint(ansiCyan, fmt.Sprintf("item %d: ", *e.Index)) + string(e.Item)
	case "end":
		return p.paint(ansiGreen, e.Message)
	case "invocation":
		args := make([]string, len(e.Arguments))
		for i, a := range e.Arguments {
			args[i] = string(a)
		}
		s := p.paint(ansiYellow, "server invoked "+e.Target) + "(" + strings.Join(args, ", ") + ")"
		if e.InvocationID != "" {
			s += p.paint(ansiDim, " invocation ID "+e.InvocationID+", waits for a result")
		}
		return s
	case "reply":
		if e.Error != "" {
			return p.paint(ansiYellow, "   replied with error: ") + e.Error
		}
		return p.paint(ansiYellow, "   replied with result: ") + string(e.Result)
	case "error":
		return p.paint(ansiRed, "error: ") + e.Error
	case "reconnecting":
		return p.paint(ansiYellow, "reconnecting: ") + e.Error
	case "warning":
		return p.paint(ansiYellow, "warning: ") + e.Message
	case "reconnected":
		if e.ConnectionID == "" {
			return p.paint(ansiGreen, "reconnected")
		}
		return p.paint(ansiGreen, "reconnected (connection ID "+e.ConnectionID+")")
	case "reattached":
		if e.ConnectionID == "" {
			return p.paint(ansiGreen, "reattached a new WebSocket to the connection")
		}
		return p.paint(ansiGreen, "reattached a new WebSocket to connection ID "+e.ConnectionID)
	case "frame":
		where := fmt.Sprintf("line %d %s: ", e.Line, senderName(e.Direction))
		if e.Item != nil {
			return p.paint(ansiDim, where) + string(e.Item)
		}
		return p.paint(ansiDim, where) + p.paint(ansiRed, e.Error)
	case "checked":
		return e.Message
	case "reattach":
		return p.paint(ansiDim, fmt.Sprintf("line %d: ", e.Line)) + "= reattach: the messages after it pass a new WebSocket of the same connection (stateful reconnect)"
	case "login":
		return p.loginText(e)
	case "logout":
		if e.UserID == "" {
			// Without a session file there is no user to name.
			return p.paint(ansiGreen, "not logged in") + ": " + e.Message
		}
		return p.paint(ansiGreen, "logged out "+userName(e)) + ": " + e.Message
	case "revoked":
		return e.Message
	case "contact":
		return p.paint(ansiCyan, "contact "+userName(e)) + ": " + e.OnlineStatus
	}
	return e.Event + " " + e.Message
}

// loginText formats a login event: who signed in, at which API, when the
// token expires and where the session is stored. The token itself is not
// part of the event.
func (p *printer) loginText(e event) string {
	s := p.paint(ansiGreen, "logged in as "+userName(e)) + " at " + e.URL
	if expire, err := time.Parse(time.RFC3339, e.Expire); err == nil {
		s += fmt.Sprintf("\nthe session token expires at %s, in %s", expire.UTC().Format("2006-01-02 15:04:05 MST"), time.Until(expire).Round(time.Second))
	}
	if e.File != "" {
		s += "\nsaved the session to " + e.File + " (mode 0600)"
	}
	return s
}

// userName returns "name (U-id)", or the ID alone when the event has no
// name.
func userName(e event) string {
	if e.Username == "" {
		return e.UserID
	}
	return e.Username + " (" + e.UserID + ")"
}

// indentJSON indents multi-line JSON values for reading; scalars stay as
// they are.
func indentJSON(v []byte) string {
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return string(v)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, v, "", "  "); err != nil || b.Len() > 2000 {
		return string(v)
	}
	return b.String()
}

// describeError returns the message for an error that ends a command, with
// the next step to take where one is known.
func describeError(err error) string {
	var hubErr *signalr.HubError
	var hsErr *signalr.HandshakeError
	var closeErr *signalr.CloseError
	var statusErr *transport.StatusError
	var opErr *net.OpError
	var reconnectErr *signalr.ReconnectError
	switch {
	case errors.As(err, &reconnectErr):
		return describeReconnectError(reconnectErr)
	case errors.As(err, &hubErr):
		return withHint("hub error: "+hubErr.Message, streamingHint(hubErr.Message))
	case errors.As(err, &hsErr):
		return withHint("the server rejected the handshake: "+hsErr.Message, handshakeHint(hsErr.Message))
	case errors.As(err, &closeErr):
		return closeErr.Error()
	case errors.As(err, &statusErr) && statusErr.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("%s returned 404 Not Found: the URL is not a SignalR hub endpoint; check the hub path", statusErr.URL)
	case errors.As(err, &statusErr) && statusErr.StatusCode == http.StatusUnauthorized:
		return fmt.Sprintf("%s returned 401 Unauthorized: pass a token with --token-env or a header with -H", statusErr.URL)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot connect: " + err.Error() + "; check the host and port of the URL"
	case errors.Is(err, signalr.ErrHandshakeTimeout):
		return err.Error() + "; the endpoint may not be a SignalR hub, or raise --handshake-timeout"
	}
	return err.Error()
}

// withHint appends hint, a sentence, to msg. An empty hint leaves msg as
// it is.
func withHint(msg, hint string) string {
	if hint == "" {
		return msg
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg + " " + hint
}

// streamingHint returns the next step for the hub error that a method was
// invoked the wrong way for its kind. The texts are those that
// DefaultHubDispatcher of ASP.NET Core SignalR sends, and the conformance
// hub copies them. Other errors get no hint.
func streamingHint(hubMessage string) string {
	switch {
	case strings.Contains(hubMessage, "attempted to invoke the streaming '") &&
		strings.Contains(hubMessage, "with a non-streaming invocation"):
		return "The method is a streaming method: call it with --stream."
	case strings.Contains(hubMessage, "attempted to invoke the non-streaming '") &&
		strings.Contains(hubMessage, "with a streaming invocation"):
		return "The method returns a single result: call it without --stream."
	}
	return ""
}

// handshakeHint returns the next step for the handshake error of a server
// that does not offer MessagePack, in the text that HubConnectionContext of
// ASP.NET Core SignalR sends. Other errors get no hint.
func handshakeHint(handshakeMessage string) string {
	if strings.Contains(handshakeMessage, "The protocol 'messagepack' is not supported") {
		return "The hub does not offer MessagePack: use --protocol json."
	}
	return ""
}

// A tracer writes the -v trace to stderr.
type tracer struct {
	w io.Writer
}

func (t *tracer) printf(format string, args ...any) {
	t.w.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

func (t *tracer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(t.w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// roundTripper wraps next so that every HTTP request and response is
// traced with secrets redacted.
func (t *tracer) roundTripper(next http.RoundTripper) http.RoundTripper {
	return &tracingTransport{t: t, next: next}
}

type tracingTransport struct {
	t    *tracer
	next http.RoundTripper
}

func (tt *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	requestBody := ""
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > 0 {
			requestBody = "\n  " + redactJSONTokens(body)
		}
	}
	tt.t.printf("> %s %s%s%s", req.Method, redactQuery(req.URL.String()), formatHeaders(req.Header), requestBody)
	resp, err := tt.next.RoundTrip(req)
	if err != nil {
		tt.t.printf("< %s failed: %v", req.Method, err)
		return nil, err
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if readErr != nil {
		tt.t.printf("< %s (reading the body failed: %v)", resp.Status, readErr)
		return resp, nil
	}
	responseBody := ""
	if len(body) > 0 {
		responseBody = "\n  " + redactJSONTokens(body)
	}
	tt.t.printf("< %s%s%s", resp.Status, formatHeaders(resp.Header), responseBody)
	return resp, nil
}

func formatHeaders(h http.Header) string {
	var b strings.Builder
	for name, values := range h {
		for _, v := range values {
			if isSecretHeader(name) {
				v = redacted
			}
			fmt.Fprintf(&b, "\n  %s: %s", name, v)
		}
	}
	return b.String()
}

// redactQuery hides the query parameters of a URL that carry an access
// token (access_token) or a connection token (id). It hides the whole query
// when the URL cannot be parsed.
func redactQuery(u string) string {
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return u
	}
	query, err := url.ParseQuery(u[i+1:])
	if err != nil {
		return u[:i] + "?" + redacted
	}
	for _, key := range []string{"access_token", "id"} {
		if query.Has(key) {
			query.Set(key, redacted)
		}
	}
	return u[:i] + "?" + query.Encode()
}

// secretJSONKeys are the JSON properties whose values the -v trace hides,
// matched without regard to letter case. They are the tokens of a
// negotiate response, and the password, secret machine ID, TOTP code,
// recovery code and session token of a Resonite login request and response.
var secretJSONKeys = []string{"accessToken", "connectionToken", "token", "password", "secretMachineId", "totp", "recoveryCode"}

// redactJSONTokens returns body with the values of the secretJSONKeys
// properties replaced, at any depth. A body that is not JSON is returned
// as it is, and one that holds a secret but cannot be re-encoded is
// replaced whole.
func redactJSONTokens(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	if !redactJSONValue(v) {
		return string(body)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return redacted
	}
	return string(out)
}

// redactJSONValue replaces the secret properties in v, a value that
// encoding/json decoded into an any, and reports whether it replaced one.
func redactJSONValue(v any) bool {
	found := false
	switch v := v.(type) {
	case map[string]any:
		for key, value := range v {
			if isSecretJSONKey(key) {
				v[key] = redacted
				found = true
				continue
			}
			if redactJSONValue(value) {
				found = true
			}
		}
	case []any:
		for _, value := range v {
			if redactJSONValue(value) {
				found = true
			}
		}
	}
	return found
}

func isSecretJSONKey(key string) bool {
	for _, k := range secretJSONKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}
