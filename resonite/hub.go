package resonite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

// DefaultHubURL is the SignalR hub of the Resonite cloud.
const DefaultHubURL = "https://api.resonite.com/hub"

// DefaultReplayTimeout is the default of HubOptions.ReplayTimeout.
const DefaultReplayTimeout = 30 * time.Second

// Names of the hub methods that a client invokes.
const (
	methodSendMessage           = "SendMessage"
	methodMarkMessagesRead      = "MarkMessagesRead"
	methodBroadcastStatus       = "BroadcastStatus"
	methodUpdateContact         = "UpdateContact"
	methodListenOnContact       = "ListenOnContact"
	methodListenOnKey           = "ListenOnKey"
	methodRequestStatus         = "RequestStatus"
	methodInitializeStatus      = "InitializeStatus"
	methodBroadcastSession      = "BroadcastSession"
	methodBroadcastSessionEnded = "BroadcastSessionEnded"
)

// HubOptions configures a [Hub]. The zero value connects with the defaults
// that each field documents.
type HubOptions struct {
	// Config configures the SignalR connection. NewHub copies it and then
	// sets Protocol to JSON, the only hub protocol that clients of the
	// service are known to use, and adds the Authorization and User-Agent
	// headers to a copy of Header. Config.OnReconnected, when set, is
	// called after the hub has replayed its subscriptions on the new
	// connection. Config.Logger also receives the hub's own log records.
	//
	// Config.Reconnect nil means [DefaultReconnectPolicy], because a bot
	// should stay connected. To turn automatic reconnect off, set it to
	// signalr.DelayRetryPolicy{}, which gives up at once. Whatever the
	// policy, the hub stops reconnecting when an attempt fails with HTTP
	// status 401 or 403: the token was rejected, and the hub cannot send
	// another one.
	Config signalr.Config

	// UserAgent is sent as the User-Agent header. Empty means
	// DefaultUserAgent.
	UserAgent string

	// StatusInterval is how often the hub sends its status again while it
	// is visible; see [Hub.SetStatus]. Zero means DefaultStatusInterval
	// (90 s); a negative value sends the status only when it changes and
	// after a reconnect.
	StatusInterval time.Duration

	// ReplayTimeout bounds the replay of the subscriptions after an
	// automatic reconnect, InitializeStatus included. Zero means
	// DefaultReplayTimeout (30 s).
	ReplayTimeout time.Duration
}

// DefaultReconnectPolicy returns the retry policy a Hub uses when
// HubOptions.Config.Reconnect is nil: signalr's zero
// ExponentialRetryPolicy, which retries forever after delays that grow from
// 1 s to at most 1 min, with 20 % jitter.
func DefaultReconnectPolicy() signalr.RetryPolicy {
	return signalr.ExponentialRetryPolicy{}
}

// An authRetryPolicy stops retrying after an authorization failure and
// otherwise follows its inner policy.
type authRetryPolicy struct {
	inner signalr.RetryPolicy
}

func (p authRetryPolicy) NextRetryDelay(retry signalr.RetryContext) (time.Duration, bool) {
	if isAuthFailure(retry.RetryReason) {
		return 0, false
	}
	return p.inner.NextRetryDelay(retry)
}

// isAuthFailure reports whether err comes from an HTTP response with status
// 401 Unauthorized or 403 Forbidden.
func isAuthFailure(err error) bool {
	var se *transport.StatusError
	if !errors.As(err, &se) {
		return false
	}
	return se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden
}

