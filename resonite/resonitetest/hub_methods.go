package resonitetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/resonite"
)

// errUnknownConnection fails a call from a connection that the fake has not
// registered, which happens only while the connection ends.
var errUnknownConnection = errors.New("resonitetest: the connection has no authenticated user")

// sendMessage stores a message, delivers it as ReceiveMessage to the
// recipient's connections, with OwnerID set to the recipient, and echoes it
// as MessageSent to all connections of the sender. It rejects a message
// whose SenderID is not the authenticated user, or that lacks an ID or a
// RecipientID.
func (h *fakeHub) sendMessage(call *conformance.Call) error {
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return errUnknownConnection
	}
	var msg resonite.Message
	if err := call.Bind(&msg); err != nil {
		return err
	}
	switch {
	case msg.SenderID != userID:
		return fmt.Errorf("resonitetest: SendMessage: senderId %q is not the authenticated user %q", msg.SenderID, userID)
	case msg.RecipientID == "":
		return errors.New("resonitetest: SendMessage: recipientId is missing")
	case msg.ID == "":
		return errors.New("resonitetest: SendMessage: id is missing")
	}

	h.mu.Lock()
	h.messages = append(h.messages, msg)
	recipients := h.connsOf(msg.RecipientID)
	senders := h.connsOf(userID)
	h.mu.Unlock()

	received := msg
	received.OwnerID = msg.RecipientID
	h.send(recipients, "ReceiveMessage", received)
	h.send(senders, "MessageSent", msg)
	return nil
}

// markMessagesRead marks the listed messages from receipt.SenderID to the
// caller as read and sends MessagesRead with the IDs it marked to the
// sender's connections. IDs of other messages are ignored.
func (h *fakeHub) markMessagesRead(call *conformance.Call) error {
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return errUnknownConnection
	}
	var receipt resonite.ReadReceipt
	if err := call.Bind(&receipt); err != nil {
		return err
	}
	readTime := receipt.ReadTime
	if readTime.IsZero() {
		readTime = resonite.NewTime(h.srv.opts.Now())
	}

	h.mu.Lock()
	var marked []string
	for i := range h.messages {
		m := &h.messages[i]
		if m.SenderID == receipt.SenderID && m.RecipientID == userID && slices.Contains(receipt.IDs, m.ID) {
			t := readTime
			m.ReadTime = &t
			marked = append(marked, m.ID)
		}
	}
	senders := h.connsOf(receipt.SenderID)
	h.mu.Unlock()

	if len(marked) > 0 {
		h.send(senders, "MessagesRead", resonite.MessagesRead{RecipientID: userID, IDs: marked, ReadTime: &readTime})
	}
	return nil
}

// broadcastStatus stores the caller's status and sends it as
// ReceiveStatusUpdate to the connections of the caller's contacts that
// listen on the caller. Contacts see an Invisible status as Offline, as the
// service shows it. A target with a group other than 1 reaches only the
// contacts in its targetIds. The status must belong to the caller.
func (h *fakeHub) broadcastStatus(call *conformance.Call) error {
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return errUnknownConnection
	}
	args := call.Args()
	if len(args) == 0 || len(args) > 2 {
		return fmt.Errorf("resonitetest: BroadcastStatus: got %d arguments; want the status and a target", len(args))
	}
	var status resonite.UserStatus
	if err := json.Unmarshal(args[0], &status); err != nil {
		return fmt.Errorf("resonitetest: BroadcastStatus: invalid status: %w", err)
	}
	target := resonite.BroadcastToContacts
	if len(args) == 2 {
		if err := json.Unmarshal(args[1], &target); err != nil {
			return fmt.Errorf("resonitetest: BroadcastStatus: invalid target: %w", err)
		}
	}
	if status.UserID != userID {
		return fmt.Errorf("resonitetest: BroadcastStatus: userId %q is not the authenticated user %q", status.UserID, userID)
	}
	h.setStatus(status, target)
	return nil
}

// setStatus stores status and sends it to the listening contacts that
// target selects. It returns the number of connections reached.
func (h *fakeHub) setStatus(status resonite.UserStatus, target resonite.BroadcastTarget) int {
	h.mu.Lock()
	contacts := h.contacts[status.UserID]
	h.statuses[status.UserID] = status
	var listeners []*conformance.Conn
	for c, st := range h.conns {
		if !contacts[st.userID] || c.Context().Err() != nil {
			continue
		}
		if !st.allContacts && !st.contacts[status.UserID] {
			continue
		}
		if target.Group != resonite.BroadcastToContacts.Group && !slices.Contains(target.TargetIDs, st.userID) {
			continue
		}
		listeners = append(listeners, c)
	}
	h.mu.Unlock()
	return h.send(listeners, "ReceiveStatusUpdate", asSeenByContacts(status))
}

// asSeenByContacts returns status as the service shows it to contacts: an
// Invisible user appears Offline and in no session.
func asSeenByContacts(status resonite.UserStatus) resonite.UserStatus {
	if status.OnlineStatus != resonite.StatusInvisible {
		return status
	}
	status.OnlineStatus = resonite.StatusOffline
	status.Sessions = []resonite.UserSessionMetadata{}
	status.CurrentSessionIndex = -1
	return status
}

