package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

const demoDescription = `Starts the reference hub of the conformance package on 127.0.0.1, connects
to it with the JSON hub protocol and shows, step by step, an invocation, a
stream, server invocations with and without a client result, and a hub
error. It then connects again with the MessagePack hub protocol for one
more invocation. It needs no network beyond the loopback interface.

With -v the demo traces every WebSocket message both ways to stderr as it
crosses the connection. --record writes the messages of the JSON session
to a capture file; the MessagePack session is not recorded.`

// demoTimeout bounds the whole tour, so that a broken hub cannot hang it.
const demoTimeout = 30 * time.Second

// runDemo implements "hubprobe demo".
func runDemo(env *environment, args []string) error {
	cmd := lookupCommand("demo")
	fs := newFlagSet(env, cmd, demoDescription)
	var cf connFlags
	cf.registerOutput(fs)
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd.name, "unexpected argument %q", fs.Arg(0))
	}
	cf.protocol, cf.transport = "json", "websockets"
	cf.handshakeTimeout = signalr.DefaultHandshakeTimeout

	srv := conformance.NewServer(conformance.Options{
		Protocols: []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}},
	})
	defer srv.Close()
	if _, err := srv.Listen(); err != nil {
		return fmt.Errorf("starting the reference hub: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	p := newPrinter(env, cf.json)
	tour := &tour{p: p}

	tour.step("Start the reference hub in this process")
	tour.note("The conformance package serves its test hub at " + srv.HubURL())

	tour.step("Connect: negotiate, open the WebSocket, complete the JSON handshake")
	notified := make(chan event, 1)
	requested := make(chan event, 1)
	s := newSession(env, &cf, srv.HubURL())
	s.client.On("Notify", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		notified <- s.values.invocationEvent(inv)
		return nil, nil
	})
	s.client.On("Ask", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		requested <- s.values.invocationEvent(inv)
		var n int
		if err := inv.Decode(&n); err != nil {
			return nil, err
		}
		return n * 2, nil
	})
	if err := s.start(ctx, p, srv.HubURL()); err != nil {
		return s.end(env, &cf, cmd.name, err)
	}
	if err := tour.run(ctx, s, notified, requested); err != nil {
		return s.end(env, &cf, cmd.name, err)
	}
	if err := s.end(env, &cf, cmd.name, nil); err != nil {
		return err
	}
	if err := tour.messagePack(ctx, env, cf, srv.HubURL()); err != nil {
		return err
	}

	tour.step("Done")
	tour.note("Try it on your own hub: hubprobe call URL METHOD [ARG...]; see 'hubprobe help'")
	return nil
}

// A tour prints the steps of the demo.
type tour struct {
	p *printer
}

func (t *tour) step(msg string) { t.p.print(event{Event: "step", Message: msg}) }
func (t *tour) note(msg string) { t.p.print(event{Event: "note", Message: msg}) }