// A Hub is a typed client of the Resonite SignalR hub for one signed-in
// user. Create it with [NewHub], register event handlers, then call
// [Hub.Start].
//
// The hub remembers the subscriptions made with ListenOnContact,
// ListenOnKey, RequestStatus and InitializeStatus. They do not carry over
// to a new connection, so after every automatic reconnect, and on every
// Start, the hub sends them again, in the order InitializeStatus,
// RequestStatus, ListenOnContact, ListenOnKey, and then its status (see
// [Hub.SetStatus]).
//
// Methods without a result, such as ListenOnKey, RequestStatus,
// MarkMessagesRead and SendMessage, return once the message is written,
// before the server has handled it. UpdateContact and InitializeStatus
// wait for the server's result.
//
// All methods are safe for concurrent use. Event handlers run one at a
// time, in the order the events arrived, on a goroutine of the SignalR
// client. A handler may call any method of the Hub except Stop, because
// Stop would wait for the handler itself.
type Hub struct {
	client        *signalr.Client
	userID        string
	userSessionID string // UserStatus.UserSessionID of this instance
	logger        *slog.Logger
	statusEvery   time.Duration
	replayTimeout time.Duration
	onReconnected func(connectionID string) // from HubOptions.Config

	// newTicker creates the ticker of the status heartbeat, and
	// tickHandled, when set, runs after each tick. Tests set them to
	// control the ticks.
	newTicker   func(d time.Duration) (ticks <-chan time.Time, stop func())
	tickHandled func()

	events hubEvents

	subs subscriptions

	statusMu sync.Mutex // guards status
	status   *UserStatus

	// broadcastMu orders the broadcasts of the status, so that an older
	// status never follows a newer one.
	broadcastMu sync.Mutex

	runMu   sync.Mutex // guards running and cancel, and serializes Start and Stop
	running bool
	cancel  context.CancelFunc // ends runCtx
	beat    sync.WaitGroup     // the heartbeat goroutine

	ctxMu  sync.Mutex      // guards runCtx
	runCtx context.Context // of the current run, canceled by Stop
}

