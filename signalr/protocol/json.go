package protocol

import (
	"bytes"
	"encoding/json"
	"sync"
)

// JSON is the JSON hub protocol, named "json" in the handshake. Its messages
// are JSON objects, each followed by the record separator 0x1E.
//
// The writer emits the bytes of the .NET server's writer: the properties in
// the order type, headers, invocationId, then the fields of the type, no
// white space, and only the escapes JSON requires. The reader accepts any
// property order, white space and unknown properties.
type JSON struct{}

var _ HubProtocol = JSON{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Version returns 1, the version sent in the handshake request.
func (JSON) Version() int { return 1 }

// TransferFormat returns [TransferFormatText].
func (JSON) TransferFormat() TransferFormat { return TransferFormatText }

// Bits of the properties a message had, for the checks of required
// properties once the whole object has been read.
const (
	hasType = 1 << iota
	hasInvocationID
	hasTarget
	hasArguments
	hasItem
	hasSequenceID
)

// ParseMessage parses one JSON hub message. data is the record without its
// separator.
//
// Strings and raw values in m point into data, or into storage that m owns
// when a string contains escapes. They are valid until data is modified or m
// is parsed into again.
func (JSON) ParseMessage(data []byte, m *Message) error {
	m.Reset()
	i := skipSpace(data, 0)
	if i >= len(data) {
		return newError(ErrInvalidJSON, i, "", "empty message")
	}
	if data[i] != '{' {
		if _, err := skipValue(data, i, 0); err != nil {
			return err
		}
		return newError(ErrWrongType, i, "", "message is a JSON "+jsonKind(data[i])+", not an object")
	}

	var (
		seen      int
		typeValue int64
		typeAt    int
		errorAt   = -1
	)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
		goto end
	}
	for {
		if i >= len(data) {
			return errUnexpectedEnd(i)
		}
		if data[i] != '"' {
			return errUnexpectedByte(data, i, "where a property name was expected")
		}
		keyEnd, escaped, err := scanString(data, i)
		if err != nil {
			return err
		}
		key := data[i+1 : keyEnd-1]
		var keyBuf [32]byte
		if escaped {
			key = appendUnescaped(keyBuf[:0], key)
		}
		i = skipSpace(data, keyEnd)
		if i >= len(data) {
			return errUnexpectedEnd(i)
		}
		if data[i] != ':' {
			return errUnexpectedByte(data, i, "after a property name")
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return errUnexpectedEnd(i)
		}

		switch string(key) {
		case "type":
			end, integer, err := expectNumber(data, i, "type")
			if err != nil {
				return err
			}
			v, ok := parseInteger(data[i:end])
			if !integer || !ok || v < -1<<31 || v > 1<<31-1 {
				return newError(ErrWrongType, i, "type", "must be an integer")
			}
			typeValue, typeAt, seen = v, i, seen|hasType
			i = end
		case "invocationId":
			if m.InvocationID, i, err = m.parseString(data, i, "invocationId"); err != nil {
				return err
			}
			seen |= hasInvocationID
		case "target":
			if m.Target, i, err = m.parseString(data, i, "target"); err != nil {
				return err
			}
			seen |= hasTarget
		case "error":
			errorAt = i
			if m.Error, i, err = m.parseString(data, i, "error"); err != nil {
				return err
			}
			m.HasError = true
		case "arguments":
			if i, err = m.parseArguments(data, i); err != nil {
				return err
			}
			seen |= hasArguments
		case "streamIds":
			if i, err = m.parseStreamIDs(data, i); err != nil {
				return err
			}
		case "headers":
			if i, err = m.parseHeaders(data, i); err != nil {
				return err
			}
		case "item":
			start := i
			if i, err = skipValue(data, i, 0); err != nil {
				return err
			}
			m.Item = RawValue(data[start:i:i])
			seen |= hasItem
		case "result":
			start := i
			if i, err = skipValue(data, i, 0); err != nil {
				return err
			}
			m.Result = RawValue(data[start:i:i])
			m.HasResult = true
		case "allowReconnect":
			switch data[i] {
			case 't':
				i, err = skipLiteral(data, i, "true")
				m.AllowReconnect = true
			case 'f':
				i, err = skipLiteral(data, i, "false")
				m.AllowReconnect = false
			default:
				return wrongType(data, i, "allowReconnect", "a boolean")
			}
			if err != nil {
				return err
			}
		case "sequenceId":
			end, integer, err := expectNumber(data, i, "sequenceId")
			if err != nil {
				return err
			}
			v, ok := parseInteger(data[i:end])
			if !integer || !ok {
				return newError(ErrWrongType, i, "sequenceId", "must be an integer that fits in 64 bits")
			}
			m.SequenceID = v
			seen |= hasSequenceID
			i = end
		default:
			if i, err = skipValue(data, i, 0); err != nil {
				return err
			}
		}

		i = skipSpace(data, i)
		if i >= len(data) {
			return errUnexpectedEnd(i)
		}
		if data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if data[i] != '}' {
			return errUnexpectedByte(data, i, "after a property value")
		}
		i++
		break
	}

end:
	if j := skipSpace(data, i); j < len(data) {
		return errUnexpectedByte(data, j, "after the message object")
	}
	if seen&hasType == 0 {
		return newError(ErrMissingProperty, i, "type", "")
	}
	m.Type = MessageType(typeValue)
	return m.checkRequired(seen, typeAt, errorAt, i)
}

