package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hubwire/hubwire/conformance"
)

func TestCallMessagePackAdd(t *testing.T) {
	url, captures := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--protocol", "messagepack", "--json", url, "Add", "2", "40")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"result","target":"Add","result":42}`)

	c := waitCapture(t, captures, 1)
	check.Equal(t, "messagepack", c[0].Protocol)
	// [1, {}, "1", "Add", [2, 40], []], with both integers as fixints.
	check.Contains(t, allData(c[0], conformance.ClientToServer), "\x0d\x96\x01\x80\xa11\xa3Add\x92\x02\x28\x90")
}

func TestCallMessagePackEcho(t *testing.T) {
	url, captures := startHub(t, conformance.Options{})
	const value = `{"z":1,"a":[2.0,-0.5,"x",null,true,18446744073709551615],"m":{}}`
	r := runProbe(t, nil, "call", "--protocol", "msgpack", "--json", url, "Echo", value)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"result","target":"Echo","result":`+value+`}`, "key order and number types kept")

	r = runProbe(t, nil, "call", "--protocol", "msgpack", "-d", `["<&>"]`, url, "Echo")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `Echo returned "<&>"`)

	c := waitCapture(t, captures, 2)
	check.Contains(t, allData(c[0], conformance.ClientToServer), "\x83\xa1z\x01\xa1a\x96\xcb\x40\x00\x00\x00\x00\x00\x00\x00", "a map in argument order with 2.0 as a float64")
}

func TestCallMessagePackStream(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--protocol", "messagepack", "--stream", "--json", url, "Counter", "3", "0")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for i := range 3 {
		check.Contains(t, r.stdout, fmt.Sprintf(`"item":%d,"index":%d`, i, i))
	}
	check.Contains(t, r.stdout, "completed after 3 items")
}

func TestCallMessagePackStreamInterrupt(t *testing.T) {
	url, captures := startHub(t, conformance.Options{})
	probe := startProbe(t, "call", "--protocol", "messagepack", "--stream", url, "Counter", "1000", "20")

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
	check.Contains(t, allData(c[0], conformance.ClientToServer), "\x05\x93\x05\x80\xa11", "CancelInvocation [5, {}, \"1\"]")
}

func TestCallMessagePackHubError(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	r := runProbe(t, nil, "call", "--protocol", "messagepack", url, "Fail", `"broken on purpose"`)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "hub error: broken on purpose")
}

func TestListenMessagePack(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	probe := startListen(t, "--protocol", "messagepack", "--json", "--count", "1", url, "Notify")

	r := runProbe(t, nil, "call", "--protocol", "messagepack", url, "Broadcast", `"Notify"`, `{"n":7,"f":1.5,"s":["a"]}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	lines := probe.wait(t)
	must.Len(t, lines, 1)
	check.Equal(t, `{"event":"invocation","target":"Notify","arguments":[{"n":7,"f":1.5,"s":["a"]}]}`, lines[0])
}

func TestListenMessagePackResult(t *testing.T) {
	url, _ := startHub(t, conformance.Options{})
	probe := startListen(t, "--protocol", "messagepack", "--json", "--result", `{"ok":true,"n":2.0}`, url)

	r := runProbe(t, nil, "call", "--protocol", "messagepack", "--json", url, "Request", `"Question"`, "5")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `{"event":"result","target":"Request","result":{"ok":true,"n":2.0}}`)

	must.NoError(t, probe.cmd.Process.Signal(syscall.SIGINT))
	lines := probe.wait(t)
	must.Len(t, lines, 2)
	check.Equal(t, `{"event":"invocation","target":"Question","invocationId":"1","arguments":[5]}`, lines[0])
	check.Equal(t, `{"event":"reply","target":"Question","invocationId":"1","result":{"ok":true,"n":2.0}}`, lines[1])
}

