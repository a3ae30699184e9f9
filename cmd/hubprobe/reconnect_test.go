package main

import (
	"testing"
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
