package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// executable is the hubprobe binary that TestMain builds.
var executable string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hubprobe-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	executable = filepath.Join(dir, "hubprobe")
	build := exec.Command("go", "build", "-o", executable, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hubprobe:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runProbe runs hubprobe with args and the extra environment variables env,
// and waits at most 20 s.
func runProbe(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runProbeStdin(t, env, "", args...)
}

// runProbeStdin runs hubprobe as runProbe does, with stdin as its
// standard input.
func runProbeStdin(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, executable, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hubprobe %v: %v", args, err)
	}
	must.NoError(t, ctx.Err(), "hubprobe %v did not exit within 20s", args)
	return result{stdout.String(), stderr.String(), code}
}

// startHub starts the test hub on 127.0.0.1 and returns its URL and the
// captures of the sessions that ended. Unless opts sets them, the server
// accepts the JSON and the MessagePack hub protocols, and its hub adds two
// methods to the test hub. Broadcast(target, arg) sends target(arg) to
// every other connection. Request(target, arg) invokes target(arg) on
// another connection and returns its client result. Both reach only the
// connections of the caller's hub protocol, since they pass arg on
// unconverted.
func startHub(t *testing.T, opts conformance.Options) (string, func() []*conformance.Capture) {
	t.Helper()
	var mu sync.Mutex
	var captures []*conformance.Capture
	opts.Record = func(c *conformance.Capture) {
		mu.Lock()
		captures = append(captures, c)
		mu.Unlock()
	}
	var srv *conformance.Server
	if opts.Protocols == nil {
		opts.Protocols = []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}}
	}
	// peers returns the other connections that use the hub protocol of
	// call.
	peers := func(call *conformance.Call) []*conformance.Conn {
		var out []*conformance.Conn
		for _, c := range srv.Conns() {
			if c != call.Conn() && c.Protocol().Name() == call.Conn().Protocol().Name() {
				out = append(out, c)
			}
		}
		return out
	}
	if opts.Hub == nil {
		opts.Hub = conformance.NewTestHub()
		opts.Hub.HandleVoid("Broadcast", func(call *conformance.Call) error {
			var target string
			args := call.Args()
			if len(args) != 2 {
				return fmt.Errorf("Broadcast takes 2 arguments")
			}
			if err := call.Conn().Protocol().Unmarshal(args[0], &target); err != nil {
				return err
			}
			for _, c := range peers(call) {
				c.Send(call.Context(), target, args[1])
			}
			return nil
		})
		opts.Hub.Handle("Request", func(call *conformance.Call) (any, error) {
			var target string
			args := call.Args()
			if len(args) != 2 {
				return nil, fmt.Errorf("Request takes 2 arguments")
			}
			if err := call.Conn().Protocol().Unmarshal(args[0], &target); err != nil {
				return nil, err
			}
			conns := peers(call)
			if len(conns) == 0 {
				return nil, fmt.Errorf("no other connection")
			}
			return conns[0].Invoke(call.Context(), target, args[1])
		})
	}
	srv = conformance.NewServer(opts)
	_, err := srv.Listen()
	must.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv.HubURL(), func() []*conformance.Capture {
		mu.Lock()
		defer mu.Unlock()
		return append([]*conformance.Capture(nil), captures...)
	}
}

func TestDemo(t *testing.T) {
	r := runProbe(t, nil, "demo")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for _, want := range []string{
		"Add returned 5",
		`"greeting": "hello"`,
		"item 4: 4",
		"stream Counter completed after 5 items",
		`server invoked Notify("ping")`,
		"server invoked Ask(21)",
		"CallMe returned 42",
		"hub error: something went wrong",
		`"numbers": [`,
		"2.5,",
		"The Echo invocation took 45 bytes as MessagePack; as JSON it takes 98.",
	} {
		check.Contains(t, r.stdout, want)
	}
	check.NotContains(t, r.stdout, "\x1b[", "colours on a pipe")
}

