package resonite_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
)

// hubWait bounds every wait of the hub tests for an event that must come.
const hubWait = 5 * time.Second

const (
	aliceID = "U-alice"
	bobID   = "U-bob"
	carolID = "U-carol"
)

var hubUsers = []resonitetest.User{
	{ID: aliceID, Username: "alice", Email: "alice@example.com", Password: "alice-password"},
	{ID: bobID, Username: "bob", Email: "bob@example.com", Password: "bob-password"},
	{ID: carolID, Username: "carol", Email: "carol@example.com", Password: "carol-password"},
}

// fastReconnect reconnects at once and then every 20 ms, for up to about
// 4 s, so that tests of reconnecting stay quick.
var fastReconnect = func() signalr.DelayRetryPolicy {
	delays := make(signalr.DelayRetryPolicy, 200)
	for i := 1; i < len(delays); i++ {
		delays[i] = 20 * time.Millisecond
	}
	return delays
}()

// startHubFake starts a fake server with hubUsers and closes it when the
// test ends.
func startHubFake(t *testing.T, opts resonitetest.Options) *resonitetest.Server {
	t.Helper()
	if opts.Users == nil {
		opts.Users = hubUsers
	}
	srv := resonitetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// hubLogin signs username in at srv. Its password is username +
// "-password".
func hubLogin(t *testing.T, srv *resonitetest.Server, username string) *resonite.Session {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	api := &resonite.API{BaseURL: srv.URL, HTTPClient: client}
	ctx, cancel := context.WithTimeout(context.Background(), hubWait)
	defer cancel()
	session, err := api.Login(ctx, resonite.LoginRequest{
		Username: username,
		Password: username + "-password",
		UID:      resonite.NewUID(),
	})
	if err != nil {
		t.Fatalf("login of %s: %v", username, err)
	}
	return session
}

// newTestHub signs username in and returns a hub for it that is not
// started. Unless opts sets them, the hub reconnects with fastReconnect and
// never sends its status on its own.
func newTestHub(t *testing.T, srv *resonitetest.Server, username string, opts resonite.HubOptions) *resonite.Hub {
	t.Helper()
	if opts.Config.Reconnect == nil {
		opts.Config.Reconnect = fastReconnect
	}
	if opts.StatusInterval == 0 {
		opts.StatusInterval = -1
	}
	h, err := resonite.NewHub(srv.HubURL(), hubLogin(t, srv, username), opts)
	if err != nil {
		t.Fatalf("NewHub for %s: %v", username, err)
	}
	return h
}

// startHub starts h and stops it when the test ends.
func startHub(t *testing.T, h *resonite.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hubWait)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start of the hub of %s: %v", h.UserID(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hubWait)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("Stop of the hub of %s: %v", h.UserID(), err)
		}
	})
}

// collect returns a handler that passes its argument to the returned
// channel, which buffers up to 100 events.
func collect[T any]() (func(context.Context, T), chan T) {
	ch := make(chan T, 100)
	return func(_ context.Context, v T) { ch <- v }, ch
}

// next returns the next value of ch and fails the test when none arrives
// in time.
func next[T any](t *testing.T, ch <-chan T, event string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hubWait):
		t.Fatalf("timed out waiting for %s", event)
		panic("unreachable")
	}
}

// expectNone fails the test when ch holds a value. Call it after a
// barrier, when every event that could have come has arrived.
func expectNone[T any](t *testing.T, ch <-chan T, event string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Errorf("unexpected %s: %+v", event, v)
	default:
	}
}

// waitUntil polls cond until it holds and fails the test when it does not
// within hubWait.
func waitUntil(t *testing.T, condition string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hubWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", condition)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// barrier returns once the fake hub has processed everything h sent
// before: it invokes UpdateContact, whose completion follows the earlier
// messages of the connection, because the fake runs one invocation of a
// connection at a time. The contact it removes does not exist.
func barrier(t *testing.T, h *resonite.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hubWait)
	defer cancel()
	if _, err := h.UpdateContact(ctx, resonite.Contact{ID: "U-nobody", ContactStatus: resonite.ContactNone}); err != nil {
		t.Fatalf("barrier call of %s: %v", h.UserID(), err)
	}
}

// callsOf returns the hub calls of userID to the methods named, in order.
// No names means every method.
func callsOf(srv *resonitetest.Server, userID string, methods ...string) []resonitetest.HubCall {
	var calls []resonitetest.HubCall
	for _, c := range srv.HubCalls() {
		if c.UserID == userID && (len(methods) == 0 || slices.Contains(methods, c.Method)) {
			calls = append(calls, c)
		}
	}
	return calls
}

// testContext returns a context that ends after hubWait.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hubWait)
	t.Cleanup(cancel)
	return ctx
}
