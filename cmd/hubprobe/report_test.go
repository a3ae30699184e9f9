package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// writeCapture writes a capture file of the hub protocol proto with the
// message lines given, which start on line 5, and returns its path.
func writeCapture(t *testing.T, proto string, messages ...string) string {
	t.Helper()
	text := "# hubwire-capture 1\n# protocol: " + proto + "\n# scenario:\n# client:\n" + strings.Join(messages, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "test.capture")
	must.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// The start of a JSON session, lines 5 to 8.
var jsonSessionStart = []string{
	`> text {"protocol":"json","version":1}\x1e`,
	`< text {}\x1e`,
	`> text {"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}\x1e`,
	`> text {"type":6}\x1e`,
}

func TestCallJSONHubError(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--json", url, "Fail", `"broken on purpose"`)
	check.Equal(t, 1, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	must.Len(t, lines, 2)
	check.Contains(t, lines[0], `{"event":"connected"`)
	check.Equal(t, `{"event":"error","error":"hub error: broken on purpose","command":"call"}`, lines[1])
	check.Equal(t, "", r.stderr)
}

func TestJSONUsageError(t *testing.T) {
	r := runProbe(t, nil, "call", "--json", "http://127.0.0.1:1/hub", "Echo", "hello")
	check.Equal(t, 2, r.code)
	check.Equal(t, `{"event":"error","error":"argument 1 (\"hello\") is not valid JSON: invalid character 'h' looking for beginning of value; a string needs JSON quotes, as in '\"text\"'","command":"call","usage":"hubprobe call [flags] URL METHOD [ARG...]"}`+"\n", r.stdout)
	check.Contains(t, r.stderr, "usage: hubprobe call")
	check.NotContains(t, r.stderr, "is not valid JSON", "the error itself goes to stdout only")
}

func TestJSONConnectionError(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "listen", "--json", "--count", "1", "--timeout", "100ms", url)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stdout, `{"event":"error","error":"timed out after 100ms with 0 of 1 invocations","command":"listen"}`)

	r = runProbe(t, nil, "replay", "--json", filepath.Join(t.TempDir(), "missing.capture"))
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stdout, `{"event":"error","error":"`)
	check.Contains(t, r.stdout, `missing.capture`)
	check.Equal(t, "", r.stderr)
}

func TestHelpExitStatus(t *testing.T) {
	r := runProbe(t, nil, "help")
	must.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, exitStatusHelp)
	check.Contains(t, r.stdout, "usage: hubprobe serve")

	r = runProbe(t, nil, "nosuchcommand")
	check.Equal(t, 2, r.code)
	check.NotContains(t, r.stderr, "Exit status:", "the short usage after an error")
	check.Contains(t, r.stderr, "Run 'hubprobe help' for the exit status")
}

func TestHandshakeHintMessagePack(t *testing.T) {
	url, _ := startHub(t, conformance.Options{Protocols: []protocol.HubProtocol{protocol.JSON{}}})
	r := runProbe(t, nil, "call", "--protocol", "messagepack", url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "the server rejected the handshake: The protocol 'messagepack' is not supported. The hub does not offer MessagePack: use --protocol json.")
}

func TestHandshakeErrorWithoutHint(t *testing.T) {
	url, _ := startHub(t, conformance.Options{Protocols: []protocol.HubProtocol{otherProtocol{}}})
	r := runProbe(t, nil, "call", url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "The protocol 'json' is not supported.")
	check.NotContains(t, r.stderr, "--protocol")
}

func TestStreamingHints(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", url, "Counter", "3", "0")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "with a non-streaming invocation. The method is a streaming method: call it with --stream.")

	r = runProbe(t, nil, "call", "--stream", url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "with a streaming invocation. The method returns a single result: call it without --stream.")

	r = runProbe(t, nil, "call", url, "Fail", `"streaming 'x' method with a streaming invocation"`)
	check.Equal(t, 1, r.code)
	check.NotContains(t, r.stderr, "--stream", "a hub error that only resembles the server's text")
}

func TestCallDataErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", `{"a":1}`}, `hubprobe call: -d: expected a JSON array with one element per argument, such as '[2, "text", {"a":1}]', but got a JSON object; to pass it as the only argument, put it in brackets: '[{"a":1}]'`},
		{[]string{"-d", `"x"`}, `but got a JSON string; to pass it as the only argument, put it in brackets: '["x"]'`},
		{[]string{"-d", `[1] [2]`}, "-d: data after the JSON array"},
		{[]string{"-d", `[1,`}, "-d: not valid JSON"},
		{[]string{"-d", ` `}, "-d: no JSON value"},
		{[]string{"--protocol", "msgpack", "-d", `[1, 1e400]`}, `hubprobe call: argument 2 ("1e400"): number 1e400 is out of the range of a float64`},
	} {
		args := append([]string{"call"}, tt.args...)
		r := runProbe(t, nil, append(args, "http://127.0.0.1:1/hub", "Echo")...)
		check.Equal(t, 2, r.code, "%v", tt.args)
		check.Contains(t, r.stderr, tt.want, "%v", tt.args)
		check.NotContains(t, r.stderr, "Go value", "%v", tt.args)
	}
}

