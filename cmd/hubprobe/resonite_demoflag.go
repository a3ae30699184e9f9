package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
)

// demoFlagHelp is the help of --demo in login, call and listen.
const demoFlagHelp = "run against a fake of the Resonite cloud on 127.0.0.1, signed in as its demo user alice; the session file is in a temporary directory that is removed on exit"

// demoBobDelay is how long listen --demo waits after subscribing before
// bob comes online, and again before he sends his message.
const demoBobDelay = 300 * time.Millisecond

// A demoService is the fake Resonite cloud of the demo and --demo, with
// the users alice and bob, who are contacts, and a temporary directory
// for alice's session file.
type demoService struct {
	env *environment
	srv *resonitetest.Server
	dir string

	bobDone chan struct{} // closed when the goroutine of startBob returns, and nil before startBob
	stopBob context.CancelFunc
}

// startDemoService starts the fake service on 127.0.0.1 and registers the
// demo secrets with the redactor. Call close when done.
func startDemoService(env *environment) (*demoService, error) {
	for _, secret := range []string{demoAlicePassword, demoAliceTOTP, demoBobPassword} {
		env.secrets.add(secret)
	}
	dir, err := os.MkdirTemp("", "hubprobe-resonite-demo-")
	if err != nil {
		return nil, err
	}
	srv := resonitetest.NewServer(resonitetest.Options{Users: []resonitetest.User{
		{ID: "U-alice", Username: "alice", Password: demoAlicePassword, TOTP: demoAliceTOTP},
		{ID: "U-bob", Username: "bob", Password: demoBobPassword},
	}})
	srv.AddContact("U-alice", "U-bob")
	return &demoService{env: env, srv: srv, dir: dir}, nil
}

// close stops bob and the fake service, and removes the temporary
// directory.
func (d *demoService) close() {
	if d.bobDone != nil {
		d.stopBob()
		<-d.bobDone
	}
	d.srv.Close()
	os.RemoveAll(d.dir)
}

// sessionPath returns alice's session file in the temporary directory.
func (d *demoService) sessionPath() string {
	return filepath.Join(d.dir, "hubwire", sessionFileName)
}

// signIn signs alice in, without output, and stores her session in
// sessionPath.
func (d *demoService) signIn(ctx context.Context) error {
	path := d.sessionPath()
	dev, err := loadDevice(path, func(string) {})
	if err != nil {
		return err
	}
	d.env.secrets.add(dev.SecretMachineID)
	req := resonite.LoginRequest{Username: "alice", Password: demoAlicePassword, TOTP: demoAliceTOTP, UID: dev.UID, SecretMachineID: dev.SecretMachineID}
	session, err := (&resonite.API{BaseURL: d.srv.URL}).Login(ctx, req)
	if err != nil {
		return fmt.Errorf("signing the demo user alice in to the fake service: %w", err)
	}
	stored := &storedSession{API: d.srv.URL, Username: "alice", SecretMachineID: dev.SecretMachineID, Session: *session}
	addSessionSecrets(d.env, stored)
	return saveSession(path, stored)
}

// demoTOTP returns the TOTP code of the demo user alice, or an error when
// the fake service rejected it.
func demoTOTP(rejected bool) (string, error) {
	if rejected {
		return "", errors.New("the fake service rejected the TOTP code of the demo user alice")
	}
	return demoAliceTOTP, nil
}

// startBob connects bob to the hub in the background. After demoBobDelay
// he comes online, and after another demoBobDelay he sends alice a chat
// message. A failure is printed as a warning by warnings. bob stays
// connected until close, so that alice does not see him go offline.
func (d *demoService) startBob(warnings *printer) {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopBob = cancel
	d.bobDone = make(chan struct{})
	go func() {
		defer close(d.bobDone)
		if err := d.playBob(ctx); err != nil && ctx.Err() == nil {
			warnings.print(event{Event: "warning", Message: "the demo user bob failed: " + err.Error()})
		}
	}()
}

// playBob runs the part of bob for startBob and returns when ctx is done.
func (d *demoService) playBob(ctx context.Context) error {
	bob, _, err := connectDemoBob(ctx, d.env, d.srv)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		bob.Stop(stopCtx)
	}()
	if !sleepContext(ctx, demoBobDelay) {
		return nil
	}
	if err := bob.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		return fmt.Errorf("broadcasting his status: %w", err)
	}
	if !sleepContext(ctx, demoBobDelay) {
		return nil
	}
	if _, err := bob.SendText(ctx, "U-alice", "Hi alice, are you there?"); err != nil {
		return fmt.Errorf("sending his message: %w", err)
	}
	<-ctx.Done()
	return nil
}

// sleepContext waits for d and reports whether ctx was still live after it.
func sleepContext(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connectDemoBob signs bob in and connects him to the hub of srv, without
// output. The returned channel receives the first message that reaches
// him.
func connectDemoBob(ctx context.Context, env *environment, srv *resonitetest.Server) (*resonite.Hub, <-chan resonite.Message, error) {
	api := &resonite.API{BaseURL: srv.URL}
	session, err := api.Login(ctx, resonite.LoginRequest{Username: "bob", Password: demoBobPassword, UID: resonite.NewUID()})
	if err != nil {
		return nil, nil, fmt.Errorf("signing bob in: %w", err)
	}
	env.secrets.add(session.Token)
	bob, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{
		Config:         signalr.Config{Reconnect: signalr.DelayRetryPolicy{}},
		StatusInterval: -1,
	})
	if err != nil {
		return nil, nil, err
	}
	messages := make(chan resonite.Message, 1)
	bob.OnReceiveMessage(func(_ context.Context, msg resonite.Message) {
		select {
		case messages <- msg:
		default:
		}
	})
	if err := bob.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("connecting bob: %w", err)
	}
	return bob, messages, nil
}

// rejectWithDemo returns a usage error when --demo is set together with
// one of the flags named in conflicts, which would point the command away
// from the fake service or its demo user.
func rejectWithDemo(cmd *command, fs *flag.FlagSet, conflicts ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		for _, name := range conflicts {
			if f.Name == name && err == nil {
				err = usagef(cmd.name, "--demo cannot be combined with --%s, because --demo runs against a fake service on 127.0.0.1 with its own demo user and a temporary session file", name)
			}
		}
	})
	return err
}

// openDemo starts the fake service for call or listen with --demo, signs
// alice in and sets rf to her session file. Call close on the result when
// done.
func openDemo(env *environment, cmd *command, fs *flag.FlagSet, rf *resoniteFlags) (*demoService, error) {
	if err := rejectWithDemo(cmd, fs, "api", "hub", "session-file"); err != nil {
		return nil, err
	}
	d, err := startDemoService(env)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.signIn(ctx); err != nil {
		d.close()
		return nil, err
	}
	rf.sessionFile = d.sessionPath()
	return d, nil
}