// run shows one example of each kind of traffic.
func (t *tour) run(ctx context.Context, s *session, notified, requested <-chan event) error {
	raw := func(v string) protocol.RawValue { return protocol.RawValue(v) }

	t.step("Invoke a hub method and wait for its Completion: Add(2, 3)")
	if err := invokeCall(ctx, s, t.p, "Add", []any{raw("2"), raw("3")}); err != nil {
		return err
	}
	t.step(`Invoke Echo with a JSON object; the hub returns it unchanged`)
	if err := invokeCall(ctx, s, t.p, "Echo", []any{raw(`{"greeting":"hello","numbers":[1,2,3]}`)}); err != nil {
		return err
	}

	t.step("Read a server-to-client stream item by item: Counter(5, 100) sends 0 to 4, one every 100 ms")
	if err := streamCall(ctx, s, t.p, "Counter", []any{raw("5"), raw("100")}); err != nil {
		return err
	}

	t.step(`Server push: CallMe("Notify", "ping", false) makes the hub invoke the client's Notify handler`)
	t.note("Without a result: the server sends no invocation ID and does not wait.")
	if err := t.callMe(ctx, s, notified, `"Notify"`, `"ping"`, "false"); err != nil {
		return err
	}

	t.step(`Client result: CallMe("Ask", 21, true) waits for the Ask handler's result`)
	t.note("The handler registered with On returns twice its argument; the hub passes that result back to us.")
	if err := t.callMe(ctx, s, requested, `"Ask"`, "21", "true"); err != nil {
		return err
	}

	t.step(`Hub error: Fail("something went wrong") fails on purpose`)
	var result protocol.RawValue
	err := s.client.Invoke(ctx, "Fail", &result, raw(`"something went wrong"`))
	var hubErr *signalr.HubError
	if !errors.As(err, &hubErr) {
		return fmt.Errorf("Fail returned %v, expected a hub error", err)
	}
	t.p.print(event{Event: "error", Target: "Fail", Error: "hub error: " + hubErr.Message})
	t.note("Invoke returned a *signalr.HubError; 'hubprobe call' exits with status 1 on it.")
	return nil
}

// messagePack connects a second client with the MessagePack hub protocol
// and invokes Echo. The session is traced with -v but not recorded, since
// a capture holds one session.
func (t *tour) messagePack(ctx context.Context, env *environment, cf connFlags, url string) error {
	const argument = `{"text":"hello","numbers":[1,2.5,-3]}`
	t.step("Switch to MessagePack: connect again with the binary hub protocol and invoke Echo")
	t.note("hubprobe converts JSON arguments to MessagePack and prints MessagePack results as JSON.")
	cf.protocol, cf.record = "messagepack", ""
	s := newSession(env, &cf, url)
	arg, err := s.values.fromJSON(protocol.RawValue(argument))
	if err != nil {
		return err
	}
	if err := s.start(ctx, t.p, url); err != nil {
		return s.end(env, &cf, "demo", err)
	}
	if err := invokeCall(ctx, s, t.p, "Echo", []any{arg}); err != nil {
		return s.end(env, &cf, "demo", err)
	}
	if err := s.end(env, &cf, "demo", nil); err != nil {
		return err
	}
	binarySize, textSize := invocationSize(protocol.MessagePack{}, arg), invocationSize(protocol.JSON{}, protocol.RawValue(argument))
	t.note(fmt.Sprintf("The Echo invocation took %d bytes as MessagePack; as JSON it takes %d.", binarySize, textSize))
	return nil
}

// invocationSize returns the framed size of an Invocation of Echo with
// the argument arg and invocation ID "1".
func invocationSize(proto protocol.HubProtocol, arg protocol.RawValue) int {
	m := protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Echo", Arguments: []protocol.RawValue{arg}}
	b, err := proto.AppendMessage(nil, &m)
	if err != nil {
		return 0
	}
	return len(b)
}

// callMe invokes CallMe and prints the server invocation the handler
// received before the result, so that the output follows the traffic.
func (t *tour) callMe(ctx context.Context, s *session, received <-chan event, target, arg, withResult string) error {
	args := []any{protocol.RawValue(target), protocol.RawValue(arg), protocol.RawValue(withResult)}
	var result protocol.RawValue
	err := s.client.Invoke(ctx, "CallMe", &result, args...)
	select {
	case e := <-received:
		t.p.print(e)
	case <-time.After(5 * time.Second):
		return errors.New("the handler was not invoked within 5s")
	}
	if err != nil {
		return err
	}
	e := event{Event: "result", Target: "CallMe"}
	if len(result) > 0 {
		e.Result = json.RawMessage(result)
	}
	t.p.print(e)
	return nil
}

func writeCaptureFile(path string, c *conformance.Capture) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	if err := conformance.WriteCapture(f, c); err != nil {
		f.Close()
		return fmt.Errorf("--record %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--record %s: %w", path, err)
	}
	return nil
}
