package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
)

// The interop test runs the official JavaScript client, @microsoft/signalr
// from npm, against the reference hub. It needs Node.js and installs the
// npm packages pinned in js/package-lock.json on first use.
//
// Without Node.js it is skipped, unless HUBWIRE_REQUIRE_NODE=1, which CI
// sets, turns the skip into a failure.
//
// Every scenario runs once with each hub protocol of interopProtocols.
// With HUBWIRE_UPDATE_CAPTURES=1 the sessions are recorded into
// testdata/captures, which is how the checked-in captures are made: a JSON
// session as <scenario>.capture, a MessagePack one as
// <scenario>.messagepack.capture.
//
//	HUBWIRE_UPDATE_CAPTURES=1 go test ./conformance -run TestInteropOfficialClient

// interopProtocols are the hub protocols the official client runs the
// scenarios with.
var interopProtocols = []string{"json", "messagepack"}

func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("HUBWIRE_REQUIRE_NODE") == "1" {
			t.Fatal("Node.js is required (HUBWIRE_REQUIRE_NODE=1) but node is not on PATH")
		}
		t.Skip("Node.js not found on PATH; install it to run the interop test with the official client")
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "@microsoft", "signalr")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("node_modules is missing and npm is not on PATH")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = "js"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci failed: %v\n%s", err, out)
		}
	}
	return node
}

type interopLine struct {
	Scenario string          `json:"scenario"`
	OK       bool            `json:"ok"`
	Result   json.RawMessage `json:"result"`
	Error    string          `json:"error"`
}

// runInterop runs the Node script against hubURL and returns its lines by
// scenario.
func runInterop(t *testing.T, node, hubURL, protocolName string, scenarios ...string) map[string]interopLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"interop.js", hubURL, protocolName}, scenarios...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = "js"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("interop script timed out; stderr:\n%s", stderr.String())
	}
	lines := map[string]interopLine{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l interopLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("interop script printed %q: %v", sc.Text(), err)
		}
		lines[l.Scenario] = l
	}
	if err != nil && len(lines) == 0 {
		t.Fatalf("interop script failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	return lines
}

// interopExpectations are what each scenario of interop.js must produce.
// A check returns "" when the result is right.
var interopExpectations = map[string]func(l interopLine) string{
	"echo":              resultIs(`{"text":"héllo","list":[1,2.5,null,true]}`),
	"add":               resultIs(`42`),
	"fail":              resultContains("bad input"),
	"void":              resultIs(`"void"`),
	"counter":           resultIs(`[0,1,2,3,4]`),
	"cancel":            resultIs(`[0,1]`),
	"sum":               resultIs(`10`),
	"callme_result":     resultIs(`"QUIET"`),
	"callme_noresult":   resultIs(`"fire and forget"`),
	"callme_missing":    resultContains("Client didn't provide a result."),
	"closeme_error":     resultContains("maintenance"),
	"closeme_reconnect": resultContains("deploying"),
	"big":               resultIs(`{"length":true}`),
}

// interopReconnectExpectations are the scenarios of interop.js that drop
// the WebSocket: the official client reattaches with stateful reconnect or
// starts a new connection with automatic reconnect. Their traffic depends
// on timing, so they are not recorded into captures.
var interopReconnectExpectations = map[string]func(l interopLine) string{
	"stateful_stream":       resultIs(`{"items":` + intRange(30) + `,"reattaches":1}`),
	"stateful_invocations":  resultIs(`{"marks":` + intRange(40) + `,"reattaches":1}`),
	"autoreconnect_closeme": resultIs(`{"newConnection":true,"sum":3}`),
	"autoreconnect_drop":    resultIs(`{"newConnection":true,"sum":3}`),
}

// intRange returns the JSON array [0, 1, ..., n-1].
func intRange(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = strconv.Itoa(i)
	}
	return "[" + strings.Join(items, ",") + "]"
}

// checkInterop checks the lines of one run against expectations and
// returns the number of scenarios that passed.
func checkInterop(t *testing.T, lines map[string]interopLine, expectations map[string]func(l interopLine) string) int {
	t.Helper()
	passed := 0
	for name, check := range expectations {
		l, ok := lines[name]
		switch {
		case !ok:
			t.Errorf("%s: the script printed no result", name)
		case !l.OK:
			t.Errorf("%s: official client failed: %s", name, l.Error)
		default:
			if msg := check(l); msg != "" {
				t.Errorf("%s: %s", name, msg)
			} else {
				passed++
			}
		}
	}
	if len(lines) != len(expectations) {
		t.Errorf("script ran %d scenarios; the test expects %d", len(lines), len(expectations))
	}
	return passed
}

