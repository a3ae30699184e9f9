package transport

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Some are returned inside one of the error types below;
// test for them with [errors.Is].
var (
	// ErrInvalidURL reports a hub URL that cannot be parsed or has a scheme
	// the operation does not support.
	ErrInvalidURL = errors.New("signalr/transport: invalid hub URL")

	// ErrInvalidNegotiateResponse reports a negotiate response body that
	// breaks the rules of the negotiate protocol. It is wrapped in a
	// [*ResponseError] that names the property.
	ErrInvalidNegotiateResponse = errors.New("signalr/transport: invalid negotiate response")

	// ErrClassicServer reports a negotiate response with a "ProtocolVersion"
	// property, which only classic ASP.NET SignalR servers send.
	ErrClassicServer = errors.New("signalr/transport: the server is a classic ASP.NET SignalR server, " +
		"which this client does not support; connect to an ASP.NET Core SignalR server")

	// ErrNegotiateRedirectLimit reports a chain of negotiate redirects that
	// did not end within the limit of [MaxNegotiateRequests] requests.
	ErrNegotiateRedirectLimit = errors.New("signalr/transport: negotiate redirection limit exceeded")

	// ErrNegotiateResponseTooLarge reports a negotiate response body larger
	// than [NegotiateOptions.MaxResponseSize].
	ErrNegotiateResponseTooLarge = errors.New("signalr/transport: negotiate response too large")

	// ErrUnrequestedStatefulReconnect reports a negotiate response that
	// enables stateful reconnect although the request did not ask for it.
	ErrUnrequestedStatefulReconnect = errors.New("signalr/transport: the server enabled stateful reconnect, " +
		"which the client did not request")

	// ErrNoTransport reports that no transport can be used. SelectTransport
	// and TransportWithoutNegotiation return it inside a [*NoTransportError].
	ErrNoTransport = errors.New("signalr/transport: no usable transport")

	// ErrInvalidHeader reports a custom header that the WebSocket handshake
	// sets itself, such as Upgrade or Sec-WebSocket-Key.
	ErrInvalidHeader = errors.New("signalr/transport: header cannot be set on a WebSocket handshake")

	// ErrMessageTooLarge reports a received message larger than the maximum
	// message size of the connection.
	ErrMessageTooLarge = errors.New("signalr/transport: message too large")

	// ErrProtocol reports a frame from the server that breaks RFC 6455, such
	// as a masked frame, a reserved opcode or invalid UTF-8 in a text
	// message. It wraps the error of the WebSocket library that found it.
	ErrProtocol = errors.New("signalr/transport: WebSocket protocol violation")

	// ErrClosed reports an operation on a connection that is closed.
	ErrClosed = errors.New("signalr/transport: connection closed")
)

// A ResponseError reports an invalid negotiate response.
type ResponseError struct {
	// Property is the name of the JSON property involved, or empty when the
	// problem is the body as a whole.
	Property string

	// Detail describes the problem.
	Detail string

	// Err is ErrInvalidNegotiateResponse or ErrClassicServer.
	Err error
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Property != "" {
		b.WriteString(": property ")
		b.WriteString(strconv.Quote(e.Property))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error, so that errors.Is works.
func (e *ResponseError) Unwrap() error { return e.Err }

// A ServerError carries the text of the "error" property of a negotiate
// response: the server rejected the connection.
type ServerError struct {
	Message string
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return "signalr/transport: the server rejected the negotiate request without a reason"
	}
	return "signalr/transport: the server rejected the negotiate request: " + e.Message
}

// A StatusError reports an HTTP response whose status code the operation
// does not accept: anything but 200 for negotiate, anything but 101 for the
// WebSocket handshake.
type StatusError struct {
	// Op is "negotiate" or "WebSocket handshake".
	Op string

	// URL is the request URL without its query, which may carry secrets.
	URL string

	StatusCode int
}

func (e *StatusError) Error() string {
	s := "signalr/transport: " + e.Op + " request to " + e.URL +
		" failed with HTTP status " + strconv.Itoa(e.StatusCode)
	if e.StatusCode == 404 && e.Op == opNegotiate {
		s += "; the URL is probably not a SignalR hub endpoint"
	}
	return s
}

// A SkippedTransport is one entry of availableTransports that
// [SelectTransport] did not choose, and why.
type SkippedTransport struct {
	// Name is the transport name as negotiate sent it.
	Name string

	// Reason is the cause of the skip, as a phrase that follows the name.
	Reason string
}

// A NoTransportError lists the transports that could not be used and
// why. Skipped is empty when the negotiate response offered none.
type NoTransportError struct {
	Skipped []SkippedTransport
}

func (e *NoTransportError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoTransport.Error())
	if len(e.Skipped) == 0 {
		b.WriteString(": the server offered no transports")
		return b.String()
	}
	for i, s := range e.Skipped {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strconv.Quote(s.Name))
		b.WriteString(" ")
		b.WriteString(s.Reason)
	}
	return b.String()
}

// Unwrap returns ErrNoTransport, so that errors.Is works.
func (e *NoTransportError) Unwrap() error { return ErrNoTransport }

// A CloseError reports that the server closed the WebSocket with a status
// code other than 1000 (normal closure).
type CloseError struct {
	// Code is the RFC 6455 status code, or 1005 when the close frame
	// carried none.
	Code int

	// Reason is the text the server sent with the code, possibly empty.
	Reason string
}

func (e *CloseError) Error() string {
	s := "signalr/transport: the server closed the WebSocket with status " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}
