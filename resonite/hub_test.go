package resonite_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
	"github.com/hubwire/hubwire/signalr"
)

func TestHubChat(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	aliceOther := newTestHub(t, srv, "alice", resonite.HubOptions{})
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})

	onSent, sent := collect[resonite.Message]()
	alice.OnMessageSent(onSent)
	onOtherSent, otherSent := collect[resonite.Message]()
	aliceOther.OnMessageSent(onOtherSent)
	onRead, read := collect[resonite.MessagesRead]()
	alice.OnMessagesRead(onRead)
	onReceived, received := collect[resonite.Message]()
	bob.OnReceiveMessage(onReceived)
	onAliceReceived, aliceReceived := collect[resonite.Message]()
	alice.OnReceiveMessage(onAliceReceived)
	for _, h := range []*resonite.Hub{alice, aliceOther, bob} {
		startHub(t, h)
	}

	ctx := testContext(t)
	msg, err := alice.SendText(ctx, bobID, "hello bob")
	if err != nil {
		t.Fatalf("SendText: %v", err)
	}

	got := next(t, received, "ReceiveMessage at bob")
	if got.ID != msg.ID {
		t.Errorf("received ID = %q; want %q", got.ID, msg.ID)
	}
	if got.Content != "hello bob" {
		t.Errorf("received Content = %q; want %q", got.Content, "hello bob")
	}
	if got.SenderID != aliceID || got.RecipientID != bobID {
		t.Errorf("received sender, recipient = %q, %q; want %q, %q", got.SenderID, got.RecipientID, aliceID, bobID)
	}
	if got.OwnerID != bobID {
		t.Errorf("received OwnerID = %q; want the recipient %q", got.OwnerID, bobID)
	}
	if got.MessageType != resonite.MessageText {
		t.Errorf("received MessageType = %q; want %q", got.MessageType, resonite.MessageText)
	}
	if !got.SendTime.Equal(msg.SendTime.Truncate(time.Millisecond)) {
		t.Errorf("received SendTime = %v; want %v", got.SendTime, msg.SendTime)
	}

	for _, ch := range []chan resonite.Message{sent, otherSent} {
		echo := next(t, ch, "MessageSent at a connection of alice")
		if echo.ID != msg.ID {
			t.Errorf("MessageSent ID = %q; want %q", echo.ID, msg.ID)
		}
		if echo.OwnerID != aliceID {
			t.Errorf("MessageSent OwnerID = %q; want the sender %q", echo.OwnerID, aliceID)
		}
	}

	if err := bob.MarkMessagesRead(ctx, resonite.ReadReceipt{SenderID: aliceID, IDs: []string{msg.ID}}); err != nil {
		t.Fatalf("MarkMessagesRead: %v", err)
	}
	receipt := next(t, read, "MessagesRead at alice")
	if receipt.RecipientID != bobID {
		t.Errorf("MessagesRead RecipientID = %q; want %q", receipt.RecipientID, bobID)
	}
	if len(receipt.IDs) != 1 || receipt.IDs[0] != msg.ID {
		t.Errorf("MessagesRead IDs = %q; want [%q]", receipt.IDs, msg.ID)
	}
	if receipt.ReadTime == nil || receipt.ReadTime.IsZero() {
		t.Errorf("MessagesRead ReadTime = %v; want the time of the receipt", receipt.ReadTime)
	}

	stored := srv.Messages()
	if len(stored) != 1 {
		t.Fatalf("the fake stored %d messages; want 1", len(stored))
	}
	if stored[0].ReadTime == nil {
		t.Error("the stored message has no ReadTime after MarkMessagesRead")
	}
	barrier(t, alice)
	expectNone(t, aliceReceived, "ReceiveMessage at the sender")
}