// statusOf returns the status of userID as contacts see it, or an Offline
// status for a user that never broadcast one. h.mu must be held.
func (h *fakeHub) statusOf(userID string) resonite.UserStatus {
	status, ok := h.statuses[userID]
	if !ok {
		return resonite.UserStatus{
			UserID:              userID,
			OnlineStatus:        resonite.StatusOffline,
			SessionType:         resonite.SessionTypeUnknown,
			OutputDevice:        resonite.OutputUnknown,
			Sessions:            []resonite.UserSessionMetadata{},
			CurrentSessionIndex: -1,
		}
	}
	return asSeenByContacts(status)
}

// listenOnContact makes the calling connection receive the status updates
// of a contact. Naming a user who is not a contact has no effect on what
// arrives, because only contacts' statuses are sent.
func (h *fakeHub) listenOnContact(call *conformance.Call) error {
	var contactID string
	if err := call.Bind(&contactID); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.conns[call.Conn()]
	if st == nil {
		return errUnknownConnection
	}
	st.contacts[contactID] = true
	return nil
}

// listenOnKey makes the calling connection receive the session updates
// that tests send for key with [Server.SendSessionUpdate] and
// [Server.SendRemoveSession].
func (h *fakeHub) listenOnKey(call *conformance.Call) error {
	var key string
	if err := call.Bind(&key); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.conns[call.Conn()]
	if st == nil {
		return errUnknownConnection
	}
	st.keys[key] = true
	return nil
}

// requestStatus sends ReceiveStatusUpdate to the calling connection: with a
// null user ID one for each contact of the caller, otherwise one for the
// requested user. A user without a stored status appears Offline. The
// invisible argument is optional, because one client sends only the user
// ID, and is ignored.
func (h *fakeHub) requestStatus(call *conformance.Call) error {
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return errUnknownConnection
	}
	args := call.Args()
	if len(args) == 0 || len(args) > 2 {
		return fmt.Errorf("resonitetest: RequestStatus: got %d arguments; want a user ID or null, and the invisible flag", len(args))
	}
	var requested *string
	if err := json.Unmarshal(args[0], &requested); err != nil {
		return fmt.Errorf("resonitetest: RequestStatus: invalid user ID: %w", err)
	}
	if len(args) == 2 && !bytes.Equal(bytes.TrimSpace(args[1]), []byte("null")) {
		var invisible bool
		if err := json.Unmarshal(args[1], &invisible); err != nil {
			return fmt.Errorf("resonitetest: RequestStatus: invalid invisible flag: %w", err)
		}
	}

	h.mu.Lock()
	ids := []string{}
	if requested == nil {
		ids = sortedKeys(h.contacts[userID])
	} else {
		ids = append(ids, *requested)
	}
	var statuses []resonite.UserStatus
	for _, id := range ids {
		statuses = append(statuses, h.statusOf(id))
	}
	h.mu.Unlock()

	for _, status := range statuses {
		h.send([]*conformance.Conn{call.Conn()}, "ReceiveStatusUpdate", status)
	}
	return nil
}

// initializeStatus returns the caller's contacts, each with its status as
// contacts see it, and subscribes the calling connection to the statuses
// of all its contacts.
//
// NOTE: the subscription is an assumption. Clients that call only
// InitializeStatus and never ListenOnContact receive their contacts'
// updates from the service, so InitializeStatus seems to subscribe.
func (h *fakeHub) initializeStatus(call *conformance.Call) (any, error) {
	if err := call.Bind(); err != nil {
		return nil, err
	}
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return nil, errUnknownConnection
	}
	h.mu.Lock()
	ids := sortedKeys(h.contacts[userID])
	h.mu.Unlock()
	usernames := make([]string, len(ids))
	for i, id := range ids {
		u, _ := h.srv.User(id)
		usernames[i] = u.Username
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.conns[call.Conn()]
	if st == nil {
		return nil, errUnknownConnection
	}
	st.allContacts = true
	result := resonite.InitialStatus{Contacts: []resonite.Contact{}}
	for i, id := range ids {
		status := h.statusOf(id)
		result.Contacts = append(result.Contacts, resonite.Contact{
			ID:              id,
			OwnerID:         userID,
			ContactUsername: usernames[i],
			ContactStatus:   resonite.ContactAccepted,
			IsAccepted:      true,
			UserStatus:      &status,
		})
	}
	return result, nil
}

// updateContact adds the contact for both users when its ContactStatus is
// Accepted and removes it for both otherwise, then returns true. The
// service keeps a request pending until the other user accepts, but the
// fake accepts at once.
func (h *fakeHub) updateContact(call *conformance.Call) (any, error) {
	userID, ok := h.userOf(call.Conn())
	if !ok {
		return nil, errUnknownConnection
	}
	var contact resonite.Contact
	if err := call.Bind(&contact); err != nil {
		return nil, err
	}
	if contact.ID == "" {
		return nil, errors.New("resonitetest: UpdateContact: the contact has no id")
	}
	if contact.OwnerID != "" && contact.OwnerID != userID {
		return nil, fmt.Errorf("resonitetest: UpdateContact: ownerId %q is not the authenticated user %q", contact.OwnerID, userID)
	}
	h.mu.Lock()
	h.setContact(userID, contact.ID, contact.ContactStatus == resonite.ContactAccepted)
	h.mu.Unlock()
	return true, nil
}

// setContact makes a and b contacts of each other, or removes them from
// each other's contacts. h.mu must be held.
func (h *fakeHub) setContact(a, b string, accepted bool) {
	for _, pair := range [...][2]string{{a, b}, {b, a}} {
		set := h.contacts[pair[0]]
		switch {
		case accepted && set == nil:
			h.contacts[pair[0]] = map[string]bool{pair[1]: true}
		case accepted:
			set[pair[1]] = true
		default:
			delete(set, pair[1])
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
