package resonite

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr"
)

// Names of the events the server invokes on clients.
const (
	eventReceiveMessage       = "ReceiveMessage"
	eventMessageSent          = "MessageSent"
	eventMessagesRead         = "MessagesRead"
	eventReceiveStatusUpdate  = "ReceiveStatusUpdate"
	eventReceiveSessionUpdate = "ReceiveSessionUpdate"
	eventRemoveSession        = "RemoveSession"
	eventDebug                = "Debug"
)

// knownEvents are the events the Hub types. Each gets a handler that does
// nothing, so that the busy ReceiveSessionUpdate and the others reach
// neither the fallback nor the SignalR client's log of unhandled
// invocations when no typed handler is registered.
var knownEvents = [...]string{
	eventReceiveMessage,
	eventMessageSent,
	eventMessagesRead,
	eventReceiveStatusUpdate,
	eventReceiveSessionUpdate,
	eventRemoveSession,
	eventDebug,
}

// hubEvents holds the handlers that the Hub calls itself rather than
// through the SignalR client.
type hubEvents struct {
	mu          sync.Mutex
	reconnected []func(ctx context.Context, initial *InitialStatus)
}

func (e *hubEvents) register(h *Hub) {
	for _, target := range knownEvents {
		h.client.On(target, ignoreInvocation)
	}
}

func ignoreInvocation(context.Context, *signalr.Invocation) (any, error) { return nil, nil }

func (e *hubEvents) addReconnected(f func(context.Context, *InitialStatus)) {
	e.mu.Lock()
	e.reconnected = append(e.reconnected, f)
	e.mu.Unlock()
}

func (e *hubEvents) reconnectedHandlers() []func(context.Context, *InitialStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reconnected[:len(e.reconnected):len(e.reconnected)]
}

// Event handlers run one at a time in the order the events arrived, as
// described on [Hub]. ctx is canceled when the connection ends. An event
// whose argument does not decode is logged at debug level and skipped: it
// neither reaches the handler nor ends the connection.

// OnReceiveMessage registers f for ReceiveMessage: a message to the hub's
// user arrived.
func (h *Hub) OnReceiveMessage(f func(ctx context.Context, msg Message)) {
	h.client.On(eventReceiveMessage, onArgument(h, f))
}

// OnMessageSent registers f for MessageSent: the server stored a message
// that the hub's user sent, from this or another of the user's
// connections. It confirms delivery, and can arrive long after SendMessage
// when the service is slow.
func (h *Hub) OnMessageSent(f func(ctx context.Context, msg Message)) {
	h.client.On(eventMessageSent, onArgument(h, f))
}

// OnMessagesRead registers f for MessagesRead: the recipient of messages
// that the hub's user sent has read them.
func (h *Hub) OnMessagesRead(f func(ctx context.Context, read MessagesRead)) {
	h.client.On(eventMessagesRead, onArgument(h, f))
}

// OnReceiveStatusUpdate registers f for ReceiveStatusUpdate: the status of
// a contact changed, or the server responds to RequestStatus.
func (h *Hub) OnReceiveStatusUpdate(f func(ctx context.Context, status UserStatus)) {
	h.client.On(eventReceiveStatusUpdate, onArgument(h, f))
}

// OnReceiveSessionUpdate registers f for ReceiveSessionUpdate: a session
// changed. The server sends many of these, also for sessions the hub did
// not subscribe to with ListenOnKey, so f should be quick.
func (h *Hub) OnReceiveSessionUpdate(f func(ctx context.Context, session SessionInfo)) {
	h.client.On(eventReceiveSessionUpdate, onArgument(h, f))
}

// OnRemoveSession registers f for RemoveSession: the session sessionID
// ended at the time at. A missing or invalid time gives the zero time.
func (h *Hub) OnRemoveSession(f func(ctx context.Context, sessionID string, at time.Time)) {
	h.client.On(eventRemoveSession, func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var sessionID string
		if !h.decodeArgument(inv, 0, &sessionID) {
			return nil, nil
		}
		var at Time
		if len(inv.Arguments) > 1 {
			if err := json.Unmarshal(inv.Arguments[1], &at); err != nil {
				h.logger.Debug("resonite: invalid time of a RemoveSession event; passing the zero time", "sessionId", sessionID, "error", err)
				at = Time{}
			}
		}
		f(ctx, sessionID, at.Time)
		return nil, nil
	})
}

// OnDebug registers f for Debug: a diagnostic text from the server.
func (h *Hub) OnDebug(f func(ctx context.Context, text string)) {
	h.client.On(eventDebug, onArgument(h, f))
}

// OnRaw registers handler for the server's invocations of target, with the
// undecoded arguments in the JSON hub protocol. It runs in addition to any
// typed handler of the same target. Use it for events the Hub does not
// type, such as SendStatusToUser.
func (h *Hub) OnRaw(target string, handler signalr.Handler) {
	h.client.On(target, handler)
}

// OnFallback registers handler for the server's invocations of targets
// that neither the Hub types nor OnRaw registered, replacing any earlier
// fallback. Nil removes it.
func (h *Hub) OnFallback(handler signalr.Handler) {
	h.client.OnFallback(handler)
}

// OnReconnected registers f to run after an automatic reconnect, once the
// hub has sent its subscriptions and its status again. initial is the
// result of the InitializeStatus the hub repeated, or nil when
// InitializeStatus was never called or failed again; replay failures are
// logged. ctx ends after HubOptions.ReplayTimeout or at Stop.
func (h *Hub) OnReconnected(f func(ctx context.Context, initial *InitialStatus)) {
	h.events.addReconnected(f)
}

// onArgument returns a SignalR handler that decodes the first argument
// into a T and calls f with it.
func onArgument[T any](h *Hub, f func(context.Context, T)) signalr.Handler {
	return func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var v T
		if h.decodeArgument(inv, 0, &v) {
			f(ctx, v)
		}
		return nil, nil
	}
}

// decodeArgument decodes argument i of inv into dst and reports whether it
// succeeded. It logs a missing, null or invalid argument at debug level.
func (h *Hub) decodeArgument(inv *signalr.Invocation, i int, dst any) bool {
	if i >= len(inv.Arguments) {
		h.logger.Debug("resonite: hub event skipped: argument missing", "target", inv.Target, "arguments", len(inv.Arguments), "argument", i)
		return false
	}
	raw := bytes.TrimSpace(inv.Arguments[i])
	if len(raw) == 0 || string(raw) == "null" {
		h.logger.Debug("resonite: hub event skipped: argument is null", "target", inv.Target, "argument", i)
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		h.logger.Debug("resonite: hub event skipped: invalid argument", "target", inv.Target, "argument", i, "error", err)
		return false
	}
	return true
}