// checkRequired checks the properties that m's type requires and clears the
// fields that its type does not use.
func (m *Message) checkRequired(seen, typeAt, errorAt, end int) error {
	var required int
	switch m.Type {
	case TypeInvocation:
		required = hasTarget | hasArguments
	case TypeStreamItem:
		required = hasInvocationID | hasItem
	case TypeCompletion, TypeCancelInvocation:
		required = hasInvocationID
	case TypeStreamInvocation:
		required = hasInvocationID | hasTarget | hasArguments
	case TypeAck, TypeSequence:
		required = hasSequenceID
	}
	if missing := required &^ seen; missing != 0 {
		return newError(ErrMissingProperty, end, requiredName(missing), "required by "+m.Type.String())
	}
	if m.Type == TypeCompletion && m.HasError && m.HasResult {
		return newError(ErrInvalidMessage, errorAt, "", "a Completion cannot have both a result and an error")
	}
	m.clearUnused()
	return nil
}

func requiredName(missing int) string {
	switch {
	case missing&hasInvocationID != 0:
		return "invocationId"
	case missing&hasTarget != 0:
		return "target"
	case missing&hasArguments != 0:
		return "arguments"
	case missing&hasItem != 0:
		return "item"
	}
	return "sequenceId"
}

// clearUnused clears the fields that m's type does not use, so that a message
// read with extra properties equals the same message read without them.
func (m *Message) clearUnused() {
	t := m.Type
	if !t.IsKnown() {
		m.Reset()
		m.Type = t
		return
	}
	if t > TypeCancelInvocation {
		m.Headers = m.Headers[:0]
		m.InvocationID = ""
	}
	if t != TypeInvocation && t != TypeStreamInvocation {
		m.Target = ""
		m.Arguments = m.Arguments[:0]
		m.StreamIDs = m.StreamIDs[:0]
	}
	if t != TypeStreamItem {
		m.Item = nil
	}
	if t != TypeCompletion {
		m.Result, m.HasResult = nil, false
	}
	if t != TypeCompletion && t != TypeClose {
		m.Error, m.HasError = "", false
	}
	if t != TypeClose {
		m.AllowReconnect = false
	}
	if t != TypeAck && t != TypeSequence {
		m.SequenceID = 0
	}
}

func wrongType(data []byte, i int, property, want string) *MessageError {
	return newError(ErrWrongType, i, property, "must be "+want+", not "+jsonKind(data[i]))
}

// expectNumber checks that the value at data[i] is a number and returns its
// end and whether it is an integer.
func expectNumber(data []byte, i int, property string) (int, bool, *MessageError) {
	if c := data[i]; c != '-' && !isDigit(c) {
		if _, err := skipValue(data, i, 0); err != nil {
			return 0, false, err
		}
		return 0, false, wrongType(data, i, property, "a number")
	}
	return skipNumber(data, i)
}

// parseString parses the string value at data[i]. An escaped string is
// decoded into m's scratch storage.
func (m *Message) parseString(data []byte, i int, property string) (string, int, *MessageError) {
	if data[i] != '"' {
		if _, err := skipValue(data, i, 0); err != nil {
			return "", 0, err
		}
		return "", 0, wrongType(data, i, property, "a string")
	}
	end, escaped, err := scanString(data, i)
	if err != nil {
		return "", 0, err
	}
	body := data[i+1 : end-1]
	if !escaped {
		return bytesToString(body), end, nil
	}
	start := len(m.scratch)
	m.scratch = appendUnescaped(m.scratch, body)
	return bytesToString(m.scratch[start:]), end, nil
}

func (m *Message) parseArguments(data []byte, i int) (int, *MessageError) {
	if data[i] != '[' {
		if _, err := skipValue(data, i, 0); err != nil {
			return 0, err
		}
		return 0, wrongType(data, i, "arguments", "an array")
	}
	m.Arguments = m.Arguments[:0]
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		start := i
		end, err := skipValue(data, i, 1)
		if err != nil {
			return 0, err
		}
		m.Arguments = append(m.Arguments, RawValue(data[start:end:end]))
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errUnexpectedByte(data, i, "after an array element")
		}
	}
}

func (m *Message) parseStreamIDs(data []byte, i int) (int, *MessageError) {
	if data[i] != '[' {
		if _, err := skipValue(data, i, 0); err != nil {
			return 0, err
		}
		return 0, wrongType(data, i, "streamIds", "an array of strings")
	}
	m.StreamIDs = m.StreamIDs[:0]
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		id, end, err := m.parseString(data, i, "streamIds")
		if err != nil {
			return 0, err
		}
		m.StreamIDs = append(m.StreamIDs, id)
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errUnexpectedByte(data, i, "after an array element")
		}
	}
}