func TestMessagePackRecordReplayCheck(t *testing.T) {
	const token = "tok-7a6b5c4d3e2f-secret"
	url, _ := startHub(t, conformance.Options{})
	path := filepath.Join(t.TempDir(), "call.capture")
	env := []string{"HUBPROBE_TEST_TOKEN=" + token}
	r := runProbe(t, env, "call", "--protocol", "msgpack", "--record", path, "--token-env", "HUBPROBE_TEST_TOKEN", url, "Echo", `{"token":"`+token+`","n":3}`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)

	data, err := os.ReadFile(path)
	must.NoError(t, err)
	check.NotContains(t, string(data), token)
	check.Contains(t, string(data), "# protocol: messagepack\n")
	check.Contains(t, string(data), `> binary {"protocol":"messagepack","version":1}\x1e`)
	check.Contains(t, string(data), `\x82\xa5token\xaa[REDACTED]\xa1n\x03`, "redacted string with its length rewritten")
	check.NotContains(t, string(data), "> text", "every message of a MessagePack session is binary")

	r = runProbe(t, nil, "replay", "--check", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "all valid")

	r = runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `client: {"protocol":"messagepack","version":1}`)
	check.Contains(t, r.stdout, `client: [1,{},"1","Echo",[{"token":"[REDACTED]","n":3}],[]]`)
	check.Contains(t, r.stdout, `server: [3,{},"1",3,{"token":"[REDACTED]","n":3}]`)

	r = runProbe(t, nil, "replay", "--json", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `"item":[3,{},"1",3,{"token":"[REDACTED]","n":3}]`)

	// The map now claims three entries but has two, so the hub message
	// ends early.
	broken := strings.Replace(string(data), `\x82\xa5token`, `\x83\xa5token`, 1)
	must.NotEqual(t, string(data), broken)
	must.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	r = runProbe(t, nil, "replay", "--check", path)
	check.Equal(t, 1, r.code)
	check.Contains(t, r.stderr, "hub message 1")
}

func TestMessagePackTokenNeverPrinted(t *testing.T) {
	const token = "tok-0f1e2d3c4b5a-secret"
	url, _ := startHub(t, conformance.Options{})
	env := []string{"HUBPROBE_TEST_TOKEN=" + token}
	r := runProbe(t, env, "call", "-v", "--protocol", "messagepack", "--token-env", "HUBPROBE_TEST_TOKEN", url, "Echo", `"`+token+`"`)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.NotContains(t, r.stdout, token)
	check.NotContains(t, r.stderr, token)
	check.Contains(t, r.stdout, `Echo returned "[REDACTED]"`)
	check.Contains(t, r.stderr, `> ws binary {"protocol":"messagepack","version":1}\x1e`, "sent handshake")
	check.Contains(t, r.stderr, `> ws binary \x17\x96\x01\x80\xa11\xa4Echo\x91\xaa[REDACTED]\x90`, "sent invocation, reframed")
	check.Contains(t, r.stderr, `    = [1,{},"1","Echo",["[REDACTED]"],[]]`, "sent invocation as JSON")
	check.Contains(t, r.stderr, `    = [3,{},"1",3,"[REDACTED]"]`, "received completion as JSON")
}

// TestReplayOfficialMessagePack checks the MessagePack captures of the
// official client, which sends its handshake request as a text message
// and everything else as binary messages.
func TestReplayOfficialMessagePack(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/captures/*.messagepack.capture")
	must.NoError(t, err)
	if len(paths) == 0 {
		t.Skip("no MessagePack captures in testdata/captures")
	}
	for _, path := range paths {
		r := runProbe(t, nil, "replay", "--check", path)
		check.Equal(t, 0, r.code, "%s: %s", path, r.stderr)
		check.Contains(t, r.stdout, "all valid", path)
	}

	path := "../../testdata/captures/cancel.messagepack.capture"
	if _, err := os.Stat(path); err != nil {
		return
	}
	r := runProbe(t, nil, "replay", path)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, `client: [4,{},"0","Counter",[1000,20]]`, "StreamInvocation")
	check.Contains(t, r.stdout, `server: [2,{},"0",1]`, "StreamItem")
	check.Contains(t, r.stdout, `client: [5,{},"0"]`, "CancelInvocation")
}