func resultIs(want string) func(l interopLine) string {
	return func(l interopLine) string {
		var got, w any
		if err := json.Unmarshal(l.Result, &got); err != nil {
			return "result is not JSON: " + string(l.Result)
		}
		json.Unmarshal([]byte(want), &w)
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(w)
		if !bytes.Equal(gotJSON, wantJSON) {
			return "result = " + string(gotJSON) + "; want " + string(wantJSON)
		}
		return ""
	}
}

func resultContains(text string) func(l interopLine) string {
	return func(l interopLine) string {
		if !strings.Contains(string(l.Result), text) {
			return "result = " + string(l.Result) + "; want it to contain " + text
		}
		return ""
	}
}

func TestInteropOfficialClient(t *testing.T) {
	node := requireNode(t)
	recordDir := t.TempDir()
	if os.Getenv("HUBWIRE_UPDATE_CAPTURES") == "1" {
		recordDir = filepath.Join("..", "testdata", "captures")
		if err := os.MkdirAll(recordDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Keep-alive pings would land at times that differ between runs, so
	// the recorded sessions have none.
	srv := conformance.NewServer(conformance.Options{KeepAliveInterval: -1, RecordDir: recordDir})
	if _, err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// The reconnect scenarios run against a server of their own, with
	// stateful reconnect and without recording.
	reconnectSrv := conformance.NewServer(conformance.Options{StatefulReconnect: true, AckInterval: 100 * time.Millisecond})
	if _, err := reconnectSrv.Listen(); err != nil {
		t.Fatal(err)
	}
	defer reconnectSrv.Close()

	for _, protocolName := range interopProtocols {
		t.Run(protocolName, func(t *testing.T) {
			lines := runInterop(t, node, srv.HubURL(), protocolName, scenarioNames(interopExpectations)...)
			passed := checkInterop(t, lines, interopExpectations)
			t.Logf("%d of %d scenarios passed with %s", passed, len(interopExpectations), protocolName)
		})
		t.Run(protocolName+"-reconnect", func(t *testing.T) {
			lines := runInterop(t, node, reconnectSrv.HubURL(), protocolName, scenarioNames(interopReconnectExpectations)...)
			passed := checkInterop(t, lines, interopReconnectExpectations)
			t.Logf("%d of %d reconnect scenarios passed with %s", passed, len(interopReconnectExpectations), protocolName)
		})
	}
}

// scenarioNames returns the scenarios of expectations in sorted order.
func scenarioNames(expectations map[string]func(l interopLine) string) []string {
	names := make([]string, 0, len(expectations))
	for name := range expectations {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// TestReplayCapturesAgainstOfficialClient plays the server side of every
// checked-in capture against the official client running the same
// scenario in the capture's hub protocol. The client's messages must match
// the recording, up to invocation IDs and keep-alive Pings.
func TestReplayCapturesAgainstOfficialClient(t *testing.T) {
	node := requireNode(t)
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.capture"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no captures in testdata/captures")
	}
	perProtocol := map[string]int{}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".capture")
		t.Run(name, func(t *testing.T) {
			capture, err := conformance.ReadCaptureFile(path)
			if err != nil {
				t.Fatal(err)
			}
			perProtocol[capture.Protocol]++
			ids := conformance.NewInvocationIDMap()
			replay := conformance.NewReplay(capture, conformance.ReplayOptions{
				Match:   ids.Match,
				Rewrite: ids.Rewrite,
				Ignore:  conformance.IgnorePings,
				Timeout: 10 * time.Second,
			})
			if _, err := replay.Listen(); err != nil {
				t.Fatal(err)
			}
			defer replay.Close()
			lines := runInterop(t, node, replay.HubURL(), capture.Protocol, capture.Scenario)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := replay.Wait(ctx); err != nil {
				t.Errorf("official client differs from its own capture: %v", err)
			}
			if l := lines[capture.Scenario]; !l.OK {
				t.Errorf("scenario failed against the replay: %s", l.Error)
			}
		})
	}
	for _, name := range interopProtocols {
		if perProtocol[name] != len(interopExpectations) {
			t.Errorf("testdata/captures has %d captures of the %s protocol; want one per scenario, %d", perProtocol[name], name, len(interopExpectations))
		}
	}
}