func TestDemoJSON(t *testing.T) {
	r := runProbe(t, nil, "demo", "--json")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"result","target":"Add","result":5}`)
	check.Contains(t, r.stdout, `{"event":"result","target":"Echo","result":{"text":"hello","numbers":[1,2.5,-3]}}`, "MessagePack step")
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		check.True(t, strings.HasPrefix(line, `{"event":`), "line %q", line)
	}
}

func TestCallAdd(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--json", url, "Add", "2", "40")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"result","target":"Add","result":42}`)
}

func TestCallEcho(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", url, "Echo", `{"a": [1, "x"]}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "Echo returned {")
	check.Contains(t, r.stdout, `"x"`)
}

func TestCallDataFile(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	path := filepath.Join(t.TempDir(), "args.json")
	must.NoError(t, os.WriteFile(path, []byte("[3,\n 4]\n"), 0o600))
	r := runProbe(t, nil, "call", "--json", "-d", "@"+path, url, "Add")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `"result":7`)
}

func TestCallHubError(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", url, "Fail", `"broken on purpose"`)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "hub error: broken on purpose")
}

func TestCallSend(t *testing.T) {
	url, captures := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--send", url, "Echo", "1")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "sent Echo without waiting")

	c := waitCapture(t, captures, 1)
	check.Contains(t, allData(c[0], conformance.ClientToServer), `{"type":1,"target":"Echo","arguments":[1]}`)
}

func TestCallStream(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--stream", "--json", url, "Counter", "3", "0")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for i := range 3 {
		check.Contains(t, r.stdout, fmt.Sprintf(`"item":%d,"index":%d`, i, i))
	}
	check.Contains(t, r.stdout, "completed after 3 items")
}

func TestCallStreamInterrupt(t *testing.T) {
	url, captures := startHub(t, conformance.Options{})
	probe := startProbe(t, "call", "--stream", url, "Counter", "1000", "20")

	var out strings.Builder
	for probe.stdout.Scan() {
		out.WriteString(probe.stdout.Text() + "\n")
		if strings.HasPrefix(probe.stdout.Text(), "item 2:") {
			must.NoError(t, probe.cmd.Process.Signal(syscall.SIGINT))
			break
		}
	}
	for _, line := range probe.wait(t) {
		out.WriteString(line + "\n")
	}
	check.Contains(t, out.String(), "canceled after")

	c := waitCapture(t, captures, 1)
	check.Contains(t, allData(c[0], conformance.ClientToServer), `{"type":5,"invocationId":"1"}`)
}

func TestListenCount(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	probe := startListen(t, "--json", "--count", "2", url, "notify")

	for i := range 2 {
		r := runProbe(t, nil, "call", url, "Broadcast", `"Notify"`, fmt.Sprint(i))
		must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	}
	lines := probe.wait(t)
	must.Len(t, lines, 2)
	check.Equal(t, `{"event":"invocation","target":"Notify","arguments":[0]}`, lines[0])
	check.Equal(t, `{"event":"invocation","target":"Notify","arguments":[1]}`, lines[1])
}

func TestListenTimeout(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "listen", "--count", "1", "--timeout", "300ms", url, "Notify")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "timed out after 300ms with 0 of 1 invocations")
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"nosuchcommand"},
		{"call"},
		{"call", "http://127.0.0.1:1/hub"},
		{"call", "--nosuchflag", "http://127.0.0.1:1/hub", "Add"},
		{"call", "--send", "--stream", "http://127.0.0.1:1/hub", "Add"},
		{"call", "--protocol", "protobuf", "http://127.0.0.1:1/hub", "Add"},
		{"listen", "--protocol", "protobuf", "http://127.0.0.1:1/hub"},
		{"call", "--protocol", "msgpack", "http://127.0.0.1:1/hub", "Echo", "1e400"},
		{"listen", "--protocol", "msgpack", "--result", "1e400", "http://127.0.0.1:1/hub"},
		{"call", "--transport", "longpolling", "http://127.0.0.1:1/hub", "Add"},
		{"call", "--token-env", "HUBPROBE_TEST_UNSET", "http://127.0.0.1:1/hub", "Add"},
		{"call", "-H", "no colon", "http://127.0.0.1:1/hub", "Add"},
		{"listen"},
		{"listen", "--count", "-1", "http://127.0.0.1:1/hub"},
		{"listen", "--count", "x", "http://127.0.0.1:1/hub"},
		{"call", "127.0.0.1:1/hub", "Add"},
		{"call", "ws://127.0.0.1:1/hub", "Add"},
		{"listen", "ftp://127.0.0.1:1/hub"},
		{"call", "http://127.0.0.1:1/hub", "Add", "1", "--json"},
		{"replay"},
	}
	for _, args := range cases {
		r := runProbe(t, nil, args...)
		check.Equal(t, 2, r.code, "hubprobe %v", args)
		check.Contains(t, r.stderr, "usage: hubprobe", "hubprobe %v", args)
		check.Equal(t, "", r.stdout, "hubprobe %v prints the help only for -h", args)
	}
}

