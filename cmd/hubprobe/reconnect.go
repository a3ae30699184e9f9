package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// reconnectHelp describes the reconnect flags in the help of call and
// listen.
const reconnectHelp = `With --reconnect or --reconnect-delays, a connection that is lost through a
network error, a server timeout or a Close that allows reconnecting is
replaced by a new one (negotiate, WebSocket and handshake again) with a new
connection ID. Invocations in flight fail, and the server does not resend
what it sent meanwhile. hubprobe prints "reconnecting: ERROR" and
"reconnected (connection ID ...)" to stderr, or with --json the events
{"event":"reconnecting","error":"..."} and
{"event":"reconnected","connectionId":"..."} to stdout. When the last
attempt fails, the command ends with status 1 and an error that gives the
number of attempts. A Close without allowReconnect ends the command at once.
--record then writes one capture file per connection: FILE for the first,
and FILE with .2, .3 and so on before its extension for the next ones.

With --stateful-reconnect, a server that supports it (ASP.NET Core 8 and
later with AllowStatefulReconnects, or 'hubprobe serve --stateful-reconnect')
keeps the connection when its WebSocket is lost: hubprobe opens a new
WebSocket for the same connection ID, and each side resends the messages
the other has not acknowledged, so nothing is lost or repeated and calls in
flight continue. hubprobe prints "reattached a new WebSocket to connection
ID ..." to stderr, or {"event":"reattached","connectionId":"..."} with
--json, and --record marks the place with a "= reattach" line. When the
server rejects the new WebSocket, or it cannot be opened within
--handshake-timeout, the connection is lost, and --reconnect, if set, takes
over. A server that does not support stateful reconnect connects without
it, and hubprobe prints "warning: the server declined stateful reconnect"
to stderr, or {"event":"warning","message":"..."} with --json.`

// registerReconnect adds the reconnect flags to fs.
func (f *connFlags) registerReconnect(fs *flag.FlagSet) {
	fs.BoolVar(&f.reconnect, "reconnect", false, "reconnect automatically when the connection is lost, with up to four attempts after waits of 0s, 2s, 10s and 30s, as the official clients do")
	fs.Var(&f.reconnectDelays, "reconnect-delays", "reconnect automatically, waiting each `DELAYS` entry in turn before one attempt: durations separated by commas, such as 0,1s,5s; implies --reconnect and replaces its waits")
	fs.BoolVar(&f.statefulReconnect, "stateful-reconnect", false, "ask the server for stateful reconnect, which reopens a lost WebSocket for the same connection and resends unacknowledged messages; needs negotiation, so it cannot be combined with --skip-negotiate")
}

// retryPolicy returns the retry policy that the reconnect flags select, or
// nil for no automatic reconnect.
func (f *connFlags) retryPolicy() signalr.RetryPolicy {
	switch {
	case len(f.reconnectDelays) > 0:
		return signalr.DelayRetryPolicy(f.reconnectDelays)
	case f.reconnect:
		return signalr.DefaultRetryPolicy()
	}
	return nil
}

// delayList is the value of --reconnect-delays.
type delayList []time.Duration

func (d *delayList) String() string {
	parts := make([]string, len(*d))
	for i, delay := range *d {
		parts[i] = delay.String()
	}
	return strings.Join(parts, ",")
}

func (d *delayList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("no delays; give durations separated by commas, such as 0,1s,5s")
	}
	var list delayList
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		delay, err := time.ParseDuration(part)
		if err != nil {
			return fmt.Errorf("%q is not a duration; give durations separated by commas, such as 0,1s,5s", part)
		}
		if delay < 0 {
			return fmt.Errorf("delay %v is negative; give 0 for an attempt without a wait", delay)
		}
		list = append(list, delay)
	}
	*d = list
	return nil
}

// A reconnectEvents is the printer of the reconnect events of one client.
// It prints them to stderr as text, so that stdout keeps only the
// command's output, or to stdout with --json.
type reconnectEvents struct {
	p      *printer
	closed chan struct{} // closed by the OnClosed callback
}

func newReconnectEvents(env *environment, jsonOut bool) *reconnectEvents {
	p := newPrinter(env, jsonOut)
	if !jsonOut {
		p = &printer{w: env.stderr}
	}
	return &reconnectEvents{p: p, closed: make(chan struct{})}
}

// hook sets the reconnect callbacks of cfg.
func (r *reconnectEvents) hook(cfg *signalr.Config) {
	cfg.OnReconnecting = func(err error) {
		r.p.print(event{Event: "reconnecting", Error: describeError(err)})
	}
	cfg.OnReconnected = func(connectionID string) {
		r.p.print(event{Event: "reconnected", ConnectionID: connectionID})
	}
	cfg.OnReattached = func(connectionID string) {
		r.p.print(event{Event: "reattached", ConnectionID: connectionID})
	}
	cfg.OnClosed = func(error) { close(r.closed) }
}

// warnStatefulDeclined prints a warning when --stateful-reconnect
// requested stateful reconnect and the server declined it, because a lost
// WebSocket then ends the connection. reconnect reports whether automatic
// reconnect is on.
func (r *reconnectEvents) warnStatefulDeclined(client *signalr.Client, reconnect bool) {
	// A client that lost its connection already, and is reopening or
	// reconnecting, has no negotiate result to report.
	if !client.Connected() || client.StatefulReconnect() {
		return
	}
	msg := "the server declined stateful reconnect, so a lost WebSocket ends the connection"
	if reconnect {
		msg += "; automatic reconnect then opens a new connection, and messages sent meanwhile are lost"
	}
	r.p.print(event{Event: "warning", Message: msg})
}

// isSequence reports whether data, a WebSocket message in the transfer
// format format, starts with a Sequence message.
func isSequence(format protocol.TransferFormat, data []byte) bool {
	var proto protocol.HubProtocol = protocol.JSON{}
	var payload []byte
	var ok bool
	if format == protocol.TransferFormatText {
		payload, _, ok = protocol.SplitRecord(data)
	} else {
		proto = protocol.MessagePack{}
		payload, _, ok = splitBinary(data)
	}
	if !ok {
		return false
	}
	var m protocol.Message
	return proto.ParseMessage(payload, &m) == nil && m.Type == protocol.TypeSequence
}

// describeReconnectError returns the message for a client whose retry
// policy gave up.
func describeReconnectError(err *signalr.ReconnectError) string {
	if err.Attempts == 0 {
		// A policy that gives up at once is how the resonite commands
		// turn automatic reconnect off, so there was no attempt to report.
		return describeError(err.Err)
	}
	return fmt.Sprintf("reconnecting failed after %s; the last error: %s", plural(err.Attempts, "attempt"), describeError(err.Err))
}
