package conformance

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// Defaults of [Options]. The timing and size values are those of the ASP.NET
// Core SignalR server (HubOptionsSetup and HttpConnectionDispatcherOptions).
const (
	DefaultPath                  = "/hub"
	DefaultHandshakeTimeout      = 15 * time.Second
	DefaultKeepAliveInterval     = 15 * time.Second
	DefaultClientTimeout         = 30 * time.Second
	DefaultMaxReceiveMessageSize = 32 << 10
	DefaultStreamBufferCapacity  = 10
	DefaultWriteTimeout          = 10 * time.Second
)

// Defaults of the stateful reconnect [Options]. The buffer size is the
// default of HubOptions.StatefulReconnectBufferSize and the reconnect window
// the default of ConnectionOptions.DisconnectTimeout in ASP.NET Core, and the
// .NET server sends an Ack once a second (MessageBuffer).
const (
	DefaultStatefulReconnectBufferSize = 100_000
	DefaultAckInterval                 = time.Second
	DefaultReconnectWindow             = 15 * time.Second
)

// Options configures a [Server]. The zero value serves [NewTestHub] at
// [DefaultPath] with the JSON and MessagePack hub protocols and the defaults
// of the .NET server. NewServer copies the Options, so changing them afterwards has no
// effect on the server.
type Options struct {
	// Path is the URL path of the hub. The negotiate endpoint is Path +
	// "/negotiate". The default is [DefaultPath].
	Path string

	// Hub holds the methods clients may invoke. The default is
	// [NewTestHub].
	Hub *Hub

	// Protocols are the hub protocols a client may select in the
	// handshake, matched by name. The default is [protocol.JSON] and
	// [protocol.MessagePack].
	// Every protocol accepts handshake versions up to 2, as the .NET server
	// does.
	Protocols []protocol.HubProtocol

	// Logger receives connection starts and ends and the errors that end
	// connections. The default discards everything. Tokens and
	// Authorization values are never logged.
	Logger *slog.Logger

	// Authorize, when set, is called for every negotiate and WebSocket
	// request. A false result rejects the request with 401 Unauthorized.
	// The default accepts every request.
	Authorize func(r *http.Request) bool

	// Redirect, when set, is called for every negotiate request that
	// passed Authorize. A non-nil result makes the server respond with a
	// redirect to that URL instead of creating a connection, so that tests
	// can build redirect chains and loops. The default never redirects.
	Redirect func(r *http.Request) *Redirect

	// NegotiateError, when set, is called for every negotiate request
	// that passed Authorize. A non-empty result is sent as the error
	// property of the negotiate response, and no connection is created. It
	// takes precedence over Redirect. The default sends no error.
	NegotiateError func(r *http.Request) string

	// StatefulReconnect enables stateful reconnect for clients that ask for
	// it with useStatefulReconnect=true on negotiate: the negotiate response
	// then carries useStatefulReconnect:true, and a connection whose
	// handshake requests version 2 or later numbers, buffers and resends its
	// messages as described on [Conn]. A handshake of version 1 turns it off
	// for that connection, as on the .NET server. Connections made without
	// negotiate never use it. The default is false.
	StatefulReconnect bool

	// StatefulReconnectBufferSize is the number of bytes of unacknowledged
	// messages a stateful connection keeps for resending before sends wait
	// for the client's Ack. Zero means [DefaultStatefulReconnectBufferSize];
	// a negative value means no limit.
	StatefulReconnectBufferSize int

	// AckInterval is how long a stateful connection waits after receiving a
	// message before it sends an Ack, so that one Ack covers the messages
	// that arrive meanwhile. Zero means [DefaultAckInterval].
	AckInterval time.Duration

	// ReconnectWindow is how long a stateful connection whose WebSocket
	// ended without a Close message waits for the client to reattach a new
	// WebSocket. When it passes, the connection ends as if the client had
	// disconnected. Zero means [DefaultReconnectWindow]; a negative value
	// ends the connection when its WebSocket is lost.
	ReconnectWindow time.Duration

	// OnMessage, when set, is called on the connection's read goroutine for
	// every hub message from the client that the server processes, before
	// the server acts on it. Stateful reconnect leaves out the duplicates it
	// drops and the messages it ignores while it waits for the client's
	// Sequence. m is valid only during the call; use m.Clone to keep it.
	// The default is nil.
	OnMessage func(c *Conn, m *protocol.Message)

	// HandshakeTimeout is how long the server waits for the handshake
	// request before it responds with "Handshake was canceled." and closes the
	// connection. Zero means [DefaultHandshakeTimeout]; a negative value
	// means no timeout.
	HandshakeTimeout time.Duration

	// KeepAliveInterval is how long the server lets pass without sending
	// anything before it sends a Ping. Zero means
	// [DefaultKeepAliveInterval]; a negative value disables keep-alive
	// Pings.
	KeepAliveInterval time.Duration

	// ClientTimeout is how long the server waits without receiving
	// anything from the client before it sends Close with an error and
	// allowReconnect:true and closes the connection. Zero means
	// [DefaultClientTimeout]; a negative value disables the timeout.
	ClientTimeout time.Duration

	// MaxReceiveMessageSize is the largest hub message, in bytes without
	// its separator, the server accepts from a client. A larger message
	// closes the connection with a Close error. Zero means
	// [DefaultMaxReceiveMessageSize]; a negative value means no limit.
	MaxReceiveMessageSize int

	// StreamBufferCapacity is the number of items of one client-to-server
	// stream the server buffers before it stops reading from the
	// connection until the hub method takes one. Zero means
	// [DefaultStreamBufferCapacity].
	StreamBufferCapacity int

	// MaxParallelInvocations is the number of Invocation messages of one
	// connection that run at the same time. Invocations beyond that wait,
	// in order of arrival. StreamInvocation messages always start at once.
	// Zero means 1, the .NET default, which keeps completions in the order
	// of the invocations.
	MaxParallelInvocations int

	// WriteTimeout bounds each write to the WebSocket. A client that does
	// not read for that long is disconnected. Zero means
	// [DefaultWriteTimeout]; a negative value means no timeout.
	WriteTimeout time.Duration

	// OnConnected, when set, is called on the connection's read goroutine
	// after a successful handshake and before any message from the client
	// is processed. Messages it sends follow the handshake response; with
	// [Misbehavior.CoalesceHandshake] they share its WebSocket message. It
	// must not block on the client, because the client's messages are not
	// read until it returns. The default is nil.
	OnConnected func(c *Conn)

	// Misbehave selects deliberate deviations in the server's traffic. The
	// zero value behaves normally.
	Misbehave Misbehavior

	// Record, when set, receives the capture of every WebSocket session
	// once the connection has ended. It is called on the connection's
	// goroutine and may keep the capture. The default is nil, and then the
	// server records only when RecordDir is set.
	Record func(c *Capture)

	// RecordDir, when set, is a directory into which the server writes the
	// capture of every WebSocket session once the connection has ended.
	// The file is named after the scenario: <scenario>.capture for a JSON
	// session, <scenario>.<protocol>.capture for a session of another hub
	// protocol, such as add.messagepack.capture, so that one scenario run
	// in both protocols gives two files. A session without a scenario is
	// named session-<n> in the same way. An existing file is replaced.
	// Write errors are logged. The default is "", no directory.
	RecordDir string

	// Scenario, when set, names the scenario of a session for its capture,
	// from the WebSocket upgrade request. The default takes the "scenario"
	// query parameter, which official clients keep on the negotiate and
	// WebSocket URLs.
	Scenario func(r *http.Request) string
}

