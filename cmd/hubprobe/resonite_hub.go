package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// resoniteEvents are the client methods that the Resonite hub is known to
// invoke. The resonite.Hub handles each of them itself, so listen
// registers them by name; anything else reaches its fallback handler.
var resoniteEvents = []string{
	"ReceiveMessage",
	"MessageSent",
	"MessagesRead",
	"ReceiveStatusUpdate",
	"ReceiveSessionUpdate",
	"RemoveSession",
	"Debug",
}

// registerResoniteConn adds the connection flags of call and listen. The
// hub protocol is always JSON, the only one that clients of the service
// are known to use.
func (f *connFlags) registerResoniteConn(fs *flag.FlagSet, rf *resoniteFlags) {
	rf.registerSession(fs, "")
	fs.StringVar(&rf.hub, "hub", "", "`URL` of the hub, which receives the session token; the default is the API URL of the session followed by /hub, such as "+resonite.DefaultHubURL)
	fs.Var(&f.headers, "H", "add the HTTP `HEADER`, given as 'Name: value', to every request, the WebSocket upgrade included; repeatable")
	f.registerConnection(fs)
	f.registerReconnect(fs)
	f.registerOutput(fs)
	f.protocol, f.transport = "json", "websockets"
}

// A resoniteConn is a hub session of the user in the session file.
type resoniteConn struct {
	*session
	stored *storedSession
	path   string
	hubURL string
}