func TestCallArgumentHints(t *testing.T) {
	for _, tt := range []struct {
		arg, hint string
	}{
		{"--json", "flags must come before URL"},
		{"hello", "a string needs JSON quotes"},
	} {
		r := runProbe(t, nil, "call", "http://127.0.0.1:1/hub", "Echo", tt.arg)
		check.Contains(t, r.stderr, tt.hint, "argument %s", tt.arg)
	}
	r := runProbe(t, nil, "call", "http://127.0.0.1:1/hub", "Echo", `{"a":`)
	check.NotContains(t, r.stderr, "JSON quotes", "a broken object is not a missing-quotes case")
}

func TestUsageUnknownProtocol(t *testing.T) {
	r := runProbe(t, nil, "call", "--protocol", "protobuf", "http://127.0.0.1:1/hub", "Add")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `--protocol "protobuf": unknown hub protocol; use json, messagepack or msgpack`)
}

func TestUsageMessagePackArgument(t *testing.T) {
	r := runProbe(t, nil, "call", "--protocol", "messagepack", "http://127.0.0.1:1/hub", "Echo", "1", "1e400")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `argument 2 ("1e400"): number 1e400 is out of the range of a float64`)
}

func TestCallInvalidJSONArgument(t *testing.T) {
	r := runProbe(t, nil, "call", "http://127.0.0.1:1/hub", "Echo", "1", "hello")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stderr, `argument 2 ("hello") is not valid JSON`)
}

func TestHelp(t *testing.T) {
	r := runProbe(t, nil, "help")
	must.Equal(t, 0, r.code)
	for _, flag := range []string{"-H", "-token-env", "-protocol", "-skip-negotiate", "-transport", "-insecure",
		"-handshake-timeout", "-keep-alive", "-server-timeout", "-json", "-v", "-record", "-count", "-stream", "-send", "-check",
		"-reconnect", "-reconnect-delays", "-stateful-reconnect"} {
		check.True(t, regexp.MustCompile(`(?m)^  `+flag+`\b`).MatchString(r.stdout), "flag %s is not documented", flag)
	}
	check.Contains(t, r.stdout, "(default 15s)")
	check.Contains(t, r.stdout, "With --protocol messagepack (or msgpack), hubprobe converts")
	check.Contains(t, r.stdout, `NaN and the infinities print as the strings "NaN",`)

	r = runProbe(t, nil, "call", "-h")
	check.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, "usage: hubprobe call")
}

func TestNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	r := runProbe(t, nil, "call", srv.URL+"/hub", "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "404 Not Found: the URL is not a SignalR hub endpoint")
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hub"
	srv.Close()
	r := runProbe(t, nil, "call", url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "cannot connect")
}

// otherProtocol is a protocol named "other", so that a server offering only
// it rejects the JSON handshake.
type otherProtocol struct{ protocol.JSON }

func (otherProtocol) Name() string { return "other" }

func TestHandshakeError(t *testing.T) {
	url, _ := startHub(t, conformance.Options{Protocols: []protocol.HubProtocol{otherProtocol{}}})
	r := runProbe(t, nil, "call", url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "the server rejected the handshake")
}