// A Redirect is a negotiate response that sends the client to another URL.
type Redirect struct {
	// URL is the address the client negotiates with next.
	URL string

	// AccessToken, when not empty, is the bearer token the client uses
	// from then on.
	AccessToken string
}

// withDefaults returns a copy of o with the zero fields set to their
// defaults.
func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Hub == nil {
		o.Hub = NewTestHub()
	}
	if len(o.Protocols) == 0 {
		o.Protocols = []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}}
	} else {
		o.Protocols = append([]protocol.HubProtocol(nil), o.Protocols...)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.HandshakeTimeout = durationOrDefault(o.HandshakeTimeout, DefaultHandshakeTimeout)
	o.KeepAliveInterval = durationOrDefault(o.KeepAliveInterval, DefaultKeepAliveInterval)
	o.ClientTimeout = durationOrDefault(o.ClientTimeout, DefaultClientTimeout)
	o.WriteTimeout = durationOrDefault(o.WriteTimeout, DefaultWriteTimeout)
	if o.MaxReceiveMessageSize == 0 {
		o.MaxReceiveMessageSize = DefaultMaxReceiveMessageSize
	}
	if o.StreamBufferCapacity <= 0 {
		o.StreamBufferCapacity = DefaultStreamBufferCapacity
	}
	if o.MaxParallelInvocations <= 0 {
		o.MaxParallelInvocations = 1
	}
	if o.StatefulReconnectBufferSize == 0 {
		o.StatefulReconnectBufferSize = DefaultStatefulReconnectBufferSize
	}
	if o.AckInterval <= 0 {
		o.AckInterval = DefaultAckInterval
	}
	o.ReconnectWindow = durationOrDefault(o.ReconnectWindow, DefaultReconnectWindow)
	if o.Scenario == nil {
		o.Scenario = func(r *http.Request) string { return r.URL.Query().Get("scenario") }
	}
	return o
}

// durationOrDefault returns def for zero, 0 (disabled) for a negative d, and
// d otherwise.
func durationOrDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
