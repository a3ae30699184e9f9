package resonite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// broadcastStatuses returns the statuses userID broadcast, in order.
func broadcastStatuses(t *testing.T, srv *resonitetest.Server, userID string) []resonite.UserStatus {
	t.Helper()
	var statuses []resonite.UserStatus
	for _, c := range callsOf(srv, userID, "BroadcastStatus") {
		var s resonite.UserStatus
		if err := json.Unmarshal(c.Arguments[0], &s); err != nil {
			t.Fatalf("BroadcastStatus argument %s: %v", c.Arguments[0], err)
		}
		if got := string(c.Arguments[1]); got != `{"group":1,"targetIds":null}` {
			t.Errorf("BroadcastStatus target = %s; want all contacts", got)
		}
		statuses = append(statuses, s)
	}
	return statuses
}

// onlineStatuses returns the OnlineStatus of each of statuses.
func onlineStatuses(statuses []resonite.UserStatus) []resonite.OnlineStatus {
	var out []resonite.OnlineStatus
	for _, s := range statuses {
		out = append(out, s.OnlineStatus)
	}
	return out
}

func equalStatuses(got []resonite.OnlineStatus, want ...resonite.OnlineStatus) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestSetStatusFillsFields(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)
	ctx := testContext(t)

	if err := alice.SetStatus(ctx, resonite.UserStatus{IsPresent: true}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	barrier(t, alice)
	sent := broadcastStatuses(t, srv, aliceID)
	if len(sent) != 1 {
		t.Fatalf("broadcast %d statuses; want 1", len(sent))
	}
	s := sent[0]
	if s.UserID != aliceID || s.UserSessionID == "" {
		t.Errorf("UserID, UserSessionID = %q, %q; want %q and a session ID", s.UserID, s.UserSessionID, aliceID)
	}
	if s.OnlineStatus != resonite.StatusOnline || s.SessionType != resonite.SessionTypeBot || s.OutputDevice != resonite.OutputUnknown {
		t.Errorf("OnlineStatus, SessionType, OutputDevice = %q, %q, %q; want Online, Bot, Unknown", s.OnlineStatus, s.SessionType, s.OutputDevice)
	}
	if s.AppVersion != resonite.DefaultAppVersion {
		t.Errorf("AppVersion = %q; want %q", s.AppVersion, resonite.DefaultAppVersion)
	}
	if s.Sessions == nil || len(s.Sessions) != 0 || s.CurrentSessionIndex != -1 {
		t.Errorf("Sessions, CurrentSessionIndex = %v, %d; want [], -1", s.Sessions, s.CurrentSessionIndex)
	}
	if s.LastStatusChange.IsZero() || s.LastPresenceTimestamp == nil || s.LastPresenceTimestamp.IsZero() {
		t.Errorf("LastStatusChange, LastPresenceTimestamp = %v, %v; want both set", s.LastStatusChange, s.LastPresenceTimestamp)
	}
	raw := string(callsOf(srv, aliceID, "BroadcastStatus")[0].Arguments[0])
	if !strings.Contains(raw, `"onlineStatus":"Online"`) || !strings.Contains(raw, `"sessions":[]`) {
		t.Errorf("status on the wire = %s; want the enum as a string and an empty sessions list", raw)
	}

	stored, ok := alice.Status()
	if !ok || stored.UserSessionID != s.UserSessionID {
		t.Errorf("Status() = %+v, %t; want the broadcast status", stored, ok)
	}
	if err := alice.SetStatus(ctx, resonite.UserStatus{UserID: bobID}); err == nil {
		t.Error("SetStatus with another user's ID succeeded; want an error")
	}
}

func TestPresenceHeartbeat(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{StatusInterval: time.Hour})
	tick := resonite.SetStatusTicker(t, alice)
	ctx := testContext(t)

	// Before Start the status is only stored, and Start broadcasts it.
	if err := alice.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		t.Fatalf("SetOnlineStatus before Start: %v", err)
	}
	startHub(t, alice)
	barrier(t, alice)
	if got := onlineStatuses(broadcastStatuses(t, srv, aliceID)); !equalStatuses(got, resonite.StatusOnline) {
		t.Fatalf("after Start broadcast %q; want [Online]", got)
	}

	for range 3 {
		tick()
	}
	barrier(t, alice)
	sent := broadcastStatuses(t, srv, aliceID)
	if got := onlineStatuses(sent); !equalStatuses(got, resonite.StatusOnline, resonite.StatusOnline, resonite.StatusOnline, resonite.StatusOnline) {
		t.Fatalf("after 3 ticks broadcast %q; want Online 4 times", got)
	}
	if !sent[0].LastStatusChange.Equal(sent[3].LastStatusChange.Time) {
		t.Errorf("LastStatusChange moved from %v to %v without a change of status", sent[0].LastStatusChange, sent[3].LastStatusChange)
	}
	if sent[0].UserSessionID != sent[3].UserSessionID {
		t.Errorf("UserSessionID changed from %q to %q", sent[0].UserSessionID, sent[3].UserSessionID)
	}
}