func TestTokenNeverPrinted(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a-secret"
	var sawToken bool
	var mu sync.Mutex
	url, _ := startHub(t, conformance.Options{Authorize: func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer "+token {
			sawToken = true
		}
		return true
	}})
	env := []string{"HUBPROBE_TEST_TOKEN=" + token}
	r := runProbe(t, env, "call", "-v", "--token-env", "HUBPROBE_TEST_TOKEN", url, "Echo", `"`+token+`"`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	mu.Lock()
	check.True(t, sawToken, "the server did not receive the token")
	mu.Unlock()
	check.NotContains(t, r.stdout, token)
	check.NotContains(t, r.stderr, token)
	check.Contains(t, r.stderr, "Authorization: [REDACTED]")
	check.Contains(t, r.stderr, `> ws {"protocol":"json","version":1}\x1e`, "sent handshake")
	check.Contains(t, r.stderr, `< ws {}\x1e`, "received handshake")
	check.Contains(t, r.stderr, `> ws {"type":1,"invocationId":"1","target":"Echo","arguments":["[REDACTED]"]}\x1e`, "sent invocation")
	check.Contains(t, r.stderr, `< ws {"type":3,"invocationId":"1","result":"[REDACTED]"}\x1e`, "received completion")

	r = runProbe(t, nil, "call", "-v", "-H", "Authorization: Bearer "+token, url, "Echo", `"`+token+`"`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.NotContains(t, r.stdout, token)
	check.NotContains(t, r.stderr, token)
}

func TestRecordReplayCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.capture")
	r := runProbe(t, nil, "demo", "--record", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)

	r = runProbe(t, nil, "replay", "--check", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "all valid")

	r = runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `client: {"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}`)

	data, err := os.ReadFile(path)
	must.NoError(t, err)
	broken := strings.Replace(string(data), `"result":5}`, `"result":5`, 1)
	must.NotEqual(t, string(data), broken)
	must.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	r = runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "line 9 (sent by the server), hub message 1: signalr/protocol: invalid JSON at offset 39")
	check.Contains(t, r.stderr, `; payload: {"type":3,"invocationId":"1","result":5`+"\n", "payload escaped as in the capture")
}

func TestCallRecordReplayCheck(t *testing.T) {
	const token = "tok-1a2b3c4d5e6f-secret"
	url, _ := startHub(t, conformance.Options{})
	path := filepath.Join(t.TempDir(), "call.capture")
	env := []string{"HUBPROBE_TEST_TOKEN=" + token}
	r := runProbe(t, env, "call", "--record", path, "--token-env", "HUBPROBE_TEST_TOKEN", url, "Echo", `"`+token+`"`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, "WebSocket messages to "+path)

	data, err := os.ReadFile(path)
	must.NoError(t, err)
	check.NotContains(t, string(data), token)
	c, err := conformance.ReadCapture(bytes.NewReader(data))
	must.NoError(t, err)
	check.Equal(t, "json", c.Protocol)
	check.Equal(t, "call", c.Scenario)
	check.Equal(t, "hubwire hubprobe", c.Client)
	check.Contains(t, allData(c, conformance.ClientToServer), `{"type":1,"invocationId":"1","target":"Echo","arguments":["[REDACTED]"]}`)
	check.Contains(t, allData(c, conformance.ServerToClient), `{"type":3,"invocationId":"1","result":"[REDACTED]"}`)

	r = runProbe(t, nil, "replay", "--check", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, fmt.Sprintf("%d WebSocket messages, %d hub messages, all valid", len(c.Messages), len(c.Messages)))
}

func TestCallRecordUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hub"
	srv.Close()
	path := filepath.Join(t.TempDir(), "call.capture")
	r := runProbe(t, nil, "call", "--record", path, url, "Add", "1", "2")
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "no WebSocket message was exchanged")
	_, err := os.Stat(path)
	check.True(t, os.IsNotExist(err), "the capture file exists: %v", err)
}

