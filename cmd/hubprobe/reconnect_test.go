package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hubwire/hubwire/conformance"
)

func TestReplayReattachLines(t *testing.T) {
	messages := append(append([]string(nil), jsonSessionStart...),
		`< text {"type":3,"invocationId":"1"`, // cut off by the lost WebSocket
		`= reattach`,
		`> text {"type":9,"sequenceId":1}\x1e`,
		`< text {"type":9,"sequenceId":1}\x1e`,
		`< text {"type":3,"invocationId":"1","result":5}\x1e`,
	)
	path := writeCapture(t, "json", messages...)
	r := runProbe(t, nil, "replay", "--check", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "8 WebSocket messages, 7 hub messages, all valid", "the cut-off message is not joined to the next")

	r = runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "line 10: = reattach")
	check.Contains(t, r.stdout, `line 11 client: {"type":9,"sequenceId":1}`)
	check.Contains(t, r.stdout, `line 13 server: {"type":3,"invocationId":"1","result":5}`)

	r = runProbe(t, nil, "replay", "--json", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"reattach","line":10}`)

	messages = append(messages, `< text {"type":1,"target":"Tick"\x1e`)
	r = runProbe(t, nil, "replay", "--check", writeCapture(t, "json", messages...))
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "line 14 (sent by the server), hub message 1: signalr/protocol: invalid JSON")
}

// readLines reads stdout lines of p until stop returns true for the
// lines so far, stdout ends, or maxLines lines were read.
func readLines(p *runningProbe, maxLines int, stop func(lines []string) bool) []string {
	var lines []string
	for len(lines) < maxLines && p.stdout.Scan() {
		lines = append(lines, p.stdout.Text())
		if stop(lines) {
			break
		}
	}
	return lines
}

// interrupt sends SIGINT to p and returns the rest of its stdout lines.
// It requires exit status 0.
func interrupt(t *testing.T, p *runningProbe) []string {
	t.Helper()
	must.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	return p.wait(t)
}

// countPrefix returns the number of lines that start with prefix.
func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// A jsonEvent is the part of an output line that the reconnect tests
// check.
type jsonEvent struct {
	Event        string            `json:"event"`
	Arguments    []json.RawMessage `json:"arguments"`
	Item         json.RawMessage   `json:"item"`
	Error        string            `json:"error"`
	ConnectionID string            `json:"connectionId"`
}

func parseEvents(t *testing.T, lines []string) []jsonEvent {
	t.Helper()
	events := make([]jsonEvent, len(lines))
	for i, line := range lines {
		must.NoError(t, json.Unmarshal([]byte(line), &events[i]), "line %q", line)
	}
	return events
}

func TestListenReconnectAfterDrop(t *testing.T) {
	serve, hubURL := startServe(t, "--push", "Tick", "--push-interval", "20ms", "--drop-every", "300ms")
	waitStderr(t, serve, "Try, in another terminal:")
	intro := serve.stderr.String()
	check.Contains(t, intro, "hubprobe listen --reconnect "+hubURL+" Tick", "example command")

	// Text: Tick(1, ...) twice shows that a second connection pushes.
	record := filepath.Join(t.TempDir(), "listen.capture")
	listen := startProbe(t, "listen", "--reconnect", "--record", record, hubURL, "Tick")
	lines := readLines(listen, 1000, func(lines []string) bool {
		return countPrefix(lines, "server invoked Tick(1, ") == 2
	})
	lines = append(lines, interrupt(t, listen)...)
	check.True(t, countPrefix(lines, "server invoked Tick(1, ") >= 2, "no Tick after the reconnect: %q", lines)
	stderr := listen.stderr.String()
	check.Contains(t, stderr, "reconnecting: signalr/transport: the server closed the connection without a close frame")
	check.True(t, regexp.MustCompile(`(?m)^reconnected \(connection ID [\w-]+\)$`).MatchString(stderr), "stderr: %s", stderr)
	check.NotContains(t, stderr, "reattached")
	for _, path := range []string{record, filepath.Join(filepath.Dir(record), "listen.2.capture")} {
		r := runProbe(t, nil, "replay", "--check", path)
		check.Equal(t, 0, r.code, "%s: %s", path, r.stderr)
	}
	check.Contains(t, stderr, " of connection 2 to ", "note on the second capture")

	// JSON: the events go to stdout, and the new connection has a new ID.
	listen = startProbe(t, "listen", "--json", "--reconnect", hubURL, "Tick")
	lines = readLines(listen, 1000, func(lines []string) bool {
		return countPrefix(lines, `{"event":"reconnected"`) == 1
	})
	lines = append(lines, interrupt(t, listen)...)
	check.Equal(t, "", listen.stderr.String(), "with --json nothing goes to stderr")
	events := parseEvents(t, lines)
	must.True(t, len(events) > 0)
	must.Equal(t, "connected", events[0].Event)
	reconnecting, reconnected := -1, -1
	for i, e := range events {
		switch e.Event {
		case "reconnecting":
			reconnecting = i
			check.Contains(t, e.Error, "the server closed the connection without a close frame")
		case "reconnected":
			reconnected = i
			check.NotEqual(t, "", e.ConnectionID, "the connection ID of the new connection")
			check.NotEqual(t, events[0].ConnectionID, e.ConnectionID, "the new connection has a new ID")
		}
	}
	must.True(t, reconnecting > 0, "no reconnecting event: %q", lines)
	check.True(t, reconnected > reconnecting, "reconnected (line %d) before reconnecting (line %d)", reconnected, reconnecting)

	stopServe(t, serve, hubURL, syscall.SIGINT)
}

// checkTicks checks that the Tick invocations among events carry the
// counters 1, 2, 3 and so on, without a gap or a repeat, and returns
// their number.
func checkTicks(t *testing.T, events []jsonEvent) int {
	t.Helper()
	n := 0
	for _, e := range events {
		if e.Event != "invocation" {
			continue
		}
		n++
		must.Len(t, rawStrings(e.Arguments), 2, "arguments of Tick %d", n)
		if got := string(e.Arguments[0]); got != strconv.Itoa(n) {
			check.Equal(t, strconv.Itoa(n), got, "counter of Tick %d", n)
			return n
		}
	}
	return n
}

func rawStrings(values []json.RawMessage) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

func TestListenStatefulReconnectNoGap(t *testing.T) {
	serve, hubURL := startServe(t, "--stateful-reconnect", "--push", "Tick", "--push-interval", "20ms", "--drop-every", "200ms")
	waitStderr(t, serve, "Try, in another terminal:")
	check.Contains(t, serve.stderr.String(), "hubprobe listen --stateful-reconnect "+hubURL+" Tick", "example command")

	for _, proto := range []string{"json", "messagepack"} {
		record := filepath.Join(t.TempDir(), "stateful.capture")
		listen := startProbe(t, "listen", "--json", "--stateful-reconnect", "--protocol", proto, "--record", record, hubURL, "Tick")
		// Two reattaches and then five more Ticks.
		lines := readLines(listen, 2000, func(lines []string) bool {
			n := len(lines)
			return n > 5 && countPrefix(lines[:n-5], `{"event":"reattached"`) >= 2
		})
		lines = append(lines, interrupt(t, listen)...)
		check.NotContains(t, listen.stderr.String(), "reattached", "%s: with --json the events go to stdout", proto)

		events := parseEvents(t, lines)
		must.True(t, len(events) > 0, proto)
		must.Equal(t, "connected", events[0].Event, proto)
		reattached := 0
		for _, e := range events {
			switch e.Event {
			case "reattached":
				reattached++
				check.Equal(t, events[0].ConnectionID, e.ConnectionID, "%s: reattached to another connection", proto)
			case "reconnecting", "reconnected":
				t.Errorf("%s: unexpected event %+v", proto, e)
			}
		}
		check.True(t, reattached >= 2, "%s: %d reattached events", proto, reattached)
		ticks := checkTicks(t, events)
		check.True(t, ticks > 5, "%s: %d Ticks", proto, ticks)

		r := runProbe(t, nil, "replay", "--check", record)
		check.Equal(t, 0, r.code, "%s: %s", proto, r.stderr)
		r = runProbe(t, nil, "replay", record)
		check.Contains(t, r.stdout, "= reattach", proto)
	}
	stopServe(t, serve, hubURL, syscall.SIGINT)
}

// startServer starts a conformance server with opts on 127.0.0.1 and
// closes it when the test ends.
func startServer(t *testing.T, opts conformance.Options) *conformance.Server {
	t.Helper()
	srv := conformance.NewServer(opts)
	_, err := srv.Listen()
	must.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestListenReconnectGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name     string
		stateful bool
		args     []string
	}{
		{"plain", false, []string{"--reconnect-delays", "0,50ms,100ms"}},
		// The reattach fails, at the latest after --handshake-timeout,
		// and then automatic reconnect takes over.
		{"stateful", true, []string{"--stateful-reconnect", "--handshake-timeout", "300ms", "--reconnect-delays", "0,50ms,100ms"}},
	} {
		srv := startServer(t, conformance.Options{StatefulReconnect: tt.stateful})
		args := append(append([]string{"--json"}, tt.args...), srv.HubURL())
		listen := startListen(t, args...)
		srv.Pause()
		srv.DropAll()

		var lines []string
		for listen.stdout.Scan() {
			lines = append(lines, listen.stdout.Text())
		}
		err := listen.cmd.Wait()
		var exitErr *exec.ExitError
		must.True(t, errors.As(err, &exitErr), "%s: listen ended with %v", tt.name, err)
		check.Equal(t, 1, exitErr.ExitCode(), tt.name)
		must.Len(t, lines, 2, tt.name)
		check.Contains(t, lines[0], `{"event":"reconnecting","error":"`, tt.name)
		check.Contains(t, lines[1], `{"event":"error","error":"reconnecting failed after 3 attempts; the last error: `, tt.name)
		check.Contains(t, lines[1], "HTTP status 503", tt.name)
		check.NotContains(t, strings.Join(lines, "\n"), `"reattached"`, tt.name)
	}
}

func TestListenReconnectGivesUpText(t *testing.T) {
	srv := startServer(t, conformance.Options{})
	listen := startProbe(t, "listen", "--reconnect-delays", "0,10ms", srv.HubURL())
	must.True(t, listen.stdout.Scan(), "no output; stderr: %s", listen.stderr.String())
	must.Contains(t, listen.stdout.Text(), "connected to ")
	srv.Close()

	err := listen.cmd.Wait()
	var exitErr *exec.ExitError
	must.True(t, errors.As(err, &exitErr), "listen ended with %v", err)
	check.Equal(t, 1, exitErr.ExitCode())
	stderr := listen.stderr.String()
	check.Contains(t, stderr, "reconnecting: ")
	check.Contains(t, stderr, "hubprobe listen: reconnecting failed after 2 attempts; the last error: cannot connect: ")
	check.Contains(t, stderr, "check the host and port of the URL")
}

func TestReconnectUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"listen", "--stateful-reconnect", "--skip-negotiate", "ws://127.0.0.1:1/hub"}, "--stateful-reconnect cannot be combined with --skip-negotiate: the server offers stateful reconnect in its negotiate response"},
		{[]string{"call", "--stateful-reconnect", "--skip-negotiate", "ws://127.0.0.1:1/hub", "Add"}, "--stateful-reconnect cannot be combined with --skip-negotiate"},
		{[]string{"listen", "--reconnect-delays", "1s,x", "http://127.0.0.1:1/hub"}, `"x" is not a duration; give durations separated by commas, such as 0,1s,5s`},
		{[]string{"listen", "--reconnect-delays", "", "http://127.0.0.1:1/hub"}, "no delays"},
		{[]string{"listen", "--reconnect-delays", "0,-1s", "http://127.0.0.1:1/hub"}, "delay -1s is negative"},
		{[]string{"serve", "--drop-every", "-1s"}, "--drop-every -1s: must be 0 or at least 1ms"},
	} {
		r := runProbe(t, nil, tt.args...)
		check.Equal(t, 2, r.code, "hubprobe %v", tt.args)
		check.Contains(t, r.stderr, tt.want, "hubprobe %v", tt.args)
		check.Contains(t, r.stderr, "usage: hubprobe", "hubprobe %v", tt.args)
		check.Equal(t, "", r.stdout, "hubprobe %v", tt.args)
	}

	r := runProbe(t, nil, "listen", "--json", "--stateful-reconnect", "--skip-negotiate", "ws://127.0.0.1:1/hub")
	check.Equal(t, 2, r.code)
	check.Contains(t, r.stdout, `{"event":"error","error":"--stateful-reconnect cannot be combined with --skip-negotiate`)
}