func TestSendMessageFillsFields(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)

	before := time.Now()
	msg, err := alice.SendMessage(testContext(t), resonite.Message{RecipientID: bobID, Content: "hi"})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if !strings.HasPrefix(msg.ID, "MSG-") || len(msg.ID) != len("MSG-")+36 {
		t.Errorf("ID = %q; want MSG- and a UUID", msg.ID)
	}
	if msg.SenderID != aliceID || msg.OwnerID != aliceID {
		t.Errorf("SenderID, OwnerID = %q, %q; want %q twice", msg.SenderID, msg.OwnerID, aliceID)
	}
	if msg.MessageType != resonite.MessageText {
		t.Errorf("MessageType = %q; want %q", msg.MessageType, resonite.MessageText)
	}
	if msg.SendTime.Before(before) || msg.SendTime.After(time.Now()) {
		t.Errorf("SendTime = %v; want the time of the call", msg.SendTime)
	}
	if !msg.LastUpdateTime.Equal(msg.SendTime.Time) {
		t.Errorf("LastUpdateTime = %v; want SendTime %v", msg.LastUpdateTime, msg.SendTime)
	}

	barrier(t, alice)
	stored := srv.Messages()
	if len(stored) != 1 || stored[0].ID != msg.ID {
		t.Fatalf("the fake stored %+v; want the message %s", stored, msg.ID)
	}
}

func TestSendMessageKeepsSetFields(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)

	sendTime := resonite.NewTime(time.Now().Add(-time.Second))
	in := resonite.Message{
		ID:          "MSG-fixed",
		RecipientID: bobID,
		MessageType: resonite.MessageObject,
		Content:     `{"id":"R-1"}`,
		SendTime:    sendTime,
	}
	msg, err := alice.SendMessage(testContext(t), in)
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if msg.ID != "MSG-fixed" {
		t.Errorf("ID = %q; want the caller's", msg.ID)
	}
	if msg.MessageType != resonite.MessageObject {
		t.Errorf("MessageType = %q; want the caller's", msg.MessageType)
	}
	if !msg.SendTime.Equal(sendTime.Time) {
		t.Errorf("SendTime = %v; want the caller's %v", msg.SendTime, sendTime)
	}
}

func TestSendMessageInvalid(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)
	ctx := testContext(t)

	if _, err := alice.SendMessage(ctx, resonite.Message{Content: "to nobody"}); err == nil {
		t.Error("SendMessage without a recipient succeeded; want an error")
	}
	if _, err := alice.SendMessage(ctx, resonite.Message{RecipientID: bobID, SenderID: carolID}); err == nil {
		t.Error("SendMessage with another sender succeeded; want an error")
	}
	barrier(t, alice)
	if calls := callsOf(srv, aliceID, "SendMessage"); len(calls) != 0 {
		t.Errorf("the fake received %d SendMessage calls; want none", len(calls))
	}
}

func TestFakeRejectsOtherSender(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	onReceived, received := collect[resonite.Message]()
	bob.OnReceiveMessage(onReceived)
	startHub(t, alice)
	startHub(t, bob)
	ctx := testContext(t)

	forged := resonite.Message{ID: "MSG-forged", SenderID: carolID, OwnerID: carolID, RecipientID: bobID, MessageType: resonite.MessageText, Content: "forged"}
	if err := alice.Client().Send(ctx, "SendMessage", forged); err != nil {
		t.Fatalf("sending a forged message: %v", err)
	}
	msg, err := alice.SendText(ctx, bobID, "genuine")
	if err != nil {
		t.Fatalf("SendText: %v", err)
	}
	if got := next(t, received, "ReceiveMessage at bob"); got.ID != msg.ID {
		t.Errorf("bob received %q (%q) first; want the genuine message %q", got.ID, got.Content, msg.ID)
	}
	if stored := srv.Messages(); len(stored) != 1 {
		t.Errorf("the fake stored %d messages; want only the genuine one", len(stored))
	}
}