func TestListenAllTargets(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	path := filepath.Join(t.TempDir(), "listen.capture")
	probe := startListen(t, "--json", "--count", "1", "--record", path, url)

	r := runProbe(t, nil, "call", url, "Broadcast", `"AnyTarget"`, `{"n":7}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	lines := probe.wait(t)
	must.Len(t, lines, 1)
	check.Equal(t, `{"event":"invocation","target":"AnyTarget","arguments":[{"n":7}]}`, lines[0])

	r = runProbe(t, nil, "replay", "--check", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "all valid")
	data, err := os.ReadFile(path)
	must.NoError(t, err)
	check.Contains(t, string(data), "# scenario: listen\n")
	check.Contains(t, string(data), `< text {"type":1,"target":"AnyTarget","arguments":[{"n":7}]}\x1e`)
}

func TestListenTargetFilter(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	probe := startListen(t, "--json", "--count", "1", url, "Wanted")

	for _, target := range []string{`"Other"`, `"Wanted"`} {
		r := runProbe(t, nil, "call", url, "Broadcast", target, "1")
		must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	}
	lines := probe.wait(t)
	must.Len(t, lines, 1)
	check.Equal(t, `{"event":"invocation","target":"Wanted","arguments":[1]}`, lines[0])
}

func TestDemoVerbose(t *testing.T) {
	r := runProbe(t, nil, "demo", "-v")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stderr, `> ws {"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}\x1e`)
	check.Contains(t, r.stderr, `< ws {"type":3,"invocationId":"1","result":5}\x1e`)
	check.Contains(t, r.stderr, `< ws {"type":1,"target":"Notify","arguments":["ping"]}\x1e`)
	check.Contains(t, r.stderr, `> ws binary {"protocol":"messagepack","version":1}\x1e`)
	check.Contains(t, r.stderr, `    = [3,{},"1",3,{"text":"hello","numbers":[1,2.5,-3]}]`)
}

// A runningProbe is a hubprobe process whose output a test reads while it
// runs.
type runningProbe struct {
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	stderr *lockedBuffer
}

// startProbe starts hubprobe with args and stops it when the test ends.
func startProbe(t *testing.T, args ...string) *runningProbe {
	t.Helper()
	return startProbeEnv(t, nil, args...)
}

// startProbeEnv starts hubprobe with args and the extra environment
// variables env, and stops it when the test ends.
func startProbeEnv(t *testing.T, env []string, args ...string) *runningProbe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, executable, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	must.NoError(t, err)
	p := &runningProbe{cmd: cmd, stdout: bufio.NewScanner(stdout), stderr: new(lockedBuffer)}
	cmd.Stderr = p.stderr
	must.NoError(t, cmd.Start())
	return p
}

// startListen starts "hubprobe listen" with args and waits until it has
// connected.
func startListen(t *testing.T, args ...string) *runningProbe {
	t.Helper()
	p := startProbe(t, append([]string{"listen"}, args...)...)
	must.True(t, p.stdout.Scan(), "no output; stderr: %s", p.stderr.String())
	must.Contains(t, p.stdout.Text(), `"event":"connected"`)
	return p
}

// wait returns the rest of the output lines and requires a zero exit.
func (p *runningProbe) wait(t *testing.T) []string {
	t.Helper()
	var lines []string
	for p.stdout.Scan() {
		lines = append(lines, p.stdout.Text())
	}
	must.NoError(t, p.cmd.Wait(), "stderr: %s", p.stderr.String())
	return lines
}

func waitCapture(t *testing.T, captures func() []*conformance.Capture, n int) []*conformance.Capture {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c := captures(); len(c) >= n {
			return c
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d sessions recorded within 5s", n)
	return nil
}

// allData returns the payloads of c sent in direction dir, joined.
func allData(c *conformance.Capture, dir conformance.Direction) string {
	var b strings.Builder
	for _, m := range c.Messages {
		if m.Direction == dir {
			b.Write(m.Data)
		}
	}
	return b.String()
}