func TestReplayJSONFields(t *testing.T) {
	path := writeCapture(t, "json", jsonSessionStart...)
	r := runProbe(t, nil, "replay", "--json", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"frame","item":{"protocol":"json","version":1},"line":5,"direction":"client-to-server"}`)
	check.Contains(t, r.stdout, `{"event":"frame","item":{},"line":6,"direction":"server-to-client"}`)
	check.NotContains(t, r.stdout, `"message":"line`)

	r = runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "line 6 server: {}\n")

	r = runProbe(t, nil, "replay", "--check", "--json", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Equal(t, `{"event":"checked","message":"`+path+`: 4 WebSocket messages, 4 hub messages, all valid","webSocketMessages":4,"hubMessages":4}`+"\n", r.stdout)
}

func TestReplayCheckIncompleteMessage(t *testing.T) {
	messages := append(append([]string(nil), jsonSessionStart...),
		`< text {"type":3,"invocationId":"1","result":5}`,
		`> text {"type":6}\x1e`,
	)
	path := writeCapture(t, "json", messages...)
	r := runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, `line 9 (sent by the server), hub message 1: incomplete hub message: no record separator (0x1e) ends it, and no later server message continues it; payload: {"type":3,"invocationId":"1","result":5}`)

	r = runProbe(t, nil, "replay", "--check", "--json", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stdout, `"command":"replay","line":9,"direction":"server-to-client","hubMessage":1}`)
	check.Equal(t, "", r.stderr)
}

func TestReplayCheckContinuedMessage(t *testing.T) {
	messages := append(append([]string(nil), jsonSessionStart...),
		`< text {"type":3,"invocationId":"1"`,
		`> text {"type":6}\x1e`,
		`< text ,"result":5}\x1e{"type":6}\x1e`,
	)
	r := runProbe(t, nil, "replay", "--check", writeCapture(t, "json", messages...))
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "7 WebSocket messages, 7 hub messages, all valid")

	// The hub message that starts on line 9 and ends on line 11 is
	// invalid; it is reported where it starts.
	messages[len(messages)-1] = `< text ,"result":5\x1e{"type":6}\x1e`
	r = runProbe(t, nil, "replay", "--check", writeCapture(t, "json", messages...))
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "line 9 (sent by the server), hub message 1: signalr/protocol: invalid JSON")

	// The second hub message of line 11 is invalid.
	messages[len(messages)-1] = `< text ,"result":5}\x1e{"type":6\x1e`
	r = runProbe(t, nil, "replay", "--check", writeCapture(t, "json", messages...))
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, `line 11 (sent by the server), hub message 1: signalr/protocol: invalid JSON`)

	messages[len(messages)-1] = `< text ,"result":5}\x1e{"type":6}\x1e{"type":6\x1e`
	r = runProbe(t, nil, "replay", "--check", writeCapture(t, "json", messages...))
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, `line 11 (sent by the server), hub message 2: signalr/protocol: invalid JSON`)
}

// The start of a MessagePack session, lines 5 to 7, and a Completion of
// Echo with the result [1, 2]: [3, {}, "1", 3, [1, 2]].
var (
	messagePackSessionStart = []string{
		`> binary {"protocol":"messagepack","version":1}\x1e`,
		`< binary {}\x1e`,
		`> binary \x0f\x96\x01\x80\xa11\xa4Echo\x91\x92\x01\x02\x90`,
	}
	messagePackCompletion = `< binary \x09\x95\x03\x80\xa11\x03\x92\x01\x02`
)

func TestReplayInvalidMessagePackWording(t *testing.T) {
	broken := strings.Replace(messagePackCompletion, `\x92\x01\x02`, `\xc1\x01\x02`, 1)
	path := writeCapture(t, "messagepack", append(append([]string(nil), messagePackSessionStart...), broken)...)
	const want = `signalr/protocol: invalid MessagePack at offset 6: byte 0xc1 does not start a value; payload: \x95\x03\x80\xa11\x03\xc1\x01\x02`

	r := runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "line 8 server: "+want+"\n")

	r = runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "line 8 (sent by the server), hub message 1: "+want+"\n")
}

func TestReplayMessagePackIncomplete(t *testing.T) {
	short := strings.TrimSuffix(messagePackCompletion, `\x01\x02`)
	path := writeCapture(t, "messagepack", append(append([]string(nil), messagePackSessionStart...), short)...)

	r := runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `line 8 server: incomplete hub message: its length prefix announces 9 bytes, but 7 bytes follow; payload: \x09\x95\x03\x80\xa11\x03\x92`)

	r = runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, `line 8 (sent by the server), hub message 1: incomplete hub message: its length prefix announces 9 bytes, but 7 bytes follow, and no later server message continues it`)

	tooLong := `< binary \x80\x80\x80\x80\x80\x01`
	path = writeCapture(t, "messagepack", append(append([]string(nil), messagePackSessionStart...), tooLong)...)
	r = runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "line 8 (sent by the server), hub message 1: signalr/protocol: invalid length prefix")
}
