package conformance

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// clientIDs are the ids the scripted session uses: an invocation id for
// each of Add, Counter and Sum, the stream id of Sum, and the id of CallMe.
type clientIDs struct {
	add, counter, sum, stream, callMe string
}

// runSession runs a fixed session with the raw client: handshake, Add, a
// Counter stream, a Sum over a client stream, CallMe with a client result,
// and Close.
func runSession(t *testing.T, c *rawClient, ids clientIDs) {
	t.Helper()
	c.handshake()

	c.sendRecord(`{"type":1,"invocationId":"` + ids.add + `","target":"Add","arguments":[1,2]}`)
	c.expectRecord(`{"type":3,"invocationId":"` + ids.add + `","result":3}`)

	c.sendRecord(`{"type":4,"invocationId":"` + ids.counter + `","target":"Counter","arguments":[2,0]}`)
	c.expectRecord(`{"type":2,"invocationId":"` + ids.counter + `","item":0}`)
	c.expectRecord(`{"type":2,"invocationId":"` + ids.counter + `","item":1}`)
	c.expectRecord(`{"type":3,"invocationId":"` + ids.counter + `"}`)

	c.sendRecord(`{"type":1,"invocationId":"` + ids.sum + `","target":"Sum","arguments":[],"streamIds":["` + ids.stream + `"]}`)
	c.sendRecord(`{"type":2,"invocationId":"` + ids.stream + `","item":5}`)
	c.sendRecord(`{"type":3,"invocationId":"` + ids.stream + `"}`)
	c.expectRecord(`{"type":3,"invocationId":"` + ids.sum + `","result":5}`)

	c.sendRecord(`{"type":1,"invocationId":"` + ids.callMe + `","target":"CallMe","arguments":["Ask","q",true]}`)
	c.expectRecord(`{"type":1,"invocationId":"1","target":"Ask","arguments":["q"]}`)
	c.sendRecord(`{"type":3,"invocationId":"1","result":"a"}`)
	c.expectRecord(`{"type":3,"invocationId":"` + ids.callMe + `","result":"a"}`)

	c.sendRecord(`{"type":7}`)
	c.expectClosed()
}

var recordedIDs = clientIDs{add: "1", counter: "2", sum: "3", stream: "4", callMe: "5"}

const recordedSession = `# hubwire-capture 1
# protocol: json
# scenario: session
# client: rawclient/1.0
> text {"protocol":"json","version":1}\x1e
< text {}\x1e
> text {"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}\x1e
< text {"type":3,"invocationId":"1","result":3}\x1e
> text {"type":4,"invocationId":"2","target":"Counter","arguments":[2,0]}\x1e
< text {"type":2,"invocationId":"2","item":0}\x1e
< text {"type":2,"invocationId":"2","item":1}\x1e
< text {"type":3,"invocationId":"2"}\x1e
> text {"type":1,"invocationId":"3","target":"Sum","arguments":[],"streamIds":["4"]}\x1e
> text {"type":2,"invocationId":"4","item":5}\x1e
> text {"type":3,"invocationId":"4"}\x1e
< text {"type":3,"invocationId":"3","result":5}\x1e
> text {"type":1,"invocationId":"5","target":"CallMe","arguments":["Ask","q",true]}\x1e
< text {"type":1,"invocationId":"1","target":"Ask","arguments":["q"]}\x1e
> text {"type":3,"invocationId":"1","result":"a"}\x1e
< text {"type":3,"invocationId":"5","result":"a"}\x1e
> text {"type":7}\x1e
`

var rawClientHeader = http.Header{"X-Signalr-User-Agent": {"rawclient/1.0"}}

// recordSession runs the session against a recording server and returns
// the capture.
func recordSession(t *testing.T) *Capture {
	t.Helper()
	captures := make(chan *Capture, 1)
	srv := startServer(t, Options{KeepAliveInterval: -1, Record: func(c *Capture) { captures <- c }})
	c := dialRaw(t, srv.HubURL()+"?scenario=session", rawClientHeader)
	runSession(t, c, recordedIDs)
	select {
	case capture := <-captures:
		return capture
	case <-time.After(readTimeout):
		t.Fatal("the server delivered no capture")
		return nil
	}
}

func TestRecordSession(t *testing.T) {
	capture := recordSession(t)
	var buf bytes.Buffer
	if err := WriteCapture(&buf, capture); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != recordedSession {
		t.Errorf("capture =\n%s\nwant\n%s", got, recordedSession)
	}
}

func TestRecordDir(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, Options{KeepAliveInterval: -1, RecordDir: dir})
	for _, query := range []string{"?scenario=named", "", ""} {
		c := dialRaw(t, srv.HubURL()+query, nil)
		c.handshake()
		c.sendRecord(`{"type":7}`)
		c.expectClosed()
	}
	waitFor(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.capture"))
		return len(files) == 3
	})
	for _, name := range []string{"named.capture", "session-1.capture", "session-2.capture"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("reading %s: %v", name, err)
			continue
		}
		if !strings.HasSuffix(string(data), "< text {}\\x1e\n> text {\"type\":7}\\x1e\n") {
			t.Errorf("%s =\n%s\nwant the handshake and the Close", name, data)
		}
	}
}

