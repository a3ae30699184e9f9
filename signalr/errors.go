package signalr

import (
	"errors"
	"strconv"
)

var (
	// ErrNotConnected is returned by calls made while the client has no
	// connection: before Start, after Stop, or after the connection ended.
	ErrNotConnected = errors.New("signalr: client is not connected")

	// ErrAlreadyStarted is returned by Start on a client that is connected
	// or connecting.
	ErrAlreadyStarted = errors.New("signalr: client already started")

	// ErrConnectionClosed is wrapped by the errors of calls that were still
	// waiting when their connection ended.
	ErrConnectionClosed = errors.New("signalr: connection closed")

	// ErrServerTimeout ends a connection on which nothing arrived for
	// Config.ServerTimeout.
	ErrServerTimeout = errors.New("signalr: server timeout: nothing received from the server in time")

	// ErrHandshakeTimeout ends a Start whose handshake did not complete
	// within Config.HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("signalr: handshake timed out")

	// ErrHandlerQueueFull ends a connection on which more server
	// invocations waited for their handlers than Config.MaxHandlerQueue.
	ErrHandlerQueueFull = errors.New("signalr: too many server invocations waiting for their handler")

	// ErrStatefulReconnectFailed ends a connection whose lost transport
	// stateful reconnect could not reopen.
	ErrStatefulReconnectFailed = errors.New("signalr: stateful reconnect failed")

	// ErrStreamClosed is returned by ClientStream.Send after the stream was
	// closed, by the caller or because its invocation ended.
	ErrStreamClosed = errors.New("signalr: stream closed")
)

// A HubError is the error a hub method returned, as its Completion carried
// it. Servers send detailed texts only when configured to; otherwise the
// text is generic.
type HubError struct {
	Message string
}

func (e *HubError) Error() string { return "signalr: hub error: " + e.Message }

// A HandshakeError is the error of a rejected handshake, as the server
// sent it in its handshake response.
type HandshakeError struct {
	Message string
}

func (e *HandshakeError) Error() string { return "signalr: handshake rejected: " + e.Message }

// A CloseError reports that the server ended the connection with a Close
// message. AllowReconnect is set when the server allows the client to
// reconnect.
type CloseError struct {
	// Message is the server's error text. HasError is set when the Close
	// carried an error, so that an empty text differs from none.
	Message  string
	HasError bool

	AllowReconnect bool
}

func (e *CloseError) Error() string {
	s := "signalr: server closed the connection"
	if e.HasError {
		s += " with error " + strconv.Quote(e.Message)
	}
	if e.AllowReconnect {
		s += " (reconnect allowed)"
	}
	return s
}

// closedError wraps the cause of a connection's end for calls that were
// still waiting, so that errors.Is matches both ErrConnectionClosed and the
// cause.
type closedError struct {
	cause error
}

func (e *closedError) Error() string {
	if e.cause == nil {
		return ErrConnectionClosed.Error()
	}
	return ErrConnectionClosed.Error() + ": " + e.cause.Error()
}

func (e *closedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrConnectionClosed}
	}
	return []error{ErrConnectionClosed, e.cause}
}