func TestPresenceHeartbeatInterval(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{StatusInterval: 10 * time.Millisecond})
	startHub(t, alice)
	if err := alice.SetOnlineStatus(testContext(t), resonite.StatusOnline); err != nil {
		t.Fatalf("SetOnlineStatus: %v", err)
	}
	waitUntil(t, "the hub broadcast its status 3 more times", func() bool {
		return len(callsOf(srv, aliceID, "BroadcastStatus")) >= 4
	})
}

func TestPresenceInvisible(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	reconnected := make(chan struct{}, 10)
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{StatusInterval: time.Hour})
	alice.OnReconnected(func(context.Context, *resonite.InitialStatus) { reconnected <- struct{}{} })
	tick := resonite.SetStatusTicker(t, alice)
	startHub(t, alice)
	ctx := testContext(t)

	if err := alice.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		t.Fatalf("SetOnlineStatus Online: %v", err)
	}
	if err := alice.SetOnlineStatus(ctx, resonite.StatusInvisible); err != nil {
		t.Fatalf("SetOnlineStatus Invisible: %v", err)
	}
	for range 3 {
		tick()
	}
	barrier(t, alice)

	srv.DropUser(aliceID)
	next(t, reconnected, "the reconnect")
	tick()
	barrier(t, alice)

	if got := onlineStatuses(broadcastStatuses(t, srv, aliceID)); !equalStatuses(got, resonite.StatusOnline, resonite.StatusInvisible) {
		t.Errorf("broadcast %q; want Online, then Invisible once and nothing while invisible", got)
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), hubWait)
	defer cancel()
	if err := alice.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := onlineStatuses(broadcastStatuses(t, srv, aliceID)); !equalStatuses(got, resonite.StatusOnline, resonite.StatusInvisible) {
		t.Errorf("after Stop broadcast %q; want no Offline while invisible", got)
	}
}

func TestPresenceOfflineOnStop(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.UserStatus]()
	bob.OnReceiveStatusUpdate(onUpdate)
	startHub(t, bob)
	if err := bob.ListenOnContact(testContext(t), aliceID); err != nil {
		t.Fatalf("ListenOnContact: %v", err)
	}
	barrier(t, bob)

	alice := newTestHub(t, srv, "alice", resonite.HubOptions{StatusInterval: time.Hour})
	ctx := testContext(t)
	if err := alice.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := alice.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		t.Fatalf("SetOnlineStatus: %v", err)
	}
	if got := next(t, updates, "alice Online at bob"); got.OnlineStatus != resonite.StatusOnline {
		t.Errorf("bob received %q; want Online", got.OnlineStatus)
	}

	if err := alice.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got := next(t, updates, "alice Offline at bob")
	if got.OnlineStatus != resonite.StatusOffline || got.IsPresent {
		t.Errorf("bob received %q, present %t; want Offline, not present", got.OnlineStatus, got.IsPresent)
	}
	if stored, ok := alice.Status(); !ok || stored.OnlineStatus != resonite.StatusOnline {
		t.Errorf("Status() after Stop = %q; want the Online status kept for the next Start", stored.OnlineStatus)
	}
	if err := alice.Stop(ctx); err != nil {
		t.Errorf("second Stop = %v; want nil", err)
	}
}