// startReplay starts a replay of c on a loopback port.
func startReplay(t *testing.T, c *Capture, opts ReplayOptions) *Replay {
	t.Helper()
	replay := NewReplay(c, opts)
	if _, err := replay.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replay.Close() })
	return replay
}

func waitReplay(t *testing.T, replay *Replay) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	return replay.Wait(ctx)
}

func TestReplayRecordedSession(t *testing.T) {
	capture := recordSession(t)
	replay := startReplay(t, capture, ReplayOptions{})
	c := dialRaw(t, replay.HubURL(), nil)
	runSession(t, c, recordedIDs)
	if err := waitReplay(t, replay); err != nil {
		t.Errorf("replay: %v", err)
	}
}

func TestReplayNegotiate(t *testing.T) {
	replay := startReplay(t, &Capture{}, ReplayOptions{})
	_, body := negotiate(t, replay.HubURL()+"/negotiate?negotiateVersion=1", nil)
	n := decodeNegotiate(t, body)
	if !idPattern.MatchString(n.ConnectionToken) {
		t.Errorf("negotiate = %s; want a connection token", body)
	}
	c := dialRaw(t, replay.HubURL()+"?id="+n.ConnectionToken, nil)
	c.expectClosed()
	if err := waitReplay(t, replay); err != nil {
		t.Errorf("empty replay: %v", err)
	}
	if _, err := tryDialRaw(t, replay.HubURL(), nil); err != ws.StatusError(http.StatusConflict) {
		t.Errorf("second WebSocket: error %v; want 409", err)
	}
}

func TestReplayReportsMismatch(t *testing.T) {
	capture, err := ReadCapture(strings.NewReader(recordedSession))
	if err != nil {
		t.Fatal(err)
	}
	replay := startReplay(t, capture, ReplayOptions{})
	c := dialRaw(t, replay.HubURL(), nil)
	c.handshake()
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,3]}`)

	err = waitReplay(t, replay)
	var mismatch *Mismatch
	if !errors.As(err, &mismatch) {
		t.Fatalf("replay error = %v; want a *Mismatch", err)
	}
	if mismatch.Index != 2 {
		t.Errorf("mismatch at message %d; want 2", mismatch.Index)
	}
	if want := `{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}` + "\x1e"; string(mismatch.Want.Data) != want {
		t.Errorf("Want = %q; want %q", mismatch.Want.Data, want)
	}
	if got := `{"type":1,"invocationId":"1","target":"Add","arguments":[1,3]}` + "\x1e"; mismatch.Got == nil || string(mismatch.Got.Data) != got {
		t.Errorf("Got = %v; want %q", mismatch.Got, got)
	}
	if want := `want > text {"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}\x1e`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	c.expectClosed()
}

func TestReplayReportsClientClose(t *testing.T) {
	capture, err := ReadCapture(strings.NewReader(recordedSession))
	if err != nil {
		t.Fatal(err)
	}
	replay := startReplay(t, capture, ReplayOptions{})
	c := dialRaw(t, replay.HubURL(), nil)
	c.handshake()
	c.sendFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))

	var mismatch *Mismatch
	if err := waitReplay(t, replay); !errors.As(err, &mismatch) || mismatch.Got != nil || !errors.Is(err, errReplayClientClosed) {
		t.Fatalf("replay error = %v; want a *Mismatch at message 2 without a message", err)
	}
	if mismatch.Index != 2 {
		t.Errorf("mismatch at message %d; want 2", mismatch.Index)
	}
}

func TestReplayRenumberedIDs(t *testing.T) {
	capture := recordSession(t)
	renumbered := clientIDs{add: "a", counter: "b", sum: "c", stream: "d", callMe: "e"}

	// Without the map the first renumbered invocation differs.
	replay := startReplay(t, capture, ReplayOptions{})
	c := dialRaw(t, replay.HubURL(), nil)
	c.handshake()
	c.sendRecord(`{"type":1,"invocationId":"a","target":"Add","arguments":[1,2]}`)
	var mismatch *Mismatch
	if err := waitReplay(t, replay); !errors.As(err, &mismatch) || mismatch.Index != 2 {
		t.Fatalf("replay without the map: error %v; want a mismatch at message 2", err)
	}

	ids := NewInvocationIDMap()
	replay = startReplay(t, capture, ReplayOptions{Match: ids.Match, Rewrite: ids.Rewrite})
	c = dialRaw(t, replay.HubURL(), nil)
	runSession(t, c, renumbered)
	if err := waitReplay(t, replay); err != nil {
		t.Errorf("replay with the map: %v", err)
	}
}