// parseHeaders parses the headers object. A repeated key keeps its last
// value, as for repeated properties.
func (m *Message) parseHeaders(data []byte, i int) (int, *MessageError) {
	if data[i] != '{' {
		if _, err := skipValue(data, i, 0); err != nil {
			return 0, err
		}
		return 0, wrongType(data, i, "headers", "an object")
	}
	m.Headers = m.Headers[:0]
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != '"' {
			return 0, errUnexpectedByte(data, i, "where a header name was expected")
		}
		key, end, err := m.parseString(data, i, "headers")
		if err != nil {
			return 0, err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != ':' {
			return 0, errUnexpectedByte(data, i, "after a header name")
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != '"' {
			if _, err := skipValue(data, i, 0); err != nil {
				return 0, err
			}
			return 0, newError(ErrWrongType, i, "headers", "the value of header "+quoteString(key)+" must be a string, not "+jsonKind(data[i]))
		}
		value, end, err := m.parseString(data, i, "headers")
		if err != nil {
			return 0, err
		}
		m.setHeader(key, value)
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errUnexpectedByte(data, i, "after a header value")
		}
	}
}

func (m *Message) setHeader(key, value string) {
	for j := range m.Headers {
		if m.Headers[j].Key == key {
			m.Headers[j].Value = value
			return
		}
	}
	m.Headers = append(m.Headers, Header{Key: key, Value: value})
}

func quoteString(s string) string {
	return string(appendQuoted(nil, s))
}

// AppendMessage appends m as JSON followed by the record separator.
func (JSON) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if err := checkWritable(m); err != nil {
		return dst, err
	}
	dst = append(dst, `{"type":`...)
	dst = appendInt(dst, int64(m.Type))
	if m.Type.IsTrackable() {
		if len(m.Headers) > 0 {
			dst = append(dst, `,"headers":{`...)
			for j, h := range m.Headers {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendQuoted(dst, h.Key)
				dst = append(dst, ':')
				dst = appendQuoted(dst, h.Value)
			}
			dst = append(dst, '}')
		}
		if m.InvocationID != "" {
			dst = append(dst, `,"invocationId":`...)
			dst = appendQuoted(dst, m.InvocationID)
		}
	}
	switch m.Type {
	case TypeInvocation, TypeStreamInvocation:
		dst = append(dst, `,"target":`...)
		dst = appendQuoted(dst, m.Target)
		dst = append(dst, `,"arguments":[`...)
		for j, a := range m.Arguments {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendRaw(dst, a)
		}
		dst = append(dst, ']')
		if len(m.StreamIDs) > 0 {
			dst = append(dst, `,"streamIds":[`...)
			for j, id := range m.StreamIDs {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendQuoted(dst, id)
			}
			dst = append(dst, ']')
		}
	case TypeStreamItem:
		dst = append(dst, `,"item":`...)
		dst = appendRaw(dst, m.Item)
	case TypeCompletion:
		if m.HasError {
			dst = append(dst, `,"error":`...)
			dst = appendQuoted(dst, m.Error)
		} else if m.HasResult {
			dst = append(dst, `,"result":`...)
			dst = appendRaw(dst, m.Result)
		}
	case TypeClose:
		if m.HasError {
			dst = append(dst, `,"error":`...)
			dst = appendQuoted(dst, m.Error)
		}
		if m.AllowReconnect {
			dst = append(dst, `,"allowReconnect":true`...)
		}
	case TypeAck, TypeSequence:
		dst = append(dst, `,"sequenceId":`...)
		dst = appendInt(dst, m.SequenceID)
	}
	return append(dst, '}', RecordSeparator), nil
}

func appendRaw(dst []byte, v RawValue) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}

// checkWritable reports a message that no reader would accept.
func checkWritable(m *Message) error {
	invalid := func(detail string) error {
		return newError(ErrInvalidMessage, -1, "", detail)
	}
	switch {
	case !m.Type.IsKnown():
		return invalid("cannot write a message of unknown type " + m.Type.String())
	case m.Type >= TypeStreamItem && m.Type <= TypeCancelInvocation && m.InvocationID == "":
		return invalid(m.Type.String() + " requires an invocation ID")
	case (m.Type == TypeInvocation || m.Type == TypeStreamInvocation) && m.Target == "":
		return invalid(m.Type.String() + " requires a target")
	case m.Type == TypeCompletion && m.HasError && m.HasResult:
		return invalid("a Completion cannot have both a result and an error")
	}
	return nil
}

// Unmarshal decodes a JSON value with encoding/json.
func (JSON) Unmarshal(data RawValue, v any) error {
	if len(data) == 0 {
		data = RawValue("null")
	}
	return json.Unmarshal(data, v)
}

var jsonBufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// AppendValue appends v encoded by encoding/json. Unlike json.Marshal it does
// not escape <, > and &, which matches the .NET server's output.
func (JSON) AppendValue(dst []byte, v any) ([]byte, error) {
	buf := jsonBufferPool.Get().(*bytes.Buffer)
	defer func() {
		// Large buffers are dropped so that one big value does not pin
		// memory in the pool.
		if buf.Cap() <= 64<<10 {
			jsonBufferPool.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), nil
}
