package resonite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hubwire/hubwire/signalr"
)

// DefaultStatusInterval is the default of HubOptions.StatusInterval.
// Clients of the service send their status again periodically: the
// mvcontact-bot chat bot every 90 s and the ReCon chat app every 150 s.
// The default is the shorter of the two.
const DefaultStatusInterval = 90 * time.Second

// DefaultAppVersion is the UserStatus.AppVersion that [Hub.SetStatus]
// fills in when it is empty. Contacts see it as "Chat client:
// <appVersion>" for Bot and ChatClient sessions.
const DefaultAppVersion = "hubwire"

// offlineTimeout bounds the Offline broadcast of Stop, which is only
// useful while the connection is up: waiting for a reconnect to send it
// would delay Stop by up to a retry delay.
const offlineTimeout = 5 * time.Second

// isVisible reports whether contacts see a user with status s online.
// Invisible and Offline hide the user. An unknown value counts as visible,
// so the hub keeps broadcasting it.
func isVisible(s OnlineStatus) bool {
	return s != StatusInvisible && s != StatusOffline
}

// SetStatus makes status the hub's status and broadcasts it to all
// contacts at once, even when it is Invisible or Offline, so that the
// server learns of the change. While the status is visible, the hub
// broadcasts it again every HubOptions.StatusInterval, after every
// reconnect and after Start. While it is Invisible or Offline, the hub
// sends nothing more, because repeated broadcasts reach the contacts and
// have revealed invisible users of other clients. Stop broadcasts a
// visible status as Offline first.
//
// SetStatus fills in the fields that are empty: UserID with the hub's
// user, UserSessionID with an ID chosen once per Hub, OnlineStatus with
// StatusOnline, SessionType with SessionTypeBot, OutputDevice with
// OutputUnknown, AppVersion with DefaultAppVersion and Sessions with an
// empty list. With no sessions, CurrentSessionIndex becomes -1.
// LastStatusChange becomes the current time when the OnlineStatus differs
// from the previous status or the field is zero. Each broadcast sets
// LastPresenceTimestamp to its time when IsPresent is set.
//
// Before Start, SetStatus only stores the status and returns nil. A
// UserID of another user is an error.
func (h *Hub) SetStatus(ctx context.Context, status UserStatus) error {
	if status.UserID != "" && status.UserID != h.userID {
		return fmt.Errorf("resonite: SetStatus: user %q differs from the hub's user %q", status.UserID, h.userID)
	}
	h.broadcastMu.Lock()
	defer h.broadcastMu.Unlock()

	h.statusMu.Lock()
	previous := h.status
	status = h.completeStatus(status, previous)
	h.status = &status
	h.statusMu.Unlock()

	err := h.sendStatus(ctx, status)
	if errors.Is(err, signalr.ErrNotConnected) {
		return nil
	}
	return err
}

// SetOnlineStatus changes the OnlineStatus of the hub's status and
// broadcasts it as [Hub.SetStatus] does. Without an earlier status it sets
// a status with only the fields that SetStatus fills in.
func (h *Hub) SetOnlineStatus(ctx context.Context, online OnlineStatus) error {
	status, _ := h.Status()
	status.OnlineStatus = online
	return h.SetStatus(ctx, status)
}

// Status returns the status that [Hub.SetStatus] set, and false when none
// was set.
func (h *Hub) Status() (UserStatus, bool) {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	if h.status == nil {
		return UserStatus{}, false
	}
	return cloneStatus(*h.status), true
}

// completeStatus fills in the empty fields of status as SetStatus
// documents. previous is the status before, or nil.
func (h *Hub) completeStatus(status UserStatus, previous *UserStatus) UserStatus {
	status = cloneStatus(status)
	if status.UserID == "" {
		status.UserID = h.userID
	}
	if status.UserSessionID == "" {
		status.UserSessionID = h.userSessionID
	}
	if status.OnlineStatus == "" {
		status.OnlineStatus = StatusOnline
	}
	if status.SessionType == "" {
		status.SessionType = SessionTypeBot
	}
	if status.OutputDevice == "" {
		status.OutputDevice = OutputUnknown
	}
	if status.AppVersion == "" {
		status.AppVersion = DefaultAppVersion
	}
	if status.Sessions == nil {
		status.Sessions = []UserSessionMetadata{}
	}
	if len(status.Sessions) == 0 {
		status.CurrentSessionIndex = -1
	}
	if status.LastStatusChange.IsZero() || previous == nil || previous.OnlineStatus != status.OnlineStatus {
		status.LastStatusChange = NewTime(time.Now())
	}
	return status
}

// cloneStatus copies s with its own Sessions and PublicRSAKey, so that a
// stored status shares no memory with the caller's.
func cloneStatus(s UserStatus) UserStatus {
	if s.Sessions != nil {
		s.Sessions = append([]UserSessionMetadata{}, s.Sessions...)
	}
	if s.PublicRSAKey != nil {
		s.PublicRSAKey = append([]byte(nil), s.PublicRSAKey...)
	}
	if s.LastPresenceTimestamp != nil {
		t := *s.LastPresenceTimestamp
		s.LastPresenceTimestamp = &t
	}
	return s
}

// sendStatus broadcasts status to all contacts, with LastPresenceTimestamp
// set to now when the status is present. h.broadcastMu must be held.
func (h *Hub) sendStatus(ctx context.Context, status UserStatus) error {
	if status.IsPresent {
		now := NewTime(time.Now())
		status.LastPresenceTimestamp = &now
	}
	return h.client.Send(ctx, methodBroadcastStatus, status, BroadcastToContacts)
}

// broadcastCurrent broadcasts the stored status when there is one and it is
// visible.
func (h *Hub) broadcastCurrent(ctx context.Context) error {
	h.broadcastMu.Lock()
	defer h.broadcastMu.Unlock()
	status, ok := h.Status()
	if !ok || !isVisible(status.OnlineStatus) {
		return nil
	}
	return h.sendStatus(ctx, status)
}

// broadcastOffline broadcasts the stored status as Offline when it is
// visible, and waits for the server's completion, so that the server has
// handled it before Stop closes the connection. The stored status stays as
// it is, so a later Start broadcasts it again.
func (h *Hub) broadcastOffline(ctx context.Context) error {
	h.broadcastMu.Lock()
	defer h.broadcastMu.Unlock()
	status, ok := h.Status()
	if !ok || !isVisible(status.OnlineStatus) {
		return nil
	}
	status.OnlineStatus = StatusOffline
	status.IsPresent = false
	status.LastStatusChange = NewTime(time.Now())
	ctx, cancel := context.WithTimeout(ctx, offlineTimeout)
	defer cancel()
	return h.client.Invoke(ctx, methodBroadcastStatus, nil, status, BroadcastToContacts)
}

// heartbeat broadcasts the visible status every h.statusEvery until ctx
// ends or the client ends for good.
func (h *Hub) heartbeat(ctx context.Context, done <-chan struct{}) {
	defer h.beat.Done()
	ticks, stop := h.newTicker(h.statusEvery)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-ticks:
		}
		// A broadcast that waits for a reconnect gives up before the next
		// tick, because the reconnect broadcasts the status itself.
		sendCtx, cancel := context.WithTimeout(ctx, h.statusEvery)
		err := h.broadcastCurrent(sendCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			h.logger.Warn("resonite: broadcasting the status failed", "error", err)
		}
		if h.tickHandled != nil {
			h.tickHandled()
		}
	}
}