func TestReplayAfterDrop(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	type reconnect struct {
		connectionID string
		initial      *resonite.InitialStatus
	}
	reconnects := make(chan reconnect, 10)
	configReconnected := make(chan string, 10)
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{Config: signalr.Config{
		Reconnect:     fastReconnect,
		OnReconnected: func(id string) { configReconnected <- id },
	}})
	alice.OnReconnected(func(ctx context.Context, initial *resonite.InitialStatus) {
		reconnects <- reconnect{alice.Client().ConnectionID(), initial}
	})
	onSession, sessions := collect[resonite.SessionInfo]()
	alice.OnReceiveSessionUpdate(onSession)
	startHub(t, alice)
	ctx := testContext(t)

	if _, err := alice.InitializeStatus(ctx); err != nil {
		t.Fatalf("InitializeStatus: %v", err)
	}
	for _, err := range []error{
		alice.RequestStatus(ctx, "", false),
		alice.RequestStatus(ctx, carolID, true),
		alice.ListenOnContact(ctx, bobID),
		alice.ListenOnContact(ctx, bobID),
		alice.ListenOnKey(ctx, "key-1"),
		alice.ListenOnKey(ctx, "key-2"),
		alice.SetOnlineStatus(ctx, resonite.StatusOnline),
	} {
		if err != nil {
			t.Fatalf("subscribing: %v", err)
		}
	}
	barrier(t, alice)
	firstConnection := alice.Client().ConnectionID()

	if n := srv.DropUser(aliceID); n != 1 {
		t.Fatalf("DropUser dropped %d connections; want 1", n)
	}
	r := next(t, reconnects, "the OnReconnected handler")
	if r.connectionID == firstConnection {
		t.Fatalf("connection ID %q unchanged after the reconnect", r.connectionID)
	}
	if r.initial == nil || len(r.initial.Contacts) != 1 || r.initial.Contacts[0].ID != bobID {
		t.Errorf("OnReconnected got initial status %+v; want the contact bob", r.initial)
	}
	if id := next(t, configReconnected, "Config.OnReconnected"); id != r.connectionID {
		t.Errorf("Config.OnReconnected got %q; want %q", id, r.connectionID)
	}
	barrier(t, alice)

	// The calls on the new connection are the replay, in order, and the
	// UpdateContact of the barrier.
	var replayed []string
	for _, c := range callsOf(srv, aliceID) {
		if c.ConnectionID == r.connectionID && c.Method != "UpdateContact" {
			replayed = append(replayed, c.Method+" "+argumentsJSON(c))
		}
	}
	want := []string{
		`InitializeStatus []`,
		`RequestStatus [null,false]`,
		`RequestStatus ["U-carol",true]`,
		`ListenOnContact ["U-bob"]`,
		`ListenOnKey ["key-1"]`,
		`ListenOnKey ["key-2"]`,
		`BroadcastStatus`,
	}
	if len(replayed) != len(want) {
		t.Fatalf("calls on the new connection:\n%s\nwant:\n%s", strings.Join(replayed, "\n"), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(replayed[i], w) {
			t.Errorf("replayed call %d = %s; want %s", i, replayed[i], w)
		}
	}
	if last := replayed[len(want)-1]; !strings.Contains(last, `"onlineStatus":"Online"`) {
		t.Errorf("replayed %s; want the Online status", last)
	}

	// The replayed ListenOnKey works on the new connection.
	if n := srv.SendSessionUpdate("key-2", resonite.SessionInfo{SessionID: "S-2"}); n != 1 {
		t.Fatalf("SendSessionUpdate reached %d connections; want 1", n)
	}
	if got := next(t, sessions, "session update after the reconnect"); got.SessionID != "S-2" {
		t.Errorf("session update for %q; want S-2", got.SessionID)
	}
}

func TestReplayWithoutSubscriptions(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	reconnects := make(chan *resonite.InitialStatus, 10)
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	alice.OnReconnected(func(_ context.Context, initial *resonite.InitialStatus) { reconnects <- initial })
	startHub(t, alice)

	srv.DropUser(aliceID)
	initial := next(t, reconnects, "the OnReconnected handler")
	if initial != nil {
		t.Errorf("OnReconnected got %+v; want nil, since InitializeStatus was never called", initial)
	}
	barrier(t, alice)
	for _, c := range callsOf(srv, aliceID) {
		if c.Method != "UpdateContact" {
			t.Errorf("the hub called %s after the reconnect; want no replay", c.Method)
		}
	}
}

