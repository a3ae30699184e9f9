package protocol

import (
	"errors"
	"strconv"
)

// Sentinel errors. Parse functions wrap them in a [*MessageError] that
// carries the byte offset, so test for them with [errors.Is].
var (
	// ErrInvalidJSON reports bytes that are not valid JSON.
	ErrInvalidJSON = errors.New("signalr/protocol: invalid JSON")

	// ErrInvalidMessagePack reports bytes that are not valid MessagePack,
	// such as a value cut off by the end of the message.
	ErrInvalidMessagePack = errors.New("signalr/protocol: invalid MessagePack")

	// ErrMissingProperty reports a required property that is absent.
	ErrMissingProperty = errors.New("signalr/protocol: missing required property")

	// ErrWrongType reports a property, or the message itself, whose JSON or
	// MessagePack type is not the one the protocol requires.
	ErrWrongType = errors.New("signalr/protocol: property has the wrong type")

	// ErrInvalidMessage reports a well-formed message that breaks a rule of
	// the protocol, such as a Completion with both a result and an error.
	ErrInvalidMessage = errors.New("signalr/protocol: invalid message")

	// ErrOutOfRange reports a number that does not fit the Go variable it
	// is decoded into.
	ErrOutOfRange = errors.New("signalr/protocol: number out of range")

	// ErrMessageTooLarge reports a message, or an incomplete message still
	// being buffered, larger than the configured maximum message size.
	ErrMessageTooLarge = errors.New("signalr/protocol: message too large")

	// ErrInvalidFraming reports a binary frame length prefix that is longer
	// than 5 bytes or larger than 2^31-1.
	ErrInvalidFraming = errors.New("signalr/protocol: invalid length prefix")

	// ErrNotHandshakeResponse reports a handshake response that has a "type"
	// property, because the server sent a hub message before its handshake
	// response.
	ErrNotHandshakeResponse = errors.New("signalr/protocol: expected a handshake response")
)

// A MessageError describes why a message could not be parsed or written.
type MessageError struct {
	// Offset is the byte offset in the message where the problem was found.
	// It is -1 for errors that have no position, such as those of a writer.
	Offset int

	// Property is the name of the property involved, or empty.
	Property string

	// Detail describes the problem in words.
	Detail string

	// Err is one of the sentinel errors of this package.
	Err error
}

func (e *MessageError) Error() string {
	s := e.Err.Error()
	if e.Offset >= 0 {
		s += " at offset " + strconv.Itoa(e.Offset)
	}
	if e.Property != "" {
		s += ": property " + strconv.Quote(e.Property)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel error, so that errors.Is works.
func (e *MessageError) Unwrap() error { return e.Err }

func newError(sentinel error, offset int, property, detail string) *MessageError {
	return &MessageError{Offset: offset, Property: property, Detail: detail, Err: sentinel}
}
