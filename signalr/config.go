package signalr

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// Default values of [Config], the same as the official clients use.
const (
	DefaultHandshakeTimeout  = 15 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultServerTimeout     = 30 * time.Second
)

// DefaultMaxHandlerQueue is the default of [Config.MaxHandlerQueue].
const DefaultMaxHandlerQueue = 10000

// DefaultStatefulReconnectBufferSize is the default of
// [Config.StatefulReconnectBufferSize], as in the official clients.
const DefaultStatefulReconnectBufferSize = 100_000

// Config configures a [Client]. The zero value works; each field documents
// its default. [NewClient] copies the Config, so changing it afterwards has
// no effect on the client. Values it refers to, such as the HTTPClient or
// the TLSConfig, are shared and must not change while the client uses them.
type Config struct {
	// Protocol is the hub protocol. Nil means [protocol.JSON].
	Protocol protocol.HubProtocol

	// HTTPClient sends the negotiate requests. Nil means a client that
	// NewClient creates once, with the settings of http.DefaultTransport and
	// TLSConfig. The ctx of Start bounds its requests.
	HTTPClient *http.Client

	// Header is sent with every HTTP request, the WebSocket upgrade
	// included.
	Header http.Header

	// AccessTokenProvider, when set, is called for every HTTP request and
	// its token sent as "Authorization: Bearer <token>", unless Header sets
	// Authorization itself.
	AccessTokenProvider func(ctx context.Context) (string, error)

	// SkipNegotiation connects the WebSocket straight to the hub URL
	// without negotiating. The connection then has no connection ID.
	SkipNegotiation bool

	// TLSConfig is used for https and wss URLs. Nil means the default
	// configuration, which verifies certificates.
	TLSConfig *tls.Config

	// HandshakeTimeout bounds the handshake after the WebSocket opened.
	// With stateful reconnect, it also bounds the attempts to reopen a lost
	// transport. Zero means DefaultHandshakeTimeout (15 s).
	HandshakeTimeout time.Duration

	// KeepAliveInterval is how long the client may send nothing before it
	// sends a Ping. Zero means DefaultKeepAliveInterval (15 s); a negative
	// value disables pings.
	KeepAliveInterval time.Duration

	// ServerTimeout is how long the client waits without receiving
	// anything before it closes the connection with [ErrServerTimeout]. It
	// should be at least twice the server's keep-alive interval. Zero means
	// DefaultServerTimeout (30 s); a negative value disables the check.
	ServerTimeout time.Duration

	// MaxMessageSize is the largest hub message the client accepts, in
	// bytes. Zero means [protocol.DefaultMaxMessageSize]; a negative value
	// means no limit. Because one WebSocket message may carry several hub
	// messages, the transport buffers WebSocket messages up to this size or
	// 4 MiB, whichever is larger.
	MaxMessageSize int

	// MaxHandlerQueue is how many server invocations may wait for their
	// handler. When a slow handler lets more pile up, the connection closes
	// with [ErrHandlerQueueFull] rather than dropping invocations. Zero
	// means DefaultMaxHandlerQueue (10,000).
	MaxHandlerQueue int

	// Trace, when set, is called with every transport message the client
	// sends or receives, the handshake included, as it crosses the
	// transport. format is the message's frame type: Text or Binary for
	// WebSockets. It runs on the goroutine that reads or writes, so it must
	// not block, and data is valid only during the call. The messages carry
	// whatever the hub protocol carries, so a trace that is printed or
	// stored must be redacted by the caller. Nil traces nothing and costs
	// nothing.
	Trace func(dir Direction, format protocol.TransferFormat, data []byte)

	// Logger receives the client's log records. Nil discards them. Tokens
	// and Authorization values are never logged.
	Logger *slog.Logger

	// Reconnect, when set, turns on automatic reconnect. After a started
	// connection is lost through a transport error, a server timeout or a
	// Close that allows reconnecting, the client opens new connections
	// (negotiate, transport and handshake each time). It stops when one
	// succeeds or the policy gives up. A Close from the server without
	// allowReconnect, and Stop, end the client instead. Nil means no
	// automatic reconnect. [DefaultRetryPolicy] returns the official
	// clients' policy.
	Reconnect RetryPolicy

	// StatefulReconnect requests stateful reconnect from the server. When the
	// server agrees, a lost WebSocket is reopened for the same connection
	// and the messages either side missed are sent again, so nothing is
	// lost or duplicated and pending calls continue; calls made meanwhile
	// wait for the transport. Reopening is tried until HandshakeTimeout has
	// passed, or until the server answers with an HTTP error such as 404.
	// When it fails, the connection ends with [ErrStatefulReconnectFailed]:
	// pending calls fail, a Send that returned before the loss may be lost,
	// and Reconnect, when set, opens a new connection. It needs
	// negotiation, so Start fails when SkipNegotiation is also set.
	StatefulReconnect bool

	// StatefulReconnectBufferSize is how many bytes of sent messages the
	// client keeps until the server acknowledges them. Senders wait while
	// the buffer is full. Zero means DefaultStatefulReconnectBufferSize
	// (100,000 bytes).
	StatefulReconnectBufferSize int

	// OnReconnecting, OnReconnected, OnReattached and OnClosed, when set,
	// are called on one goroutine of the client, in the order the events
	// happen: OnReconnecting with the error that ended the lost connection,
	// OnReconnected with the new connection ID, OnReattached with the ID of
	// the connection whose transport stateful reconnect reopened, and
	// OnClosed once the client has ended, with nil after Stop.
	OnReconnecting func(err error)
	OnReconnected  func(connectionID string)
	OnReattached   func(connectionID string)
	OnClosed       func(err error)
}

// A Direction is the direction of a traced message: sent or received.
type Direction int

// The directions of [Config.Trace].
const (
	Sent     Direction = 1 // from the client to the server
	Received Direction = 2 // from the server to the client
)

// String returns "sent" or "received".
func (d Direction) String() string {
	if d == Sent {
		return "sent"
	}
	return "received"
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Protocol == nil {
		c.Protocol = protocol.JSON{}
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if c.ServerTimeout == 0 {
		c.ServerTimeout = DefaultServerTimeout
	}
	if c.MaxHandlerQueue == 0 {
		c.MaxHandlerQueue = DefaultMaxHandlerQueue
	}
	if c.StatefulReconnectBufferSize <= 0 {
		c.StatefulReconnectBufferSize = DefaultStatefulReconnectBufferSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = c.TLSConfig
		c.HTTPClient = &http.Client{Transport: t}
	}
	c.Header = c.Header.Clone()
	return c
}
