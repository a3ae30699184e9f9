package conformance

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// connect starts a server with opts, connects a raw client and completes
// the handshake.
func connect(t *testing.T, opts Options) (*Server, *rawClient) {
	t.Helper()
	srv := startServer(t, opts)
	c := dialRaw(t, srv.HubURL(), nil)
	c.handshake()
	return srv, c
}

func TestHubSingleResultMethods(t *testing.T) {
	_, c := connect(t, Options{})
	tests := []struct {
		name    string
		request string
		want    string
	}{
		{
			name:    "Echo string",
			request: `{"type":1,"invocationId":"1","target":"Echo","arguments":["héllo <&>"]}`,
			want:    `{"type":3,"invocationId":"1","result":"héllo <&>"}`,
		},
		{
			name:    "Echo keeps bytes",
			request: `{"type":1,"invocationId":"2","target":"Echo","arguments":[ {"b" : [1, 2.50,null]} ]}`,
			want:    `{"type":3,"invocationId":"2","result":{"b" : [1, 2.50,null]}}`,
		},
		{
			name:    "Add",
			request: `{"type":1,"invocationId":"3","target":"Add","arguments":[40,2]}`,
			want:    `{"type":3,"invocationId":"3","result":42}`,
		},
		{
			name:    "Fail",
			request: `{"type":1,"invocationId":"4","target":"Fail","arguments":["it \"broke\""]}`,
			want:    `{"type":3,"invocationId":"4","error":"it \"broke\""}`,
		},
		{
			name:    "Void",
			request: `{"type":1,"invocationId":"5","target":"Void","arguments":[]}`,
			want:    `{"type":3,"invocationId":"5"}`,
		},
		{
			name:    "unknown method",
			request: `{"type":1,"invocationId":"6","target":"Nope","arguments":[]}`,
			want:    `{"type":3,"invocationId":"6","error":"Unknown hub method 'Nope'"}`,
		},
		{
			name:    "method names are case-sensitive",
			request: `{"type":1,"invocationId":"7","target":"add","arguments":[1,2]}`,
			want:    `{"type":3,"invocationId":"7","error":"Unknown hub method 'add'"}`,
		},
		{
			name:    "too few arguments",
			request: `{"type":1,"invocationId":"8","target":"Add","arguments":[1]}`,
			want:    `{"type":3,"invocationId":"8","error":"Failed to invoke 'Add' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2."}`,
		},
		{
			name:    "wrong argument type",
			request: `{"type":1,"invocationId":"9","target":"Add","arguments":["one",2]}`,
			want:    `{"type":3,"invocationId":"9","error":"Failed to invoke 'Add' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."}`,
		},
		{
			name:    "streaming method with Invocation",
			request: `{"type":1,"invocationId":"10","target":"Counter","arguments":[1,0]}`,
			want:    `{"type":3,"invocationId":"10","error":"The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."}`,
		},
		{
			name:    "single-result method with StreamInvocation",
			request: `{"type":4,"invocationId":"11","target":"Add","arguments":[1,2]}`,
			want:    `{"type":3,"invocationId":"11","error":"The client attempted to invoke the non-streaming 'Add' method with a streaming invocation."}`,
		},
		{
			name:    "headers are ignored",
			request: `{"type":1,"headers":{"a":"b"},"invocationId":"12","target":"Add","arguments":[1,2]}`,
			want:    `{"type":3,"invocationId":"12","result":3}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.sendRecord(tt.request)
			c.expectRecord(tt.want)
		})
	}
}

func TestHubNonBlockingInvocation(t *testing.T) {
	_, c := connect(t, Options{})
	// The calls without an id get no Completion, not even the failing
	// ones, so the next record is the Completion of the call that follows.
	c.sendRecord(`{"type":1,"target":"Add","arguments":[1,2]}`)
	c.sendRecord(`{"type":1,"target":"Nope","arguments":[]}`)
	c.sendRecord(`{"type":1,"target":"Fail","arguments":["x"]}`)
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
}

func TestHubInvocationIDInUse(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":4,"invocationId":"1","target":"Counter","arguments":[1000,20]}`)
	c.sendRecord(`{"type":4,"invocationId":"1","target":"Counter","arguments":[1,0]}`)
	for {
		m := c.readHubMessage()
		if m["type"] == float64(2) {
			continue
		}
		if m["error"] != "Invocation ID '1' is already in use." {
			t.Fatalf("message = %v; want an error Completion for the reused id", m)
		}
		break
	}
	c.sendRecord(`{"type":5,"invocationId":"1"}`)
}

func TestHubCounter(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":4,"invocationId":"s","target":"Counter","arguments":[3,0]}`)
	for i := range 3 {
		c.expectRecord(`{"type":2,"invocationId":"s","item":` + strconv.Itoa(i) + `}`)
	}
	c.expectRecord(`{"type":3,"invocationId":"s"}`)

	c.sendRecord(`{"type":4,"invocationId":"empty","target":"Counter","arguments":[0,0]}`)
	c.expectRecord(`{"type":3,"invocationId":"empty"}`)
}

func TestHubCounterCancel(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":4,"invocationId":"s","target":"Counter","arguments":[100000,5]}`)
	c.expectRecord(`{"type":2,"invocationId":"s","item":0}`)
	c.sendRecord(`{"type":5,"invocationId":"s"}`)
	for {
		m := c.readHubMessage()
		if m["type"] == float64(2) {
			continue
		}
		if len(m) != 2 || m["type"] != float64(3) || m["invocationId"] != "s" {
			t.Fatalf("message = %v; want a plain Completion after the cancel", m)
		}
		break
	}
	// A cancel for an unknown id is ignored.
	c.sendRecord(`{"type":5,"invocationId":"unknown"}`)
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Void","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
}

func TestHubSum(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Sum","arguments":[],"streamIds":["a"]}`)
	for _, n := range []string{"1", "2", "3", "4"} {
		c.sendRecord(`{"type":2,"invocationId":"a","item":` + n + `}`)
	}
	c.sendRecord(`{"type":3,"invocationId":"a"}`)
	c.expectRecord(`{"type":3,"invocationId":"1","result":10}`)

	// Items for a finished stream are dropped.
	c.sendRecord(`{"type":2,"invocationId":"a","item":5}`)

	c.sendRecord(`{"type":1,"invocationId":"2","target":"Sum","arguments":[],"streamIds":["b"]}`)
	c.sendRecord(`{"type":2,"invocationId":"b","item":1}`)
	c.sendRecord(`{"type":3,"invocationId":"b","error":"client stream failed"}`)
	c.expectRecord(`{"type":3,"invocationId":"2","error":"client stream failed"}`)

	c.sendRecord(`{"type":1,"invocationId":"3","target":"Sum","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"3","error":"Failed to invoke 'Sum' due to an error on the server. InvalidDataException: Client sent 0 stream(s), Hub method expects 1."}`)
}

func TestHubSumManyItems(t *testing.T) {
	// More items than the stream buffer holds make the read loop wait for
	// the method.
	_, c := connect(t, Options{StreamBufferCapacity: 2})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Sum","arguments":[],"streamIds":["x"]}`)
	var batch strings.Builder
	want := 0
	for i := range 100 {
		batch.WriteString(`{"type":2,"invocationId":"x","item":` + strconv.Itoa(i) + "}\x1e")
		want += i
	}
	batch.WriteString(`{"type":3,"invocationId":"x"}` + "\x1e")
	c.send(batch.String())
	c.expectRecord(`{"type":3,"invocationId":"1","result":` + strconv.Itoa(want) + `}`)
}

func TestHubCallMe(t *testing.T) {
	_, c := connect(t, Options{})

	c.sendRecord(`{"type":1,"invocationId":"1","target":"CallMe","arguments":["Notify",{"k":1},false]}`)
	c.expectRecord(`{"type":1,"target":"Notify","arguments":[{"k":1}]}`)
	c.expectRecord(`{"type":3,"invocationId":"1","result":null}`)

	c.sendRecord(`{"type":1,"invocationId":"2","target":"CallMe","arguments":["Ask","question",true]}`)
	c.expectRecord(`{"type":1,"invocationId":"1","target":"Ask","arguments":["question"]}`)
	c.sendRecord(`{"type":3,"invocationId":"1","result":"answer"}`)
	c.expectRecord(`{"type":3,"invocationId":"2","result":"answer"}`)

	c.sendRecord(`{"type":1,"invocationId":"3","target":"CallMe","arguments":["Ask",1,true]}`)
	c.expectRecord(`{"type":1,"invocationId":"2","target":"Ask","arguments":[1]}`)
	c.sendRecord(`{"type":3,"invocationId":"2","error":"Client didn't provide a result."}`)
	c.expectRecord(`{"type":3,"invocationId":"3","error":"Client didn't provide a result."}`)

	c.sendRecord(`{"type":1,"invocationId":"4","target":"CallMe","arguments":["Ask",1,true]}`)
	c.expectRecord(`{"type":1,"invocationId":"3","target":"Ask","arguments":[1]}`)
	c.sendRecord(`{"type":3,"invocationId":"3"}`)
	c.expectRecord(`{"type":3,"invocationId":"4","result":null}`)

	// A Completion for an id the server never used is ignored.
	c.sendRecord(`{"type":3,"invocationId":"99","result":1}`)
	c.sendRecord(`{"type":1,"invocationId":"5","target":"Void","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"5"}`)
}

func TestHubCloseMe(t *testing.T) {
	tests := []struct {
		name    string
		request string
		want    string
	}{
		{
			name:    "error and reconnect",
			request: `{"type":1,"invocationId":"1","target":"CloseMe","arguments":["going away",true]}`,
			want:    `{"type":7,"error":"going away","allowReconnect":true}`,
		},
		{
			name:    "plain",
			request: `{"type":1,"invocationId":"1","target":"CloseMe","arguments":["",false]}`,
			want:    `{"type":7}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := connect(t, Options{})
			c.sendRecord(tt.request)
			c.expectRecord(tt.want)
			c.expectClosed()
		})
	}
}

func TestHubBig(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Big","arguments":[100000]}`)
	got := c.readRecord()
	want := `{"type":3,"invocationId":"1","result":"` + strings.Repeat("x", 100000) + `"}`
	if got != want {
		t.Errorf("Big(100000) record has %d bytes; want %d", len(got), len(want))
	}
	c.sendRecord(`{"type":1,"invocationId":"2","target":"Big","arguments":[-1]}`)
	c.expectRecord(`{"type":3,"invocationId":"2","error":"Big: size -1 is outside 0 to 16777216."}`)
}

func TestHubParallelInvocations(t *testing.T) {
	hub := NewTestHub()
	release := make(chan struct{})
	hub.Handle("Wait", func(call *Call) (any, error) {
		select {
		case <-release:
			return "released", nil
		case <-call.Context().Done():
			return nil, call.Context().Err()
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	// With the default of one invocation at a time, Add waits behind Wait.
	_, c := connect(t, Options{Hub: hub})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Wait","arguments":[]}`)
	c.sendRecord(`{"type":1,"invocationId":"2","target":"Add","arguments":[1,1]}`)
	close(release)
	c.expectRecord(`{"type":3,"invocationId":"1","result":"released"}`)
	c.expectRecord(`{"type":3,"invocationId":"2","result":2}`)

	// With two, Add completes while Wait still runs.
	block := make(chan struct{})
	hub.Handle("Block", func(call *Call) (any, error) {
		select {
		case <-block:
		case <-call.Context().Done():
		}
		return nil, nil
	})
	_, c = connect(t, Options{Hub: hub, MaxParallelInvocations: 2})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Block","arguments":[]}`)
	c.sendRecord(`{"type":1,"invocationId":"2","target":"Add","arguments":[1,1]}`)
	c.expectRecord(`{"type":3,"invocationId":"2","result":2}`)
	close(block)
	c.expectRecord(`{"type":3,"invocationId":"1","result":null}`)
}

func TestHubMethodPanic(t *testing.T) {
	hub := NewHub()
	hub.Handle("Panic", func(*Call) (any, error) { panic("boom") })
	_, c := connect(t, Options{Hub: hub})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Panic","arguments":[]}`)
	c.expectRecord(`{"type":3,"invocationId":"1","error":"An unexpected error occurred invoking 'Panic' on the server. panic: boom"}`)
}

func TestConnInvokeFromTest(t *testing.T) {
	connected := make(chan *Conn, 1)
	_, c := connect(t, Options{OnConnected: func(conn *Conn) { connected <- conn }})
	conn := <-connected

	results := make(chan error, 1)
	go func() {
		_, err := conn.Invoke(context.Background(), "Ask")
		results <- err
	}()
	c.expectRecord(`{"type":1,"invocationId":"1","target":"Ask","arguments":[]}`)
	c.sendRecord(`{"type":3,"invocationId":"1","error":"no handler"}`)
	err := <-results
	var completionErr *CompletionError
	if !errors.As(err, &completionErr) || completionErr.Message != "no handler" {
		t.Errorf("Invoke error = %v; want CompletionError \"no handler\"", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := conn.Invoke(ctx, "Never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Invoke without an answer: error %v; want context.DeadlineExceeded", err)
	}

	if err := conn.SendRaw(context.Background(), []byte(`{"type":1,"target":"Raw","arguments":[]}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	c.expectRecord(`{"type":1,"invocationId":"2","target":"Never","arguments":[]}`)
	c.expectRecord(`{"type":1,"target":"Raw","arguments":[]}`)

	conn.Close("bye", false)
	c.expectRecord(`{"type":7,"error":"bye"}`)
	c.expectClosed()
	waitFor(t, func() bool { return conn.Context().Err() != nil })
	if _, err := conn.Invoke(context.Background(), "Late"); !errors.Is(err, ErrConnClosed) {
		t.Errorf("Invoke after Close: error %v; want ErrConnClosed", err)
	}
}
