package protocol

import (
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MessagePack is the MessagePack hub protocol, named "messagepack" in the
// handshake. Each message is a MessagePack array whose first element is the
// message type, framed by a varint length prefix (see [AppendFrame]).
//
// The writer emits the bytes of the .NET server's writer. Headers are always
// written as a map, and a non-blocking Invocation has nil as its invocation
// ID. A Completion carries result kind 1 (error), 2 (void) or 3 (result).
// Integers and strings take their shortest form. The reader accepts the older Invocation
// and StreamInvocation without stream IDs, the older Close without
// allowReconnect, integers of any width, and ignores extra elements at the
// end of a message array.
//
// Arguments, stream items and results stay raw MessagePack. Unmarshal and
// AppendValue use github.com/vmihailenco/msgpack/v5, with the differences
// from the JSON hub protocol that [MessagePack.Unmarshal] lists.
type MessagePack struct{}

var _ HubProtocol = MessagePack{}

// Name returns "messagepack".
func (MessagePack) Name() string { return "messagepack" }

// Version returns 1, the version sent in the handshake request.
func (MessagePack) Version() int { return 1 }

// TransferFormat returns [TransferFormatBinary].
func (MessagePack) TransferFormat() TransferFormat { return TransferFormatBinary }

// ParseMessage parses one MessagePack hub message. data is the message
// without its length prefix, as [Framer] returns it.
//
// Strings and raw values in m point into data. They are valid until data is
// modified or m is parsed into again.
func (MessagePack) ParseMessage(data []byte, m *Message) error {
	m.Reset()
	if len(data) == 0 {
		return newError(ErrInvalidMessage, 0, "", "empty message")
	}
	count, i, aerr := mpArrayHeader(data, 0, "")
	if aerr != nil {
		return aerr
	}
	p := mpMessage{data: data, i: i, left: count}
	t, terr := p.int("type")
	if terr != nil {
		return terr
	}
	if t < int64(TypeInvocation) || t > int64(TypeSequence) {
		// An unknown type is ignored, so its elements need not follow any
		// layout. They must still be well-formed MessagePack.
		if t >= math.MinInt32 && t <= math.MaxInt32 {
			m.Type = MessageType(t)
		}
		if err := p.finish(); err != nil {
			return err
		}
		return nil
	}
	m.Type = MessageType(t)

	var err *MessageError
	switch m.Type {
	case TypeInvocation, TypeStreamInvocation:
		err = p.invocation(m)
	case TypeStreamItem:
		if err = p.headersAndID(m); err == nil {
			m.Item, err = p.raw("item")
		}
	case TypeCompletion:
		err = p.completion(m)
	case TypeCancelInvocation:
		err = p.headersAndID(m)
	case TypeClose:
		err = p.close(m)
	case TypeAck, TypeSequence:
		m.SequenceID, err = p.int("sequenceId")
	}
	if err != nil {
		return err
	}
	if err := p.finish(); err != nil {
		return err
	}
	return nil
}

// mpMessage reads the elements of a message array in order.
type mpMessage struct {
	data []byte
	i    int // offset of the next element
	left int // elements of the array not read yet
}

// next claims the next element, named property, of the array.
func (p *mpMessage) next(property string) *MessageError {
	if p.left == 0 {
		return newError(ErrMissingProperty, p.i, property, "the message array ends before it")
	}
	if p.i >= len(p.data) {
		return mpUnexpectedEnd(p.i)
	}
	p.left--
	return nil
}

// finish skips the elements left in the array and checks that nothing
// follows it.
func (p *mpMessage) finish() *MessageError {
	for ; p.left > 0; p.left-- {
		next, err := mpSkip(p.data, p.i, 0)
		if err != nil {
			return err
		}
		p.i = next
	}
	if p.i != len(p.data) {
		return newError(ErrInvalidMessage, p.i, "", strconv.Itoa(len(p.data)-p.i)+" bytes after the message array")
	}
	return nil
}

func (p *mpMessage) int(property string) (int64, *MessageError) {
	if err := p.next(property); err != nil {
		return 0, err
	}
	v, next, err := mpInt(p.data, p.i, property)
	if err != nil {
		return 0, err
	}
	p.i = next
	return v, nil
}

// string reads a string element. isNil reports a nil element, which is an
// error unless nilOK is set. An empty string is an error unless emptyOK is
// set.
func (p *mpMessage) string(property string, nilOK, emptyOK bool) (s string, isNil bool, err *MessageError) {
	if err := p.next(property); err != nil {
		return "", false, err
	}
	at := p.i
	s, isNil, next, merr := mpString(p.data, at, property)
	if merr != nil {
		return "", false, merr
	}
	p.i = next
	switch {
	case isNil && !nilOK:
		return "", false, mpWrongType(p.data, at, property, "a string")
	case !isNil && s == "" && !emptyOK:
		return "", false, newError(ErrInvalidMessage, at, property, "must not be empty")
	}
	return s, isNil, nil
}

func (p *mpMessage) raw(property string) (RawValue, *MessageError) {
	if err := p.next(property); err != nil {
		return nil, err
	}
	start := p.i
	next, err := mpSkip(p.data, start, 0)
	if err != nil {
		return nil, err
	}
	p.i = next
	return RawValue(p.data[start:next:next]), nil
}

func (p *mpMessage) headers(m *Message) *MessageError {
	if err := p.next("headers"); err != nil {
		return err
	}
	n, i, err := mpMapHeader(p.data, p.i, "headers")
	if err != nil {
		return err
	}
	for range n {
		key, isNil, next, err := mpString(p.data, i, "headers")
		if err != nil {
			return err
		}
		if isNil || key == "" {
			return newError(ErrInvalidMessage, i, "headers", "a header name must be a non-empty string")
		}
		i = next
		value, isNil, next, err := mpString(p.data, i, "headers")
		if err != nil {
			return err
		}
		if isNil || value == "" {
			return newError(ErrInvalidMessage, i, "headers", "a header value must be a non-empty string")
		}
		i = next
		m.setHeader(key, value)
	}
	p.i = i
	return nil
}

// headersAndID reads the headers and the required invocation ID that start
// a StreamItem, Completion or CancelInvocation.
func (p *mpMessage) headersAndID(m *Message) *MessageError {
	if err := p.headers(m); err != nil {
		return err
	}
	id, _, err := p.string("invocationId", false, false)
	m.InvocationID = id
	return err
}

func (p *mpMessage) invocation(m *Message) *MessageError {
	if err := p.headers(m); err != nil {
		return err
	}
	// Only an Invocation may omit its ID, with nil. The .NET reader rejects
	// an empty ID on the other types, and an empty ID means "none" here.
	nonBlocking := m.Type == TypeInvocation
	id, _, err := p.string("invocationId", nonBlocking, nonBlocking)
	if err != nil {
		return err
	}
	m.InvocationID = id
	if m.Target, _, err = p.string("target", false, false); err != nil {
		return err
	}

	if err := p.next("arguments"); err != nil {
		return err
	}
	n, i, err := mpArrayHeader(p.data, p.i, "arguments")
	if err != nil {
		return err
	}
	for range n {
		next, err := mpSkip(p.data, i, 0)
		if err != nil {
			return err
		}
		m.Arguments = append(m.Arguments, RawValue(p.data[i:next:next]))
		i = next
	}
	p.i = i

	if p.left == 0 {
		return nil // the older layout without stream IDs
	}
	p.left--
	n, i, err = mpArrayHeader(p.data, p.i, "streamIds")
	if err != nil {
		return err
	}
	for range n {
		id, isNil, next, err := mpString(p.data, i, "streamIds")
		if err != nil {
			return err
		}
		if isNil || id == "" {
			return newError(ErrInvalidMessage, i, "streamIds", "a stream ID must be a non-empty string")
		}
		m.StreamIDs = append(m.StreamIDs, id)
		i = next
	}
	p.i = i
	return nil
}

// The result kinds of a MessagePack Completion.
const (
	mpResultError = 1
	mpResultVoid  = 2
	mpResultValue = 3
)

func (p *mpMessage) completion(m *Message) *MessageError {
	if err := p.headersAndID(m); err != nil {
		return err
	}
	at := p.i
	kind, err := p.int("resultKind")
	if err != nil {
		return err
	}
	switch kind {
	case mpResultError:
		m.Error, _, err = p.string("error", false, true)
		m.HasError = err == nil
	case mpResultVoid:
	case mpResultValue:
		m.Result, err = p.raw("result")
		m.HasResult = err == nil
	default:
		return newError(ErrInvalidMessage, at, "resultKind", "must be 1, 2 or 3, not "+strconv.FormatInt(kind, 10))
	}
	return err
}

func (p *mpMessage) close(m *Message) *MessageError {
	if p.left == 0 {
		return nil // tolerated: a Close without even the error element
	}
	msg, isNil, err := p.string("error", true, true)
	if err != nil {
		return err
	}
	m.Error, m.HasError = msg, !isNil
	if p.left == 0 {
		return nil // the older layout without allowReconnect
	}
	if err := p.next("allowReconnect"); err != nil {
		return err
	}
	switch p.data[p.i] {
	case msgpcode.True:
		m.AllowReconnect = true
	case msgpcode.False:
	default:
		return mpWrongType(p.data, p.i, "allowReconnect", "a boolean")
	}
	p.i++
	return nil
}

// AppendMessage appends m as a MessagePack array with its varint length
// prefix.
func (MessagePack) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if err := checkWritable(m); err != nil {
		return dst, err
	}
	// Reserve one byte for the length prefix, which is enough for messages
	// shorter than 128 bytes. Longer ones move up once the length is known.
	start := len(dst)
	dst = append(dst, 0)
	body := len(dst)
	dst = mpAppendBody(dst, m)

	n := len(dst) - body
	if n > maxBinaryLength {
		return dst[:start], newError(ErrMessageTooLarge, -1, "", "a binary message cannot exceed 2^31-1 bytes")
	}
	if n < 0x80 {
		dst[start] = byte(n)
		return dst, nil
	}
	var prefix [5]byte
	p := AppendVarint(prefix[:0], n)
	dst = append(dst, p[1:]...)
	copy(dst[body+len(p)-1:], dst[body:len(dst)-len(p)+1])
	copy(dst[start:], p)
	return dst, nil
}

