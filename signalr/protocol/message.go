package protocol

import "unsafe"

// A MessageType is the numeric type of a hub message.
type MessageType int

// The hub message types defined by the SignalR hub protocol.
const (
	TypeInvocation       MessageType = 1 // call a method; a response is expected when it has an invocation ID
	TypeStreamItem       MessageType = 2 // one item of a stream
	TypeCompletion       MessageType = 3 // result, error or end of an invocation or stream
	TypeStreamInvocation MessageType = 4 // call a method that returns a stream
	TypeCancelInvocation MessageType = 5 // ask the callee to stop a stream or invocation
	TypePing             MessageType = 6 // keep-alive
	TypeClose            MessageType = 7 // the sender is closing the connection
	TypeAck              MessageType = 8 // stateful reconnect: messages received so far
	TypeSequence         MessageType = 9 // stateful reconnect: ID of the next message resent
)

var messageTypeNames = [...]string{
	TypeInvocation:       "Invocation",
	TypeStreamItem:       "StreamItem",
	TypeCompletion:       "Completion",
	TypeStreamInvocation: "StreamInvocation",
	TypeCancelInvocation: "CancelInvocation",
	TypePing:             "Ping",
	TypeClose:            "Close",
	TypeAck:              "Ack",
	TypeSequence:         "Sequence",
}

// String returns the name the specification uses for t, such as "Invocation",
// or "MessageType(n)" for an unknown type.
func (t MessageType) String() string {
	if t.IsKnown() {
		return messageTypeNames[t]
	}
	return "MessageType(" + itoa(int64(t)) + ")"
}

// IsKnown reports whether t is one of the nine defined message types.
// Readers ignore messages of unknown types, as the specification requires.
func (t MessageType) IsKnown() bool {
	return t >= TypeInvocation && t <= TypeSequence
}

// IsTrackable reports whether messages of type t are numbered, buffered and
// resent by stateful reconnect. Only types 1 to 5 are.
func (t MessageType) IsTrackable() bool {
	return t >= TypeInvocation && t <= TypeCancelInvocation
}

// A Header is one entry of a message's headers. The protocol defines no
// header names, and receivers ignore the ones they do not understand.
type Header struct {
	Key   string
	Value string
}

// A RawValue is one argument, stream item or result, encoded in the hub
// protocol of the connection: JSON text for the JSON hub protocol, one
// MessagePack value for the MessagePack hub protocol. An empty RawValue is
// written as null (nil in MessagePack).
type RawValue []byte

// A Message is one hub message of any type. Each type uses a subset of the
// fields, listed with the field.
//
// The zero Message is ready to use. Parsing into a Message reuses the backing
// arrays of its slices, so a parser that fills the same Message in a loop
// allocates nothing once those arrays are large enough.
type Message struct {
	Type MessageType

	// Headers are on every type except Ping, Close, Ack and Sequence.
	Headers []Header

	// InvocationID identifies the call for types 1 to 5. It is required on
	// types 2 to 5. An Invocation without one is non-blocking: the callee
	// sends nothing back.
	InvocationID string

	// Target is the method name of an Invocation or StreamInvocation.
	Target string

	// Arguments are the positional arguments of an Invocation or
	// StreamInvocation. Streamed arguments are not among them.
	Arguments []RawValue

	// StreamIDs name the client-to-server streams of an Invocation or
	// StreamInvocation.
	StreamIDs []string

	// Item is the value of a StreamItem. It may be null.
	Item RawValue

	// Result is the value of a Completion when HasResult is set. A Completion
	// with neither HasResult nor HasError is a void completion.
	Result    RawValue
	HasResult bool

	// Error is the error text of a Completion or Close when HasError is set.
	// An empty text still counts as an error when HasError is set.
	Error    string
	HasError bool

	// AllowReconnect is set on a Close after which the client may reconnect.
	AllowReconnect bool

	// SequenceID is the message number of an Ack or Sequence.
	SequenceID int64

	// scratch holds unescaped strings of the last parse, or the copied bytes
	// of the last CopyTo.
	scratch []byte
}

// Reset clears m for reuse and keeps the backing arrays of its slices.
func (m *Message) Reset() {
	*m = Message{
		Headers:   m.Headers[:0],
		Arguments: m.Arguments[:0],
		StreamIDs: m.StreamIDs[:0],
		scratch:   m.scratch[:0],
	}
}

// Header returns the value of the first header named key and whether it is
// present. Header names are case-sensitive.
func (m *Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// Clone returns a deep copy of m that shares no memory with m or with the
// bytes m was parsed from.
func (m *Message) Clone() *Message {
	c := new(Message)
	m.CopyTo(c)
	return c
}

// CopyTo makes dst a deep copy of m that shares no memory with m. It reuses
// the backing arrays of dst, so copying into the same dst in a loop allocates
// nothing once they are large enough. Whatever dst held before is no longer
// valid afterwards.
func (m *Message) CopyTo(dst *Message) {
	size := len(m.InvocationID) + len(m.Target) + len(m.Item) + len(m.Result) + len(m.Error)
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value)
	}
	for _, a := range m.Arguments {
		size += len(a)
	}
	for _, s := range m.StreamIDs {
		size += len(s)
	}

	// The arena is sized before copying so that it never moves while
	// strings point into it.
	arena := dst.scratch[:0]
	if cap(arena) < size {
		arena = make([]byte, 0, size)
	}
	headers := dst.Headers[:0]
	arguments := dst.Arguments[:0]
	streamIDs := dst.StreamIDs[:0]

	copyString := func(s string) string {
		start := len(arena)
		arena = append(arena, s...)
		return bytesToString(arena[start:])
	}
	copyRaw := func(v RawValue) RawValue {
		if v == nil {
			return nil
		}
		start := len(arena)
		arena = append(arena, v...)
		return RawValue(arena[start:len(arena):len(arena)])
	}

	for _, h := range m.Headers {
		headers = append(headers, Header{Key: copyString(h.Key), Value: copyString(h.Value)})
	}
	for _, a := range m.Arguments {
		arguments = append(arguments, copyRaw(a))
	}
	for _, s := range m.StreamIDs {
		streamIDs = append(streamIDs, copyString(s))
	}
	*dst = Message{
		Type:           m.Type,
		Headers:        headers,
		InvocationID:   copyString(m.InvocationID),
		Target:         copyString(m.Target),
		Arguments:      arguments,
		StreamIDs:      streamIDs,
		Item:           copyRaw(m.Item),
		Result:         copyRaw(m.Result),
		HasResult:      m.HasResult,
		Error:          copyString(m.Error),
		HasError:       m.HasError,
		AllowReconnect: m.AllowReconnect,
		SequenceID:     m.SequenceID,
		scratch:        arena,
	}
}

// bytesToString returns a string that shares memory with b. The caller must
// not modify b while the string is in use.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func itoa(v int64) string {
	var buf [20]byte
	return string(appendInt(buf[:0], v))
}

func appendInt(dst []byte, v int64) []byte {
	if v >= 0 && v < 10 {
		return append(dst, byte('0'+v))
	}
	var buf [20]byte
	i := len(buf)
	u := uint64(v)
	if v < 0 {
		u = uint64(-v)
	}
	for u >= 10 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	buf[i] = byte('0' + u)
	if v < 0 {
		dst = append(dst, '-')
	}
	return append(dst, buf[i:]...)
}