func TestStatusFanOut(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	carol := newTestHub(t, srv, "carol", resonite.HubOptions{})
	onBob, bobUpdates := collect[resonite.UserStatus]()
	bob.OnReceiveStatusUpdate(onBob)
	onCarol, carolUpdates := collect[resonite.UserStatus]()
	carol.OnReceiveStatusUpdate(onCarol)
	for _, h := range []*resonite.Hub{alice, bob, carol} {
		startHub(t, h)
	}
	ctx := testContext(t)

	// carol is not a contact of alice, so listening gets her nothing.
	for _, h := range []*resonite.Hub{bob, carol} {
		if err := h.ListenOnContact(ctx, aliceID); err != nil {
			t.Fatalf("ListenOnContact of %s: %v", h.UserID(), err)
		}
		barrier(t, h)
	}

	status := resonite.UserStatus{
		UserID:              aliceID,
		UserSessionID:       "session-1",
		OnlineStatus:        resonite.StatusBusy,
		SessionType:         resonite.SessionTypeBot,
		OutputDevice:        resonite.OutputUnknown,
		Sessions:            []resonite.UserSessionMetadata{},
		CurrentSessionIndex: -1,
	}
	if err := alice.BroadcastStatus(ctx, status, resonite.BroadcastToContacts); err != nil {
		t.Fatalf("BroadcastStatus: %v", err)
	}
	got := next(t, bobUpdates, "ReceiveStatusUpdate at bob")
	if got.UserID != aliceID || got.OnlineStatus != resonite.StatusBusy || got.UserSessionID != "session-1" {
		t.Errorf("bob received %+v; want alice Busy in session-1", got)
	}

	status.OnlineStatus = resonite.StatusInvisible
	if err := alice.BroadcastStatus(ctx, status, resonite.BroadcastToContacts); err != nil {
		t.Fatalf("BroadcastStatus: %v", err)
	}
	if got := next(t, bobUpdates, "ReceiveStatusUpdate at bob"); got.OnlineStatus != resonite.StatusOffline {
		t.Errorf("bob saw alice's Invisible status as %q; want Offline", got.OnlineStatus)
	}
	if stored, _ := srv.UserStatus(aliceID); stored.OnlineStatus != resonite.StatusInvisible {
		t.Errorf("the fake stored %q; want alice's own Invisible", stored.OnlineStatus)
	}

	barrier(t, alice)
	barrier(t, carol)
	expectNone(t, carolUpdates, "status update at carol, who is no contact")
}

func TestRequestStatus(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	srv.AddContact(aliceID, carolID)
	srv.SetUserStatus(resonite.UserStatus{UserID: bobID, OnlineStatus: resonite.StatusSociable, CurrentSessionIndex: -1})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.UserStatus]()
	alice.OnReceiveStatusUpdate(onUpdate)
	startHub(t, alice)
	ctx := testContext(t)

	if err := alice.RequestStatus(ctx, "", false); err != nil {
		t.Fatalf("RequestStatus of all contacts: %v", err)
	}
	want := map[string]resonite.OnlineStatus{bobID: resonite.StatusSociable, carolID: resonite.StatusOffline}
	for range 2 {
		got := next(t, updates, "ReceiveStatusUpdate")
		if got.OnlineStatus != want[got.UserID] {
			t.Errorf("status of %q = %q; want %q", got.UserID, got.OnlineStatus, want[got.UserID])
		}
		delete(want, got.UserID)
	}

	if err := alice.RequestStatus(ctx, bobID, true); err != nil {
		t.Fatalf("RequestStatus of bob: %v", err)
	}
	if got := next(t, updates, "ReceiveStatusUpdate of bob"); got.UserID != bobID {
		t.Errorf("update for %q; want %q", got.UserID, bobID)
	}
	barrier(t, alice)
	expectNone(t, updates, "status update")

	calls := callsOf(srv, aliceID, "RequestStatus")
	wantArgs := []string{`[null,false]`, `["U-bob",true]`}
	if len(calls) != len(wantArgs) {
		t.Fatalf("the fake received %d RequestStatus calls; want %d", len(calls), len(wantArgs))
	}
	for i, c := range calls {
		if got := argumentsJSON(c); got != wantArgs[i] {
			t.Errorf("RequestStatus call %d arguments = %s; want %s", i, got, wantArgs[i])
		}
	}
}

// argumentsJSON returns the arguments of c as a JSON array.
func argumentsJSON(c resonitetest.HubCall) string {
	b, _ := json.Marshal(c.Arguments)
	return string(b)
}