// hubLogBuffer records log records as text, at debug level and above.
type hubLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *hubLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *hubLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *hubLogBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestHubRevealsNoToken(t *testing.T) {
	logs := &hubLogBuffer{}
	trace := &hubLogBuffer{}
	srv := startHubFake(t, resonitetest.Options{Logger: logs.logger()})
	srv.AddContact(aliceID, bobID)
	session := hubLogin(t, srv, "alice")
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{Config: signalr.Config{Logger: logs.logger()}})
	alice, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{
		StatusInterval: 10 * time.Millisecond,
		Config: signalr.Config{
			Logger:    logs.logger(),
			Reconnect: fastReconnect,
			Trace: func(dir signalr.Direction, _ protocol.TransferFormat, data []byte) {
				trace.Write([]byte(dir.String() + " " + string(data) + "\n"))
			},
		},
	})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	reconnected := make(chan struct{}, 10)
	alice.OnReconnected(func(context.Context, *resonite.InitialStatus) { reconnected <- struct{}{} })
	onReceived, received := collect[resonite.Message]()
	bob.OnReceiveMessage(onReceived)
	onDebug, debugs := collect[string]()
	alice.OnDebug(onDebug)
	alice.OnReceiveMessage(func(context.Context, resonite.Message) {})
	startHub(t, bob)
	startHub(t, alice)
	ctx := testContext(t)

	var errs []error
	_, err = alice.SendText(ctx, bobID, "hello")
	errs = append(errs, err)
	next(t, received, "the message at bob")
	errs = append(errs, alice.SetOnlineStatus(ctx, resonite.StatusOnline))
	_, err = alice.InitializeStatus(ctx)
	errs = append(errs, err)
	srv.SendEvent(aliceID, "ReceiveMessage", json.RawMessage(`"invalid"`))
	srv.SendEvent(aliceID, "Debug", "after the invalid event")
	next(t, debugs, "the Debug event")

	srv.DropUser(aliceID)
	next(t, reconnected, "the reconnect")

	srv.Revoke(session.Token)
	srv.DropUser(aliceID)
	select {
	case <-alice.Done():
	case <-time.After(hubWait):
		t.Fatal("the hub kept reconnecting with a revoked token")
	}
	errs = append(errs, alice.Err())
	errs = append(errs, alice.Start(ctx))
	_, err = alice.SendText(ctx, bobID, "after the end")
	errs = append(errs, err)

	if !strings.Contains(logs.String(), "hub event skipped") || !strings.Contains(trace.String(), "hello") {
		t.Fatalf("the test recorded too little: logs\n%s\ntrace\n%s", logs, trace)
	}
	for name, text := range map[string]string{"logs": logs.String(), "trace": trace.String()} {
		if strings.Contains(text, session.Token) {
			t.Errorf("the %s contain the token:\n%s", name, text)
		}
		if strings.Contains(text, session.Authorization()) {
			t.Errorf("the %s contain the Authorization value", name)
		}
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), session.Token) {
			t.Errorf("an error contains the token: %v", err)
		}
	}
}

// TestPresenceOfflineOnStopWithCanceledContext stops the hub with a
// context that a signal has already canceled, as a program that ends on
// Ctrl-C does: Offline must still reach the contacts.
func TestPresenceOfflineOnStopWithCanceledContext(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.UserStatus]()
	bob.OnReceiveStatusUpdate(onUpdate)
	startHub(t, bob)
	if err := bob.ListenOnContact(testContext(t), aliceID); err != nil {
		t.Fatalf("ListenOnContact: %v", err)
	}
	barrier(t, bob)

	alice := newTestHub(t, srv, "alice", resonite.HubOptions{StatusInterval: time.Hour})
	ctx, cancel := context.WithCancel(testContext(t))
	if err := alice.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := alice.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		t.Fatalf("SetOnlineStatus: %v", err)
	}
	next(t, updates, "alice Online at bob")

	cancel()
	alice.Stop(ctx)
	if got := next(t, updates, "alice Offline at bob"); got.OnlineStatus != resonite.StatusOffline {
		t.Errorf("bob received %q; want Offline", got.OnlineStatus)
	}
}

// TestSubscriptionBeforeStart checks that a subscription made before Start
// is sent when the hub connects.
func TestSubscriptionBeforeStart(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	bob.ListenOnKey(testContext(t), "key-1") // not connected yet: stored only
	startHub(t, bob)
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := false
		for _, c := range srv.HubCalls() {
			if c.Method == "ListenOnKey" && strings.Contains(string(c.Arguments[0]), "key-1") {
				found = true
			}
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the ListenOnKey made before Start was not sent on Start")
		}
		time.Sleep(time.Millisecond)
	}
}