// openResonite reads the session file and returns an unstarted hub
// session for it. A session that expired by the local clock gives an error
// that instructs the user to sign in again.
func openResonite(env *environment, cmd *command, rf *resoniteFlags, cf *connFlags) (*resoniteConn, error) {
	path, err := rf.sessionPath()
	if err != nil {
		return nil, err
	}
	stored, err := loadSession(path, false)
	if err != nil {
		return nil, err
	}
	addSessionSecrets(env, stored)
	if err := rf.checkAPI(cmd, stored, path); err != nil {
		return nil, err
	}
	hubURL := rf.hub
	if hubURL == "" {
		hubURL = stored.API + "/hub"
	}
	if err := cf.checkHubURL(cmd, hubURL); err != nil {
		return nil, err
	}
	if err := cf.validate(cmd, env); err != nil {
		return nil, err
	}
	if !stored.Expire.IsZero() && time.Now().After(stored.Expire) {
		return nil, fmt.Errorf("the session of %s in %s expired at %s; sign in again with 'hubprobe resonite login'",
			userName(event{UserID: stored.UserID, Username: stored.Username}), path, stored.Expire.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	return newResoniteConn(env, cf, stored, path, hubURL)
}

// newResoniteConn returns an unstarted hub session for stored.
func newResoniteConn(env *environment, cf *connFlags, stored *storedSession, path, hubURL string) (*resoniteConn, error) {
	s, cfg := prepareSession(env, cf)
	if cfg.Reconnect == nil {
		// A nil policy would make the hub reconnect forever. This one
		// gives up at once, so a lost connection ends the command.
		cfg.Reconnect = signalr.DelayRetryPolicy{}
		cfg.OnReconnecting = nil
	}
	hub, err := resonite.NewHub(hubURL, &stored.Session, resonite.HubOptions{
		Config: cfg,
		// The commands never set a status, so there is nothing to send
		// periodically.
		StatusInterval: -1,
	})
	if err != nil {
		return nil, err
	}
	s.hub, s.client = hub, hub.Client()
	return &resoniteConn{session: s, stored: stored, path: path, hubURL: hubURL}, nil
}

// explain replaces an error caused by a rejected session token with one
// that instructs the user to sign in again.
func (c *resoniteConn) explain(err error) error {
	if err == nil || !errors.Is(err, resonite.ErrSessionExpired) {
		return err
	}
	return fmt.Errorf("the hub rejected the session token of %s from %s, because it expired or was revoked; sign in again with 'hubprobe resonite login'",
		userName(event{UserID: c.stored.UserID, Username: c.stored.Username}), c.path)
}

const resoniteCallDescription = `Connects to the Resonite hub as the user of the session file, invokes
METHOD and prints its result. Sign in first with 'hubprobe resonite login'.

Each ARG is one argument as a JSON value, as in 'hubprobe call'; -d gives all
arguments as one JSON array. The methods of the hub and their arguments:

  SendMessage MESSAGE              send a chat message
  MarkMessagesRead RECEIPT         {"senderId":"U-...","ids":["MSG-..."]}
  BroadcastStatus STATUS TARGET    TARGET {"group":1,"targetIds":null} is all contacts
  UpdateContact CONTACT            returns true on success
  ListenOnContact USERID           subscribe to a contact's status updates
  ListenOnKey KEY                  subscribe to a session's updates
  RequestStatus USERID INVISIBLE   USERID null requests every contact's status
  InitializeStatus                 returns the contacts with their statuses

For SendMessage, a JSON object needs only "recipientId" and "content":
hubprobe fills in each missing field as resonite.Hub.SendMessage does: "id"
with a new MSG- ID, "senderId" and "ownerId" with the signed-in user,
"messageType" with "Text", "sendTime" and "lastUpdateTime" with the current
time, "readTime" with null and "isMigrated" with false. Field names match
without regard to case, as on the hub. A field that hubprobe does not
recognize is sent as given, with a warning, and a Text message with a
missing or empty "content" is a usage error. After the call, hubprobe waits
up to 5 s for the MessageSent event that confirms the message and prints
it. The service can confirm late, so a missing confirmation is only
noted.

Subscriptions made with call end with its connection; use listen with
--contact and --key to keep them. A session token that expired or was
revoked ends the command with status 1 and a message to sign in again.

With --demo, call signs the demo user alice in to a fake of the service on
127.0.0.1 and calls METHOD there; her contact bob has the user ID U-bob:

  hubprobe resonite call --demo SendMessage '{"recipientId":"U-bob","content":"hi"}'

--demo cannot be combined with --api, --hub or --session-file.

` + reconnectHelp

// confirmWait is how long call waits for the MessageSent event of a
// SendMessage.
const confirmWait = 5 * time.Second

// runResoniteCall implements "hubprobe resonite call".
func runResoniteCall(env *environment, args []string) error {
	cmd := lookupCommand("resonite call")
	fs := newFlagSet(env, cmd, resoniteCallDescription)
	var rf resoniteFlags
	var cf connFlags
	cf.registerResoniteConn(fs, &rf)
	data := fs.String("d", "", "the arguments as one JSON array: inline, `@FILE` to read a file, or @- to read stdin")
	send := fs.Bool("send", false, "send the invocation without an invocation ID and do not wait for a result, as clients of the service do for most methods")
	stream := fs.Bool("stream", false, "call a streaming method and print each item as it arrives; Ctrl-C cancels the stream")
	timeout := fs.Duration("timeout", 0, "maximum `duration` of the whole call, connecting included; 0 means no limit")
	demo := fs.Bool("demo", false, demoFlagHelp)
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef(cmd.name, "missing METHOD")
	}
	if *send && *stream {
		return usagef(cmd.name, "--send and --stream cannot be combined")
	}
	method := fs.Arg(0)
	if err := rejectFlagLike(cmd, []string{method}); err != nil {
		return err
	}
	callArgs, err := parseArguments(cmd, env, *data, fs.Args()[1:])
	if err != nil {
		return err
	}
	if *demo {
		service, err := openDemo(env, cmd, fs, &rf)
		if err != nil {
			return err
		}
		defer service.close()
	}
	conn, err := openResonite(env, cmd, &rf, &cf)
	if err != nil {
		return err
	}

	var messageID string
	if strings.EqualFold(method, "SendMessage") && len(callArgs) == 1 {
		var arg protocol.RawValue
		var unknown []string
		arg, messageID, unknown, err = completeMessage(callArgs[0].(protocol.RawValue), conn.stored.UserID, time.Now())
		if err != nil {
			return usagef(cmd.name, "SendMessage: %v", err)
		}
		for _, name := range unknown {
			msg := fmt.Sprintf("SendMessage: the message has the unknown field %q, which is sent as given; the known fields are %s", name, strings.Join(messageFields, ", "))
			newReconnectEvents(env, cf.json).p.print(event{Event: "warning", Message: msg})
		}
		callArgs[0] = arg
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	p := newPrinter(env, cf.json)
	confirmed := make(chan struct{})
	if messageID != "" {
		conn.hub.OnRaw("MessageSent", confirmHandler(p, conn.values, messageID, confirmed))
	}
	if err := conn.start(ctx, p, conn.hubURL); err != nil {
		return conn.explain(conn.end(env, &cf, cmd.name, err))
	}
	switch {
	case *send:
		err = sendCall(ctx, conn.session, p, method, callArgs)
	case *stream:
		err = streamCall(ctx, conn.session, p, method, callArgs)
	default:
		err = invokeCall(ctx, conn.session, p, method, callArgs)
	}
	if err == nil && messageID != "" {
		waitConfirmation(ctx, env, cf.json, messageID, confirmed)
	}
	return conn.explain(conn.end(env, &cf, cmd.name, err))
}

// confirmHandler returns the MessageSent handler that prints the event
// confirming the message messageID and closes confirmed.
func confirmHandler(p *printer, values valueCodec, messageID string, confirmed chan struct{}) signalr.Handler {
	return func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var msg struct {
			ID string `json:"id"`
		}
		if len(inv.Arguments) == 0 || json.Unmarshal(inv.Arguments[0], &msg) != nil || msg.ID != messageID {
			return nil, nil
		}
		select {
		case <-confirmed:
		default:
			p.print(values.invocationEvent(inv))
			close(confirmed)
		}
		return nil, nil
	}
}

// waitConfirmation waits up to confirmWait for confirmed to close, and
// notes on stderr, or as a JSON warning, when it does not.
func waitConfirmation(ctx context.Context, env *environment, jsonOut bool, messageID string, confirmed <-chan struct{}) {
	timer := time.NewTimer(confirmWait)
	defer timer.Stop()
	select {
	case <-confirmed:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	msg := fmt.Sprintf("no MessageSent event confirmed message %s within %v; the service can confirm late, so the message may still be delivered", messageID, confirmWait)
	newReconnectEvents(env, jsonOut).p.print(event{Event: "warning", Message: msg})
}

const resoniteListenDescription = `Connects to the Resonite hub as the user of the session file and prints
every event the hub sends, until Ctrl-C, --count or --timeout ends it. Sign
in first with 'hubprobe resonite login'.

With TARGETs it prints only the named events, which match without regard to
ASCII case. The events of the service:

  ReceiveMessage         a chat message to the user
  MessageSent            the service stored a message the user sent
  MessagesRead           the recipient read messages the user sent
  ReceiveStatusUpdate    a contact's status changed
  ReceiveSessionUpdate   a session changed; the service sends many of these
  RemoveSession          a session ended
  Debug                  a diagnostic text

After connecting, listen calls InitializeStatus, as clients of the service
do, which subscribes to the status updates of every contact, and prints
each contact with its status; --init=false skips it. --contact and --key
subscribe to one contact's status or one session's updates. The hub sends
the subscriptions again after an automatic reconnect. listen never
broadcasts a status, so contacts keep seeing the user as before.

Exit status 0 after Ctrl-C, after --count events, or when --timeout ends a
listen without --count; 1 when the connection fails, the session token was
rejected (the error message then directs the user to sign in again), or
--timeout ends a listen before --count events arrived.

With --demo, listen signs the demo user alice in to a fake of the service
on 127.0.0.1 and listens there. After the subscriptions, her contact bob
comes online, which sends her a ReceiveStatusUpdate, and then sends her a
ReceiveMessage, about 0.3 s apart, so 'listen --demo --count 2' ends by
itself. The status update arrives only when listen subscribed to bob,
which InitializeStatus does unless --init=false. --demo cannot be combined
with --api, --hub or --session-file.

` + reconnectHelp

// stringList collects the values of a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// runResoniteListen implements "hubprobe resonite listen".
func runResoniteListen(env *environment, args []string) error {
	cmd := lookupCommand("resonite listen")
	fs := newFlagSet(env, cmd, resoniteListenDescription)
	var rf resoniteFlags
	var cf connFlags
	cf.registerResoniteConn(fs, &rf)
	count := fs.Int("count", 0, "stop after `N` events; 0 means no limit")
	timeout := fs.Duration("timeout", 0, "stop after this `duration`, connecting included; 0 means no limit")
	initialize := fs.Bool("init", true, "call InitializeStatus after connecting and print the contacts")
	var contacts, keys stringList
	fs.Var(&contacts, "contact", "subscribe to the status updates of the contact `USERID` with ListenOnContact; repeatable")
	fs.Var(&keys, "key", "subscribe to the updates of the session with the broadcast `KEY` with ListenOnKey; repeatable")
	demo := fs.Bool("demo", false, demoFlagHelp+"; the demo user bob then comes online and sends a chat message")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if *count < 0 {
		return usagef(cmd.name, "--count %d: must not be negative", *count)
	}
	targets := fs.Args()
	if err := rejectFlagLike(cmd, targets); err != nil {
		return err
	}
	var service *demoService
	if *demo {
		var err error
		if service, err = openDemo(env, cmd, fs, &rf); err != nil {
			return err
		}
		defer service.close()
	}
	conn, err := openResonite(env, cmd, &rf, &cf)
	if err != nil {
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
	l := &listener{p: p, values: conn.values, max: *count, reply: protocol.RawValue("null"), replyJSON: protocol.RawValue("null"), enough: make(chan struct{})}
	if len(targets) == 0 {
		targets = resoniteEvents
		conn.hub.OnFallback(l.handle)
	}
	for _, t := range targets {
		conn.hub.OnRaw(t, l.handle)
	}
	if err := conn.start(timeoutCtx, p, conn.hubURL); err != nil {
		return conn.explain(conn.end(env, &cf, cmd.name, err))
	}
	if err := subscribe(timeoutCtx, conn, p, *initialize, contacts, keys); err != nil {
		return conn.explain(conn.end(env, &cf, cmd.name, err))
	}
	if service != nil {
		service.startBob(newReconnectEvents(env, cf.json).p)
	}
	return conn.explain(conn.end(env, &cf, cmd.name, l.wait(ctx, timeoutCtx, conn.session, *timeout)))
}

// subscribe calls InitializeStatus when initialize is set and prints the
// contacts, then subscribes to contacts and keys.
func subscribe(ctx context.Context, conn *resoniteConn, p *printer, initialize bool, contacts, keys []string) error {
	if initialize {
		initial, err := conn.hub.InitializeStatus(ctx)
		if err != nil {
			return fmt.Errorf("InitializeStatus: %w", err)
		}
		printContacts(p, initial)
	}
	for _, id := range contacts {
		if err := conn.hub.ListenOnContact(ctx, id); err != nil {
			return fmt.Errorf("ListenOnContact %s: %w", id, err)
		}
	}
	for _, key := range keys {
		if err := conn.hub.ListenOnKey(ctx, key); err != nil {
			return fmt.Errorf("ListenOnKey: %w", err)
		}
	}
	return nil
}

// printContacts prints each contact of an InitializeStatus result with
// its online status.
func printContacts(p *printer, initial *resonite.InitialStatus) {
	for _, c := range initial.Contacts {
		e := event{Event: "contact", UserID: c.ID, Username: c.ContactUsername, OnlineStatus: "unknown"}
		if c.UserStatus != nil {
			e.OnlineStatus = string(c.UserStatus.OnlineStatus)
		}
		p.print(e)
	}
}
