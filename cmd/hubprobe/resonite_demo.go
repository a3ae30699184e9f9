package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
)

const resoniteDemoDescription = `Starts a fake of the Resonite cloud, its REST API and its hub, on 127.0.0.1
with two demo users, alice and bob, who are contacts, and shows step by step
what the other resonite commands do with a real account:

  1. login signs alice in; her account needs a TOTP code, so the first try
     fails with 403 "TOTP" and the second sends the code. The session goes
     to a session file in a temporary directory, with mode 0600.
  2. listen connects alice to the hub and lists her contacts.
  3. bob comes online, and alice receives a ReceiveStatusUpdate.
  4. bob sends alice a chat message, and alice receives a ReceiveMessage.
  5. call sends bob a reply with SendMessage, which the MessageSent event
     confirms and bob receives.
  6. logout revokes alice's token and deletes the session file.

The demo needs no account and no network access beyond the loopback
interface, and it leaves no files behind. With -v it traces alice's HTTP
requests and WebSocket messages to stderr, with the token, password and
TOTP code hidden.`

// Demo accounts of the fake service. The secrets are registered with the
// redactor like real ones, so the output shows [REDACTED] in their place.
const (
	demoAlicePassword = "alice-demo-password"
	demoAliceTOTP     = "246810"
	demoBobPassword   = "bob-demo-password"
)

// runResoniteDemo implements "hubprobe resonite demo".
func runResoniteDemo(env *environment, args []string) error {
	cmd := lookupCommand("resonite demo")
	fs := newFlagSet(env, cmd, resoniteDemoDescription)
	var cf connFlags
	registerResoniteOutput(fs, &cf)
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd.name, "unexpected argument %q", fs.Arg(0))
	}
	cf.protocol, cf.transport = "json", "websockets"
	cf.handshakeTimeout = signalr.DefaultHandshakeTimeout
	cf.keepAlive, cf.serverTimeout = signalr.DefaultKeepAliveInterval, signalr.DefaultServerTimeout
	service, err := startDemoService(env)
	if err != nil {
		return err
	}
	defer service.close()

	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	d := &resoniteDemo{
		tour: tour{p: newPrinter(env, cf.json)},
		env:  env,
		cf:   &cf,
		srv:  service.srv,
		path: service.sessionPath(),
	}
	return d.run(ctx)
}

// A resoniteDemo is the state of one run of the demo.
type resoniteDemo struct {
	tour
	env  *environment
	cf   *connFlags
	srv  *resonitetest.Server
	path string // alice's session file
}

func (d *resoniteDemo) run(ctx context.Context) error {
	d.step("Start a fake of the Resonite cloud in this process")
	d.note(fmt.Sprintf("Its REST API is at %s and its hub at %s. The users alice and bob are contacts.", d.srv.URL, d.srv.HubURL()))

	stored, err := d.login(ctx)
	if err != nil {
		return err
	}

	d.step("Connect alice to the hub, as 'hubprobe resonite listen' does")
	conn, err := newResoniteConn(d.env, d.cf, stored, d.path, d.srv.HubURL())
	if err != nil {
		return err
	}
	events := make(chan event, 16)
	for _, target := range resoniteEvents {
		conn.hub.OnRaw(target, func(ctx context.Context, inv *signalr.Invocation) (any, error) {
			select {
			case events <- conn.values.invocationEvent(inv):
			default: // the demo waits for only a few events
			}
			return nil, nil
		})
	}
	if err := conn.start(ctx, d.p, d.srv.HubURL()); err != nil {
		return conn.end(d.env, d.cf, "demo", err)
	}
	if err := subscribe(ctx, conn, d.p, true, nil, nil); err != nil {
		return conn.end(d.env, d.cf, "demo", err)
	}
	d.note("InitializeStatus returned the contacts and subscribed alice to their status updates.")

	err = d.chat(ctx, conn, events)
	if endErr := conn.end(d.env, d.cf, "demo", err); endErr != nil {
		return endErr
	}

	d.step("Sign alice out, as 'hubprobe resonite logout' does")
	if err := logout(ctx, d.env, d.p, newAPI(d.env, d.srv.URL, d.cf.verbose), stored, d.path, 10*time.Second); err != nil {
		return err
	}
	if _, ok := d.srv.TokenExpire(stored.Token); !ok {
		d.note("The fake service no longer accepts the token.")
	}

	d.step("Done")
	d.note("Sign in to the real service with 'hubprobe resonite login'; see 'hubprobe help resonite'.")
	return nil
}