func TestCallStreamStatefulReconnect(t *testing.T) {
	serve, hubURL := startServe(t, "--stateful-reconnect", "--drop-every", "100ms")
	// 20 items, one every 50ms, so that several drops cut the stream.
	r := runProbe(t, nil, "call", "--json", "--stateful-reconnect", "--stream", hubURL, "Counter", "20", "50")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	events := parseEvents(t, strings.Split(strings.TrimSpace(r.stdout), "\n"))
	var items []string
	reattached := 0
	for _, e := range events {
		switch e.Event {
		case "item":
			items = append(items, string(e.Item))
		case "reattached":
			reattached++
		}
	}
	want := make([]string, 20)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	check.Equal(t, want, items, "each item once and in order")
	check.True(t, reattached > 0, "no reattached event: %s", r.stdout)
	check.Contains(t, r.stdout, `"message":"stream Counter completed after 20 items"`)

	// Text: the events go to stderr.
	r = runProbe(t, nil, "call", "--stateful-reconnect", "--stream", hubURL, "Counter", "10", "50")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "stream Counter completed after 10 items")
	check.NotContains(t, r.stdout, "reattached")
	check.True(t, regexp.MustCompile(`(?m)^reattached a new WebSocket to connection ID [\w-]+$`).MatchString(r.stderr), "stderr: %s", r.stderr)
	stopServe(t, serve, hubURL, syscall.SIGINT)
}