// NewHub returns a Hub that connects to hubURL, usually [DefaultHubURL], as
// the user of session. It copies the session's Authorization value, so a
// new login needs a new Hub. NewHub does not connect; call [Hub.Start].
func NewHub(hubURL string, session *Session, opts HubOptions) (*Hub, error) {
	if session == nil || session.UserID == "" || session.Token == "" {
		return nil, errors.New("resonite: NewHub needs a session with a user ID and a token; sign in first")
	}
	config := opts.Config
	config.Protocol = protocol.JSON{}
	header := config.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Authorization", session.Authorization())
	userAgent := opts.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	header.Set("User-Agent", userAgent)
	config.Header = header
	if config.Reconnect == nil {
		config.Reconnect = DefaultReconnectPolicy()
	}
	config.Reconnect = authRetryPolicy{config.Reconnect}

	h := &Hub{
		userID:        session.UserID,
		userSessionID: newUUID(),
		logger:        config.Logger,
		statusEvery:   opts.StatusInterval,
		replayTimeout: opts.ReplayTimeout,
		onReconnected: config.OnReconnected,
		newTicker:     newTimeTicker,
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.statusEvery == 0 {
		h.statusEvery = DefaultStatusInterval
	}
	if h.replayTimeout <= 0 {
		h.replayTimeout = DefaultReplayTimeout
	}
	config.OnReconnected = h.resubscribe

	h.client = signalr.NewClient(hubURL, config)
	h.events.register(h)
	return h, nil
}

func newTimeTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// UserID returns the ID of the hub's user.
func (h *Hub) UserID() string { return h.userID }

// Client returns the underlying SignalR client, for calls and events that
// the Hub does not type. Do not call its Start or Stop: the Hub's Start and
// Stop also manage the status heartbeat.
func (h *Hub) Client() *signalr.Client { return h.client }

// Start connects to the hub. An error caused by a rejected token matches
// [ErrSessionExpired]. When a status was set with [Hub.SetStatus]
// before, Start broadcasts it once connected, and then every
// StatusInterval while it is visible. A failed Start leaves the hub
// stopped; Start may be called again, also after the hub has ended.
func (h *Hub) Start(ctx context.Context) error {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.running && !h.ended() {
		return signalr.ErrAlreadyStarted
	}
	h.stopHeartbeat()
	if err := h.client.Start(ctx); err != nil {
		return wrapAuthFailure(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h.ctxMu.Lock()
	h.runCtx = runCtx
	h.ctxMu.Unlock()
	h.cancel = cancel
	h.running = true
	// Subscriptions made before this Start, or before the hub last ended,
	// are sent now, as after a reconnect.
	h.replaySubscriptions(ctx, h.client.ConnectionID(), "Start")
	if h.statusEvery > 0 {
		h.beat.Add(1)
		go h.heartbeat(runCtx, h.client.Done())
	}
	return nil
}

// currentRunContext returns the context of the current run, which Stop
// cancels. Before the first Start it returns a canceled context.
func (h *Hub) currentRunContext() context.Context {
	h.ctxMu.Lock()
	defer h.ctxMu.Unlock()
	if h.runCtx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return h.runCtx
}

// ended reports whether the client has ended for good since its last Start.
func (h *Hub) ended() bool {
	done := h.client.Done()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// stopHeartbeat ends the heartbeat goroutine of the previous run and waits
// for it. h.runMu must be held.
func (h *Hub) stopHeartbeat() {
	if h.cancel != nil {
		h.cancel()
	}
	h.beat.Wait()
}

// Stop disconnects. When the hub's status is visible, Stop first broadcasts
// it as Offline and waits up to 5 s for the server to confirm it, because
// the service has kept showing the last status of clients that went away
// without one. A broadcast failure is logged and does not keep Stop from
// disconnecting. Stop waits until the SignalR client's goroutines have
// ended or ctx is done.
func (h *Hub) Stop(ctx context.Context) error {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if !h.running {
		return nil
	}
	h.stopHeartbeat()
	h.running = false
	if h.client.Connected() {
		// Offline is sent even when ctx is already canceled, as it is
		// when a signal ends the program, and waits at most
		// offlineTimeout; a client that is reconnecting sends none.
		if err := h.broadcastOffline(context.WithoutCancel(ctx)); err != nil {
			h.logger.Warn("resonite: broadcasting Offline before disconnecting failed", "error", err)
		}
	}
	return h.client.Stop(ctx)
}

// Done returns a channel that is closed when the hub has ended for good,
// as [signalr.Client.Done] describes. It is nil before the first Start.
func (h *Hub) Done() <-chan struct{} { return h.client.Done() }

// Err returns why the hub ended, as [signalr.Client.Err] describes. When
// the server rejected the token with 401 or 403, which ends the default
// reconnect policy, the error also matches [ErrSessionExpired].
func (h *Hub) Err() error { return wrapAuthFailure(h.client.Err()) }

// wrapAuthFailure makes an error caused by a rejected token match
// ErrSessionExpired, as the errors of [API] do.
func wrapAuthFailure(err error) error {
	if err == nil || !isAuthFailure(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrSessionExpired, err)
}

// SendMessage sends msg without waiting for the server. It fills in the
// fields that are empty: ID with [NewMessageID], OwnerID and SenderID with
// the hub's user, MessageType with MessageText, SendTime with the current
// time and LastUpdateTime with SendTime. It returns the message as sent, so
// that the caller can match the MessageSent event that confirms it by ID.
// RecipientID must be set, and a SenderID other than the hub's user is an
// error, because the server rejects it.
func (h *Hub) SendMessage(ctx context.Context, msg Message) (Message, error) {
	if msg.RecipientID == "" {
		return msg, errors.New("resonite: SendMessage: the message has no RecipientID")
	}
	if msg.SenderID == "" {
		msg.SenderID = h.userID
	} else if msg.SenderID != h.userID {
		return msg, fmt.Errorf("resonite: SendMessage: sender %q differs from the hub's user %q, which the server rejects", msg.SenderID, h.userID)
	}
	if msg.OwnerID == "" {
		msg.OwnerID = msg.SenderID
	}
	if msg.ID == "" {
		msg.ID = NewMessageID()
	}
	if msg.MessageType == "" {
		msg.MessageType = MessageText
	}
	if msg.SendTime.IsZero() {
		msg.SendTime = NewTime(time.Now())
	}
	if msg.LastUpdateTime.IsZero() {
		msg.LastUpdateTime = msg.SendTime
	}
	return msg, h.client.Send(ctx, methodSendMessage, msg)
}

// SendText sends a MessageText message with text to the user recipientID,
// as [Hub.SendMessage] does.
func (h *Hub) SendText(ctx context.Context, recipientID, text string) (Message, error) {
	return h.SendMessage(ctx, Message{RecipientID: recipientID, MessageType: MessageText, Content: text})
}

// MarkMessagesRead informs the server that the hub's user has read the
// messages that receipt lists, which receipt.SenderID sent. The server forwards
// it to the sender as a MessagesRead event. A zero ReadTime is sent as the
// current time. Read receipts reveal that the user is active, so clients
// that are invisible usually do not send them.
func (h *Hub) MarkMessagesRead(ctx context.Context, receipt ReadReceipt) error {
	if receipt.ReadTime.IsZero() {
		receipt.ReadTime = NewTime(time.Now())
	}
	return h.client.Send(ctx, methodMarkMessagesRead, receipt)
}

// BroadcastStatus sends status to target, usually [BroadcastToContacts],
// without waiting for the server. It sends status as it is and does not
// remember it; [Hub.SetStatus] also keeps the status, sends it again
// periodically and honors invisibility.
func (h *Hub) BroadcastStatus(ctx context.Context, status UserStatus, target BroadcastTarget) error {
	return h.client.Send(ctx, methodBroadcastStatus, status, target)
}

// UpdateContact adds, accepts or changes a contact of the hub's user and
// returns the server's result. To add or accept a contact, send it with
// ContactStatus ContactAccepted and its ID, OwnerID and ContactUsername;
// to remove one, send it with ContactIgnored.
func (h *Hub) UpdateContact(ctx context.Context, contact Contact) (bool, error) {
	var ok bool
	if err := h.client.Invoke(ctx, methodUpdateContact, &ok, contact); err != nil {
		return false, err
	}
	return ok, nil
}

// ListenOnContact subscribes to the status updates of the contact userID,
// which arrive as ReceiveStatusUpdate events. The hub sends it again after
// every reconnect.
func (h *Hub) ListenOnContact(ctx context.Context, userID string) error {
	h.subs.addContact(userID)
	return h.client.Send(ctx, methodListenOnContact, userID)
}

// ListenOnKey subscribes to the updates of the session whose broadcast key
// is key, from [UserSessionMetadata.BroadcastKey] or
// [SessionInfo.BroadcastKey]. They arrive as ReceiveSessionUpdate events.
// The hub sends it again after every reconnect.
func (h *Hub) ListenOnKey(ctx context.Context, key string) error {
	h.subs.addKey(key)
	return h.client.Send(ctx, methodListenOnKey, key)
}

// RequestStatus requests the status of userID, or of all contacts when
// userID is "". The statuses arrive as ReceiveStatusUpdate events. Set
// invisible when the hub's user is invisible, as the ReCon client does.
// What the server does with it is not documented. The hub sends the
// request again after every reconnect, with the invisible value of the
// latest request for the same userID, so that statuses that changed
// meanwhile arrive again.
func (h *Hub) RequestStatus(ctx context.Context, userID string, invisible bool) error {
	h.subs.addStatusRequest(userID, invisible)
	return h.sendRequestStatus(ctx, userID, invisible)
}

func (h *Hub) sendRequestStatus(ctx context.Context, userID string, invisible bool) error {
	var target *string // null requests all contacts
	if userID != "" {
		target = &userID
	}
	return h.client.Send(ctx, methodRequestStatus, target, invisible)
}

// An InitialStatus is the result of the hub's InitializeStatus.
type InitialStatus struct {
	// Contacts are the user's contacts, each with its current status in
	// Contact.UserStatus when the server includes it.
	Contacts []Contact `json:"contacts"`
}

// InitializeStatus fetches the user's contacts with their statuses and
// waits for the result, which can be large. Clients call it once after
// connecting; after every reconnect the hub calls it again and passes the
// result to the handlers of [Hub.OnReconnected].
func (h *Hub) InitializeStatus(ctx context.Context) (*InitialStatus, error) {
	h.subs.setInitialized()
	return h.initializeStatus(ctx)
}

func (h *Hub) initializeStatus(ctx context.Context) (*InitialStatus, error) {
	var initial InitialStatus
	if err := h.client.Invoke(ctx, methodInitializeStatus, &initial); err != nil {
		return nil, err
	}
	return &initial, nil
}

// BroadcastSession announces a hosted session to the server.
//
// NOTE: the server method exists, but no known client calls it, so its
// argument, assumed here to be one SessionInfo, is unverified.
func (h *Hub) BroadcastSession(ctx context.Context, session SessionInfo) error {
	return h.client.Send(ctx, methodBroadcastSession, session)
}

// BroadcastSessionEnded announces that the hosted session sessionID ended.
//
// NOTE: the server method exists, but no known client calls it, so its
// argument, assumed here to be the session ID, is unverified.
func (h *Hub) BroadcastSessionEnded(ctx context.Context, sessionID string) error {
	return h.client.Send(ctx, methodBroadcastSessionEnded, sessionID)
}