// login signs alice in as "hubprobe resonite login" does and stores her
// session in d.path.
func (d *resoniteDemo) login(ctx context.Context) (*storedSession, error) {
	d.step("Sign alice in, as 'hubprobe resonite login' does")
	dev, err := loadDevice(d.path, func(string) {})
	if err != nil {
		return nil, err
	}
	d.env.secrets.add(dev.SecretMachineID)
	api := newAPI(d.env, d.srv.URL, d.cf.verbose)
	req := resonite.LoginRequest{Username: "alice", Password: demoAlicePassword, UID: dev.UID, SecretMachineID: dev.SecretMachineID}
	session, err := login(ctx, d.env, api, req, 10*time.Second, func(rejected bool) (string, error) {
		if rejected {
			return demoTOTP(rejected)
		}
		d.note(`The API responded 403 "TOTP": alice's account needs a TOTP code. login prompts for it, or reads RESONITE_TOTP, and signs in again.`)
		return demoAliceTOTP, nil
	})
	if err != nil {
		return nil, err
	}
	stored := &storedSession{API: d.srv.URL, Username: "alice", SecretMachineID: dev.SecretMachineID, Session: *session}
	addSessionSecrets(d.env, stored)
	if err := saveSession(d.path, stored); err != nil {
		return nil, err
	}
	d.p.print(loginEvent(stored, d.path))
	d.note("The session file contains the token; hubprobe never prints it.")
	return stored, nil
}

// chat lets bob come online and write to alice, and alice reply.
func (d *resoniteDemo) chat(ctx context.Context, conn *resoniteConn, events <-chan event) error {
	bob, bobMessages, err := connectDemoBob(ctx, d.env, d.srv)
	if err != nil {
		return err
	}
	defer bob.Stop(context.Background())

	d.step("bob comes online: the hub sends alice a ReceiveStatusUpdate")
	if err := bob.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		return fmt.Errorf("bob's status: %w", err)
	}
	if err := d.await(ctx, events, "ReceiveStatusUpdate"); err != nil {
		return err
	}

	d.step("bob sends alice a chat message: the hub sends her a ReceiveMessage")
	if _, err := bob.SendText(ctx, "U-alice", "Hi alice, are you there?"); err != nil {
		return fmt.Errorf("bob's message: %w", err)
	}
	if err := d.await(ctx, events, "ReceiveMessage"); err != nil {
		return err
	}

	const reply = `{"recipientId":"U-bob","content":"Hi bob, this is hubprobe."}`
	d.step("alice replies with SendMessage, as 'hubprobe resonite call' does")
	d.note("The command line: hubprobe resonite call SendMessage '" + reply + "'")
	arg, _, _, err := completeMessage([]byte(reply), conn.stored.UserID, time.Now())
	if err != nil {
		return err
	}
	if err := invokeCall(ctx, conn.session, d.p, "SendMessage", []any{arg}); err != nil {
		return err
	}
	if err := d.await(ctx, events, "MessageSent"); err != nil {
		return err
	}
	select {
	case msg := <-bobMessages:
		d.note(fmt.Sprintf("bob received %q from %s.", msg.Content, msg.SenderID))
	case <-time.After(5 * time.Second):
		return errors.New("bob did not receive the reply within 5s")
	}
	return nil
}

// await prints the events that alice receives until one of target
// arrives, for at most 5 s.
func (d *resoniteDemo) await(ctx context.Context, events <-chan event, target string) error {
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		select {
		case e := <-events:
			d.p.print(e)
			if e.Target == target {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("alice received no %s within 5s", target)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