func TestInvocationIDMapConsistency(t *testing.T) {
	text := func(s string) Message {
		return Message{Direction: ClientToServer, Format: 1, Data: []byte(s + "\x1e")}
	}
	ids := NewInvocationIDMap()
	steps := []struct {
		want, got string
		match     bool
	}{
		{`{"type":1,"invocationId":"1","target":"A","arguments":[]}`, `{"type":1,"invocationId":"x","target":"A","arguments":[]}`, true},
		{`{"type":5,"invocationId":"1"}`, `{"type":5,"invocationId":"x"}`, true},
		{`{"type":5,"invocationId":"1"}`, `{"type":5,"invocationId":"1"}`, false},
		{`{"type":1,"invocationId":"2","target":"A","arguments":[]}`, `{"type":1,"invocationId":"x","target":"A","arguments":[]}`, false},
		{`{"type":1,"invocationId":"2","target":"A","arguments":[]}`, `{"type":1,"invocationId":"y","target":"B","arguments":[]}`, false},
		{`{"type":1,"target":"A","arguments":[1]}`, `{"arguments":[ 1 ],"target":"A","type":1}`, true},
		{`{"type":1,"target":"A","arguments":[1]}`, `{"type":1,"invocationId":"z","target":"A","arguments":[1]}`, false},
		{`{"type":6}`, `{"type":6}`, true},
		{`{"type":99}`, `{"type":99}`, true},
		{`not json`, `not json`, true},
		{`not json`, `not JSON`, false},
	}
	for i, step := range steps {
		if got := ids.Match(text(step.want), text(step.got)); got != step.match {
			t.Errorf("step %d: Match(%s, %s) = %v; want %v", i, step.want, step.got, got, step.match)
		}
	}

	rewritten := ids.Rewrite(Message{Direction: ServerToClient, Format: 1, Data: []byte(
		`{"type":3,"invocationId":"1","result":1}` + "\x1e" + `{"type":1,"invocationId":"1","target":"S","arguments":[]}` + "\x1e" + `{"type":2,"invocationId":"9","item":1}` + "\x1e" + "tail")})
	want := `{"type":3,"invocationId":"x","result":1}` + "\x1e" + `{"type":1,"invocationId":"1","target":"S","arguments":[]}` + "\x1e" + `{"type":2,"invocationId":"9","item":1}` + "\x1e" + "tail"
	if string(rewritten.Data) != want {
		t.Errorf("Rewrite = %q; want %q", rewritten.Data, want)
	}
}

func TestReplayIgnorePings(t *testing.T) {
	capture, err := ReadCapture(strings.NewReader(recordedSession))
	if err != nil {
		t.Fatal(err)
	}
	replay := startReplay(t, capture, ReplayOptions{Ignore: IgnorePings})
	c := dialRaw(t, replay.HubURL(), nil)
	c.handshake()
	c.sendRecord(`{"type":6}`)
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`)
	c.expectRecord(`{"type":3,"invocationId":"1","result":3}`)
	c.sendRecord(`{"type":6}`)
	c.sendRecord(`{"type":6}`)
	c.sendRecord(`{"type":4,"invocationId":"2","target":"Counter","arguments":[2,0]}`)
	c.expectRecord(`{"type":2,"invocationId":"2","item":0}`)
	replay.Close()
	if err := waitReplay(t, replay); err != ErrServerClosed {
		t.Errorf("replay closed early: error %v; want ErrServerClosed", err)
	}
}

func TestReplayTimeout(t *testing.T) {
	capture, err := ReadCapture(strings.NewReader(recordedSession))
	if err != nil {
		t.Fatal(err)
	}
	replay := startReplay(t, capture, ReplayOptions{Timeout: 50 * time.Millisecond})
	c := dialRaw(t, replay.HubURL(), nil)
	_ = c
	var mismatch *Mismatch
	if err := waitReplay(t, replay); !errors.As(err, &mismatch) || mismatch.Index != 0 || mismatch.Err == nil {
		t.Errorf("replay error = %v; want a timeout at message 0", err)
	}
}

// TestReplayCheckedInCaptures plays both sides of every checked-in capture:
// the raw client sends the recorded client messages and expects the recorded
// server messages from a Replay of the same capture.
func TestReplayCheckedInCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.capture"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			file, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			capture, err := ReadCapture(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			replay := startReplay(t, capture, ReplayOptions{})
			c := dialRaw(t, replay.HubURL(), nil)
			for i, m := range capture.Messages {
				if m.Direction == ClientToServer {
					c.sendFrame(opcodeOf(m.Format), true, m.Data)
					continue
				}
				_, payload, err := c.readMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(payload, m.Data) {
					t.Fatalf("message %d = %q; want %q", i, payload, m.Data)
				}
			}
			if err := waitReplay(t, replay); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
}