func TestInitializeStatus(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(aliceID, bobID)
	srv.AddContact(aliceID, carolID)
	bob := newTestHub(t, srv, "bob", resonite.HubOptions{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.UserStatus]()
	alice.OnReceiveStatusUpdate(onUpdate)
	startHub(t, bob)
	startHub(t, alice)
	ctx := testContext(t)

	if err := bob.SetOnlineStatus(ctx, resonite.StatusAway); err != nil {
		t.Fatalf("SetOnlineStatus of bob: %v", err)
	}
	barrier(t, bob)

	initial, err := alice.InitializeStatus(ctx)
	if err != nil {
		t.Fatalf("InitializeStatus: %v", err)
	}
	if len(initial.Contacts) != 2 {
		t.Fatalf("InitializeStatus returned %d contacts; want 2: %+v", len(initial.Contacts), initial.Contacts)
	}
	wantUsers := []struct {
		id, username string
		status       resonite.OnlineStatus
	}{
		{bobID, "bob", resonite.StatusAway},
		{carolID, "carol", resonite.StatusOffline},
	}
	for i, want := range wantUsers {
		c := initial.Contacts[i]
		if c.ID != want.id || c.ContactUsername != want.username {
			t.Errorf("contact %d = %q (%q); want %q (%q)", i, c.ID, c.ContactUsername, want.id, want.username)
		}
		if c.OwnerID != aliceID || c.ContactStatus != resonite.ContactAccepted || !c.IsAccepted {
			t.Errorf("contact %d: owner %q, status %q, accepted %t; want %q, Accepted, true", i, c.OwnerID, c.ContactStatus, c.IsAccepted, aliceID)
		}
		if c.UserStatus == nil {
			t.Errorf("contact %d has no embedded userStatus", i)
			continue
		}
		if c.UserStatus.OnlineStatus != want.status {
			t.Errorf("contact %d status = %q; want %q", i, c.UserStatus.OnlineStatus, want.status)
		}
	}

	// InitializeStatus subscribes alice to her contacts' statuses.
	if err := bob.SetOnlineStatus(ctx, resonite.StatusBusy); err != nil {
		t.Fatalf("SetOnlineStatus of bob: %v", err)
	}
	if got := next(t, updates, "bob's status at alice"); got.UserID != bobID || got.OnlineStatus != resonite.StatusBusy {
		t.Errorf("alice received %q %q; want bob Busy", got.UserID, got.OnlineStatus)
	}
}

func TestUpdateContact(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)
	ctx := testContext(t)

	ok, err := alice.UpdateContact(ctx, resonite.Contact{ID: bobID, OwnerID: aliceID, ContactUsername: "bob", ContactStatus: resonite.ContactAccepted})
	if err != nil || !ok {
		t.Fatalf("UpdateContact accepting bob = %t, %v; want true, nil", ok, err)
	}
	initial, err := alice.InitializeStatus(ctx)
	if err != nil {
		t.Fatalf("InitializeStatus: %v", err)
	}
	if len(initial.Contacts) != 1 || initial.Contacts[0].ID != bobID {
		t.Fatalf("contacts after accepting bob = %+v; want bob", initial.Contacts)
	}

	ok, err = alice.UpdateContact(ctx, resonite.Contact{ID: bobID, OwnerID: aliceID, ContactUsername: "bob", ContactStatus: resonite.ContactIgnored})
	if err != nil || !ok {
		t.Fatalf("UpdateContact ignoring bob = %t, %v; want true, nil", ok, err)
	}
	initial, err = alice.InitializeStatus(ctx)
	if err != nil {
		t.Fatalf("InitializeStatus: %v", err)
	}
	if len(initial.Contacts) != 0 {
		t.Errorf("contacts after ignoring bob = %+v; want none", initial.Contacts)
	}

	calls := callsOf(srv, aliceID, "UpdateContact")
	if len(calls) != 2 || !strings.Contains(argumentsJSON(calls[0]), `"contactStatus":"Accepted"`) {
		t.Errorf("UpdateContact calls = %+v; want the contact with contactStatus Accepted first", calls)
	}
}

func TestSessionUpdates(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.SessionInfo]()
	alice.OnReceiveSessionUpdate(onUpdate)
	type removal struct {
		id string
		at time.Time
	}
	removals := make(chan removal, 10)
	alice.OnRemoveSession(func(_ context.Context, id string, at time.Time) { removals <- removal{id, at} })
	startHub(t, alice)
	ctx := testContext(t)

	if n := srv.SendSessionUpdate("key-1", resonite.SessionInfo{SessionID: "S-1"}); n != 0 {
		t.Errorf("SendSessionUpdate before ListenOnKey reached %d connections; want 0", n)
	}
	if err := alice.ListenOnKey(ctx, "key-1"); err != nil {
		t.Fatalf("ListenOnKey: %v", err)
	}
	barrier(t, alice)

	info := resonite.SessionInfo{SessionID: "S-1", Name: "<b>Test world</b>", BroadcastKey: "key-1", ActiveUsers: 3, AccessLevel: resonite.AccessContacts}
	if n := srv.SendSessionUpdate("key-1", info); n != 1 {
		t.Fatalf("SendSessionUpdate reached %d connections; want 1", n)
	}
	got := next(t, updates, "ReceiveSessionUpdate")
	if got.SessionID != "S-1" || got.Name != info.Name || got.ActiveUsers != 3 || got.AccessLevel != resonite.AccessContacts {
		t.Errorf("session update = %+v; want %+v", got, info)
	}

	at := time.Date(2025, 7, 29, 18, 36, 13, 264_000_000, time.UTC)
	if n := srv.SendRemoveSession("key-1", "S-1", at); n != 1 {
		t.Fatalf("SendRemoveSession reached %d connections; want 1", n)
	}
	r := next(t, removals, "RemoveSession")
	if r.id != "S-1" || !r.at.Equal(at) {
		t.Errorf("RemoveSession = %q at %v; want S-1 at %v", r.id, r.at, at)
	}
}