func TestListenVerboseReconnectMessagePack(t *testing.T) {
	serve, hubURL := startServe(t, "--push", "Tick", "--push-interval", "20ms", "--drop-every", "300ms")
	listen := startProbe(t, "listen", "-v", "--protocol", "messagepack", "--reconnect", hubURL, "Tick")
	lines := readLines(listen, 1000, func(lines []string) bool {
		return countPrefix(lines, "server invoked Tick(1, ") == 2
	})
	interrupt(t, listen)
	must.True(t, countPrefix(lines, "server invoked Tick(1, ") == 2, "no Tick after the reconnect: %q", lines)

	// The handshake of the second connection is traced as a handshake,
	// not as MessagePack hub messages.
	stderr := listen.stderr.String()
	check.Contains(t, stderr, "= new connection: handshake again")
	check.True(t, strings.Count(stderr, `> ws binary {"protocol":"messagepack","version":1}\x1e`) >= 2, "stderr: %s", shortenOutput(stderr))
	check.NotContains(t, stderr, "incomplete hub message")
	check.NotContains(t, stderr, "signalr/protocol:")
	stopServe(t, serve, hubURL, syscall.SIGINT)
}

func TestStatefulReconnectDeclinedWarning(t *testing.T) {
	srv := startServer(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--stateful-reconnect", srv.HubURL(), "Add", "1", "2")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "Add returned 3")
	check.Contains(t, r.stderr, "warning: the server declined stateful reconnect, so a lost WebSocket ends the connection\n")
	check.NotContains(t, r.stderr, "automatic reconnect then opens a new connection")

	r = runProbe(t, nil, "call", "--json", "--stateful-reconnect", "--reconnect", srv.HubURL(), "Add", "1", "2")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"warning","message":"the server declined stateful reconnect, so a lost WebSocket ends the connection; automatic reconnect then opens a new connection, and messages sent meanwhile are lost"}`)
	check.Equal(t, "", r.stderr)

	// A server that agrees gets no warning.
	stateful := startServer(t, conformance.Options{StatefulReconnect: true})
	r = runProbe(t, nil, "call", "--stateful-reconnect", stateful.HubURL(), "Add", "1", "2")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.NotContains(t, r.stderr, "warning")
}