// mpAppendBody appends the message array of m, which checkWritable has
// accepted.
func mpAppendBody(dst []byte, m *Message) []byte {
	switch m.Type {
	case TypeInvocation, TypeStreamInvocation:
		dst = append(dst, msgpcode.FixedArrayLow|6, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		if m.InvocationID == "" {
			dst = append(dst, msgpcode.Nil)
		} else {
			dst = mpAppendString(dst, m.InvocationID)
		}
		dst = mpAppendString(dst, m.Target)
		dst = mpAppendArrayHeader(dst, len(m.Arguments))
		for _, a := range m.Arguments {
			dst = mpAppendRaw(dst, a)
		}
		dst = mpAppendArrayHeader(dst, len(m.StreamIDs))
		for _, id := range m.StreamIDs {
			dst = mpAppendString(dst, id)
		}
	case TypeStreamItem:
		dst = append(dst, msgpcode.FixedArrayLow|4, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
		dst = mpAppendRaw(dst, m.Item)
	case TypeCompletion:
		switch {
		case m.HasError:
			dst = append(dst, msgpcode.FixedArrayLow|5, byte(m.Type))
			dst = mpAppendHeaders(dst, m.Headers)
			dst = mpAppendString(dst, m.InvocationID)
			dst = append(dst, mpResultError)
			dst = mpAppendString(dst, m.Error)
		case m.HasResult:
			dst = append(dst, msgpcode.FixedArrayLow|5, byte(m.Type))
			dst = mpAppendHeaders(dst, m.Headers)
			dst = mpAppendString(dst, m.InvocationID)
			dst = append(dst, mpResultValue)
			dst = mpAppendRaw(dst, m.Result)
		default:
			dst = append(dst, msgpcode.FixedArrayLow|4, byte(m.Type))
			dst = mpAppendHeaders(dst, m.Headers)
			dst = mpAppendString(dst, m.InvocationID)
			dst = append(dst, mpResultVoid)
		}
	case TypeCancelInvocation:
		dst = append(dst, msgpcode.FixedArrayLow|3, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
	case TypePing:
		dst = append(dst, msgpcode.FixedArrayLow|1, byte(m.Type))
	case TypeClose:
		dst = append(dst, msgpcode.FixedArrayLow|3, byte(m.Type))
		if m.HasError {
			dst = mpAppendString(dst, m.Error)
		} else {
			dst = append(dst, msgpcode.Nil)
		}
		if m.AllowReconnect {
			dst = append(dst, msgpcode.True)
		} else {
			dst = append(dst, msgpcode.False)
		}
	case TypeAck, TypeSequence:
		dst = append(dst, msgpcode.FixedArrayLow|2, byte(m.Type))
		dst = mpAppendInt(dst, m.SequenceID)
	}
	return dst
}

func mpAppendHeaders(dst []byte, headers []Header) []byte {
	dst = mpAppendMapHeader(dst, len(headers))
	for _, h := range headers {
		dst = mpAppendString(dst, h.Key)
		dst = mpAppendString(dst, h.Value)
	}
	return dst
}

// mpAppendRaw appends a pre-encoded value, or nil for an empty one.
func mpAppendRaw(dst []byte, v RawValue) []byte {
	if len(v) == 0 {
		return append(dst, msgpcode.Nil)
	}
	return append(dst, v...)
}

func mpAppendString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n <= int(msgpcode.FixedStrMask):
		dst = append(dst, msgpcode.FixedStrLow|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, msgpcode.Str8, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, msgpcode.Str16, byte(n>>8), byte(n))
	default:
		dst = append(dst, msgpcode.Str32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func mpAppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n <= int(msgpcode.FixedArrayMask):
		return append(dst, msgpcode.FixedArrayLow|byte(n))
	case n <= math.MaxUint16:
		return append(dst, msgpcode.Array16, byte(n>>8), byte(n))
	}
	return append(dst, msgpcode.Array32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func mpAppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n <= int(msgpcode.FixedMapMask):
		return append(dst, msgpcode.FixedMapLow|byte(n))
	case n <= math.MaxUint16:
		return append(dst, msgpcode.Map16, byte(n>>8), byte(n))
	}
	return append(dst, msgpcode.Map32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// mpAppendInt appends v in its shortest MessagePack form, as the .NET
// writer does.
func mpAppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= int64(msgpcode.PosFixedNumHigh):
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, msgpcode.Uint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return append(dst, msgpcode.Uint16, byte(v>>8), byte(v))
	case v >= 0 && v <= math.MaxUint32:
		return append(dst, msgpcode.Uint32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v >= 0:
		return append(dst, msgpcode.Uint64, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, msgpcode.Int8, byte(v))
	case v >= math.MinInt16:
		return append(dst, msgpcode.Int16, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(dst, msgpcode.Int32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(dst, msgpcode.Int64, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