func TestEventsDecodeTolerantly(t *testing.T) {
	logs := &hubLogBuffer{}
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{Config: signalr.Config{Logger: logs.logger()}})
	onMessage, messages := collect[resonite.Message]()
	alice.OnReceiveMessage(onMessage)
	onDebug, debugs := collect[string]()
	alice.OnDebug(onDebug)
	removals := make(chan time.Time, 10)
	alice.OnRemoveSession(func(_ context.Context, _ string, at time.Time) { removals <- at })
	startHub(t, alice)

	bad := []json.RawMessage{
		json.RawMessage(`"not an object"`),
		json.RawMessage(`null`),
		json.RawMessage(`{"id":5}`),
		json.RawMessage(`{"id":"MSG-1","sendTime":"yesterday"}`),
	}
	for _, arg := range bad {
		if n := srv.SendEvent(aliceID, "ReceiveMessage", arg); n != 1 {
			t.Fatalf("SendEvent reached %d connections; want 1", n)
		}
	}
	srv.SendEvent(aliceID, "ReceiveMessage")
	srv.SendEvent(aliceID, "RemoveSession", "S-1", "not a time")
	srv.SendEvent(aliceID, "Debug", "server says hi", "extra argument")
	srv.SendEvent(aliceID, "ReceiveMessage", resonite.Message{ID: "MSG-good", Content: "fine", LastUpdateTime: resonite.NewTime(time.Now())})

	if at := next(t, removals, "RemoveSession"); !at.IsZero() {
		t.Errorf("RemoveSession with an invalid time passed %v; want the zero time", at)
	}
	if got := next(t, debugs, "Debug"); got != "server says hi" {
		t.Errorf("Debug text = %q; want %q", got, "server says hi")
	}
	if got := next(t, messages, "the valid ReceiveMessage"); got.ID != "MSG-good" {
		t.Errorf("first message handled = %q; want only MSG-good, after skipping the invalid ones", got.ID)
	}
	expectNone(t, messages, "ReceiveMessage")

	if n := strings.Count(logs.String(), "hub event skipped"); n != len(bad)+1 {
		t.Errorf("logged %d skipped events; want %d:\n%s", n, len(bad)+1, logs)
	}
	// The connection survived.
	barrier(t, alice)
	if alice.Err() != nil {
		t.Errorf("Err = %v; want nil", alice.Err())
	}
}

func TestOnRawAndFallback(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	raw := make(chan string, 10)
	alice.OnRaw("SendStatusToUser", func(_ context.Context, inv *signalr.Invocation) (any, error) {
		raw <- inv.Target + " " + string(inv.Arguments[0])
		return nil, nil
	})
	fallback := make(chan string, 10)
	alice.OnFallback(func(_ context.Context, inv *signalr.Invocation) (any, error) {
		fallback <- inv.Target
		return nil, nil
	})
	startHub(t, alice)

	srv.SendEvent(aliceID, "ReceiveSessionUpdate", resonite.SessionInfo{SessionID: "S-1"})
	srv.SendEvent(aliceID, "SendStatusToUser", "U-bob")
	srv.SendEvent(aliceID, "SomethingNew", 1)

	if got := next(t, raw, "SendStatusToUser"); got != `SendStatusToUser "U-bob"` {
		t.Errorf("raw handler got %s; want the target and its argument", got)
	}
	if got := next(t, fallback, "the fallback"); got != "SomethingNew" {
		t.Errorf("fallback got %s; want SomethingNew, the only event without a handler", got)
	}
	expectNone(t, fallback, "fallback invocation")
}

