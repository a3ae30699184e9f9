package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

const listenDescription = `Connects to the hub at URL and prints every invocation the server sends to
the client, until Ctrl-C, --count or --timeout ends it.

Without TARGET, hubprobe prints the invocations of every client method. With
one or more TARGETs it prints only those of the named client methods, which
match without regard to ASCII case; the client drops invocations of other
targets (logged at debug level with -v). When the server waits for a
result, hubprobe sends back the --result value or the --error text.

Exit status 0 after Ctrl-C, after --count invocations, or when --timeout
ends a listen without --count; 1 when the connection fails or --timeout ends
a listen before --count invocations arrived. With --reconnect, listen keeps
running while it reconnects, and --count and --timeout count across the
connections; it ends with status 1 when the last attempt fails.

With --protocol messagepack (or msgpack), the --result value and the
arguments of each invocation are converted to and from JSON as 'hubprobe
help call' describes.

` + reconnectHelp

// runListen implements "hubprobe listen".
func runListen(env *environment, args []string) error {
	cmd := lookupCommand("listen")
	fs := newFlagSet(env, cmd, listenDescription)
	var cf connFlags
	cf.register(fs)
	count := fs.Int("count", 0, "stop after `N` invocations; 0 means no limit")
	timeout := fs.Duration("timeout", 0, "stop after this `duration`, connecting included; 0 means no limit")
	resultFlag := fs.String("result", "null", "the `JSON` value sent back when the server waits for a result")
	errorFlag := fs.String("error", "", "send this error `text` back instead of a result when the server waits for one")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef(cmd.name, "missing URL")
	}
	if *count < 0 {
		return usagef(cmd.name, "--count %d: must not be negative", *count)
	}
	reply, err := compactJSON([]byte(*resultFlag))
	if err != nil {
		return usagef(cmd.name, "--result %s is not valid JSON: %v", shorten(*resultFlag), err)
	}
	if err := cf.validate(cmd, env); err != nil {
		return err
	}
	values := valueCodec{proto: cf.hubProtocol()}
	replyValue, err := values.fromJSON(reply)
	if err != nil {
		return usagef(cmd.name, "--result %s: %v", shorten(*resultFlag), err)
	}
	url, targets := fs.Arg(0), fs.Args()[1:]
	if err := rejectFlagLike(cmd, targets); err != nil {
		return err
	}
	if err := cf.checkHubURL(cmd, url); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var timeoutCtx context.Context = ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		timeoutCtx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	p := newPrinter(env, cf.json)
	l := &listener{p: p, values: values, max: *count, reply: replyValue, replyJSON: reply, replyError: *errorFlag, enough: make(chan struct{})}
	s := newSession(env, &cf, url)
	if len(targets) == 0 {
		s.client.OnFallback(l.handle)
	}
	for _, t := range targets {
		s.client.On(t, l.handle)
	}
	if err := s.start(timeoutCtx, p, url); err != nil {
		return s.end(env, &cf, cmd.name, err)
	}
	return s.end(env, &cf, cmd.name, l.wait(ctx, timeoutCtx, s, *timeout))
}

// wait returns when the listen ends: after max invocations, when the
// connection ends, or when timeoutCtx is done. ctx is done after Ctrl-C.
func (l *listener) wait(ctx, timeoutCtx context.Context, s *session, timeout time.Duration) error {
	select {
	case <-l.enough:
		return nil
	case <-s.done():
		return s.err()
	case <-timeoutCtx.Done():
		if ctx.Err() == nil && l.max > 0 {
			return fmt.Errorf("timed out after %v with %d of %d invocations", timeout, l.received(), l.max)
		}
		return nil
	}
}

// A listener prints the server invocations of the listened targets, or of
// every target when it is the fallback handler.
type listener struct {
	p          *printer
	values     valueCodec
	max        int
	reply      protocol.RawValue // --result in the hub protocol
	replyJSON  protocol.RawValue // --result as given, for printing
	replyError string

	mu     sync.Mutex
	n      int
	enough chan struct{} // closed after max invocations
}

func (l *listener) received() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *listener) handle(ctx context.Context, inv *signalr.Invocation) (any, error) {
	l.mu.Lock()
	if l.max > 0 && l.n >= l.max {
		l.mu.Unlock()
		return nil, fmt.Errorf("hubprobe stopped listening")
	}
	l.n++
	last := l.max > 0 && l.n == l.max
	l.mu.Unlock()

	l.p.print(l.values.invocationEvent(inv))
	var result any
	var err error
	if inv.InvocationID != "" {
		if l.replyError != "" {
			err = fmt.Errorf("%s", l.replyError)
			l.p.print(event{Event: "reply", Target: inv.Target, InvocationID: inv.InvocationID, Error: l.replyError})
		} else {
			result = l.reply
			l.p.print(event{Event: "reply", Target: inv.Target, InvocationID: inv.InvocationID, Result: json.RawMessage(l.replyJSON)})
		}
	}
	// NOTE: the command stops the client as soon as enough is closed, so
	// the client result of the last invocation may not reach the server.
	if last {
		close(l.enough)
	}
	return result, err
}

// invocationEvent copies inv, which is valid only during its handler, into
// an event, with the arguments converted to JSON. An argument that cannot
// be converted is shown as a JSON string that gives the error.
func (c valueCodec) invocationEvent(inv *signalr.Invocation) event {
	e := event{Event: "invocation", Target: inv.Target, InvocationID: inv.InvocationID}
	e.Arguments = make([]json.RawMessage, len(inv.Arguments))
	for i, a := range inv.Arguments {
		v, err := c.toJSON(a)
		if err != nil {
			v, _ = json.Marshal(fmt.Sprintf("[invalid argument: %v]", err))
		}
		e.Arguments[i] = v
	}
	return e
}