func TestBroadcastSessionCalls(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)
	ctx := testContext(t)

	if err := alice.BroadcastSession(ctx, resonite.SessionInfo{SessionID: "S-hosted", Name: "Hosted"}); err != nil {
		t.Fatalf("BroadcastSession: %v", err)
	}
	if err := alice.BroadcastSessionEnded(ctx, "S-hosted"); err != nil {
		t.Fatalf("BroadcastSessionEnded: %v", err)
	}
	barrier(t, alice)
	calls := callsOf(srv, aliceID, "BroadcastSession", "BroadcastSessionEnded")
	if len(calls) != 2 {
		t.Fatalf("the fake received %d calls; want 2", len(calls))
	}
	if !strings.Contains(argumentsJSON(calls[0]), `"sessionId":"S-hosted"`) {
		t.Errorf("BroadcastSession arguments = %s; want the session", argumentsJSON(calls[0]))
	}
	if got := argumentsJSON(calls[1]); got != `["S-hosted"]` {
		t.Errorf("BroadcastSessionEnded arguments = %s; want [\"S-hosted\"]", got)
	}
}

func TestNewHubNeedsSession(t *testing.T) {
	for _, s := range []*resonite.Session{nil, {UserID: aliceID}, {Token: "token"}} {
		if _, err := resonite.NewHub("http://127.0.0.1:1/hub", s, resonite.HubOptions{}); err == nil {
			t.Errorf("NewHub with session %v succeeded; want an error", s)
		}
	}
}

func TestHubStartTwice(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	startHub(t, alice)
	if err := alice.Start(testContext(t)); !errors.Is(err, signalr.ErrAlreadyStarted) {
		t.Errorf("second Start = %v; want ErrAlreadyStarted", err)
	}
}

func TestHubStartRejectedToken(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	session := hubLogin(t, srv, "alice")
	session.Token = "wrong-token"
	h, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	err = h.Start(testContext(t))
	if !errors.Is(err, resonite.ErrSessionExpired) {
		t.Fatalf("Start with a wrong token = %v; want ErrSessionExpired", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("the error contains the token: %v", err)
	}
}

func TestHubEndsWhenTokenRevoked(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	session := hubLogin(t, srv, "alice")
	h, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{Config: signalr.Config{Reconnect: fastReconnect}})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	startHub(t, h)

	srv.Revoke(session.Token)
	if n := srv.DropUser(aliceID); n != 1 {
		t.Fatalf("DropUser dropped %d connections; want 1", n)
	}
	select {
	case <-h.Done():
	case <-time.After(hubWait):
		t.Fatal("the hub kept reconnecting with a revoked token")
	}
	err = h.Err()
	if !errors.Is(err, resonite.ErrSessionExpired) {
		t.Errorf("Err = %v; want ErrSessionExpired", err)
	}
	var re *signalr.ReconnectError
	if !errors.As(err, &re) || re.Attempts != 1 {
		t.Errorf("Err = %v; want a ReconnectError after 1 attempt", err)
	}
}

func TestFakeRejectsForgedStatus(t *testing.T) {
	srv := startHubFake(t, resonitetest.Options{})
	srv.AddContact(bobID, carolID)
	alice := newTestHub(t, srv, "alice", resonite.HubOptions{})
	carol := newTestHub(t, srv, "carol", resonite.HubOptions{})
	onUpdate, updates := collect[resonite.UserStatus]()
	carol.OnReceiveStatusUpdate(onUpdate)
	startHub(t, alice)
	startHub(t, carol)
	ctx := testContext(t)
	if _, err := carol.InitializeStatus(ctx); err != nil {
		t.Fatalf("InitializeStatus: %v", err)
	}

	forged := resonite.UserStatus{UserID: bobID, OnlineStatus: resonite.StatusOnline, CurrentSessionIndex: -1}
	if err := alice.BroadcastStatus(ctx, forged, resonite.BroadcastToContacts); err != nil {
		t.Fatalf("BroadcastStatus: %v", err)
	}
	barrier(t, alice)
	barrier(t, carol)
	expectNone(t, updates, "forged status update at carol")
	if status, ok := srv.UserStatus(bobID); ok {
		t.Errorf("the fake stored the forged status %+v", status)
	}
}
