package protocol

// A HandshakeRequest is the client's first message: the hub protocol it will
// speak and that protocol's version.
type HandshakeRequest struct {
	Protocol string
	Version  int
}

// A HandshakeResponse is the server's reply to the handshake request. The
// handshake failed when Error is not empty.
type HandshakeResponse struct {
	Error string
}

// AppendHandshakeRequest appends req as JSON followed by the record
// separator, in the property order protocol, version.
func AppendHandshakeRequest(dst []byte, req HandshakeRequest) []byte {
	dst = append(dst, `{"protocol":`...)
	dst = appendQuoted(dst, req.Protocol)
	dst = append(dst, `,"version":`...)
	dst = appendInt(dst, int64(req.Version))
	return append(dst, '}', RecordSeparator)
}

// AppendHandshakeResponse appends resp as JSON followed by the record
// separator: {} on success, or an object with the error.
func AppendHandshakeResponse(dst []byte, resp HandshakeResponse) []byte {
	if resp.Error == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = append(dst, `{"error":`...)
	dst = appendQuoted(dst, resp.Error)
	return append(dst, '}', RecordSeparator)
}

// ParseHandshakeRequest parses a handshake request record, without its
// separator. Unknown properties are ignored, a repeated property keeps its
// last value, and bytes after the first JSON object are ignored, as the .NET
// server does.
func ParseHandshakeRequest(record []byte) (HandshakeRequest, error) {
	var req HandshakeRequest
	var hasProtocol, hasVersion bool
	end, err := parseObject(record, func(key []byte, data []byte, i int) (int, *MessageError) {
		switch string(key) {
		case "protocol":
			s, end, err := parseOwnedString(data, i, "protocol")
			if err != nil {
				return 0, err
			}
			req.Protocol, hasProtocol = s, true
			return end, nil
		case "version":
			end, integer, err := expectNumber(data, i, "version")
			if err != nil {
				return 0, err
			}
			v, ok := parseInteger(data[i:end])
			if !integer || !ok || v < -1<<31 || v > 1<<31-1 {
				return 0, newError(ErrWrongType, i, "version", "must be a 32-bit integer")
			}
			req.Version, hasVersion = int(v), true
			return end, nil
		}
		return skipValue(data, i, 0)
	})
	if err != nil {
		return HandshakeRequest{}, err
	}
	if !hasProtocol {
		return HandshakeRequest{}, newError(ErrMissingProperty, end, "protocol", "required by the handshake request")
	}
	if !hasVersion {
		return HandshakeRequest{}, newError(ErrMissingProperty, end, "version", "required by the handshake request")
	}
	return req, nil
}

// ParseHandshakeResponse parses a handshake response record, without its
// separator. Unknown properties such as minorVersion are ignored. A response
// with a "type" property is a hub message, not a handshake response, and
// fails with [ErrNotHandshakeResponse]. An "error" that is not a string, null
// included, fails with [ErrWrongType], as in the .NET client.
func ParseHandshakeResponse(record []byte) (HandshakeResponse, error) {
	var resp HandshakeResponse
	typeAt := -1
	end, err := parseObject(record, func(key []byte, data []byte, i int) (int, *MessageError) {
		switch string(key) {
		case "error":
			s, end, err := parseOwnedString(data, i, "error")
			if err != nil {
				return 0, err
			}
			resp.Error = s
			return end, nil
		case "type":
			typeAt = i
		}
		return skipValue(data, i, 0)
	})
	if err != nil {
		return HandshakeResponse{}, err
	}
	if j := skipSpace(record, end); j < len(record) {
		return HandshakeResponse{}, errUnexpectedByte(record, j, "after the handshake response")
	}
	if typeAt >= 0 {
		return HandshakeResponse{}, newError(ErrNotHandshakeResponse, typeAt, "type", "the server sent a hub message before the handshake response")
	}
	return resp, nil
}

// parseOwnedString parses the string value at data[i] into a new string.
func parseOwnedString(data []byte, i int, property string) (string, int, *MessageError) {
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
	if escaped {
		return string(appendUnescaped(nil, body)), end, nil
	}
	return string(body), end, nil
}

// parseObject walks the JSON object at the start of data and calls property
// for each property with its decoded name and the offset of its value.
// property returns the offset just past the value. parseObject returns the
// offset just past the object.
func parseObject(data []byte, property func(key, data []byte, i int) (int, *MessageError)) (int, error) {
	i := skipSpace(data, 0)
	if i >= len(data) {
		return 0, newError(ErrInvalidJSON, i, "", "empty message")
	}
	if data[i] != '{' {
		if _, err := skipValue(data, i, 0); err != nil {
			return 0, err
		}
		return 0, newError(ErrWrongType, i, "", "message is a JSON "+jsonKind(data[i])+", not an object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != '"' {
			return 0, errUnexpectedByte(data, i, "where a property name was expected")
		}
		keyEnd, escaped, err := scanString(data, i)
		if err != nil {
			return 0, err
		}
		key := data[i+1 : keyEnd-1]
		if escaped {
			key = appendUnescaped(nil, key)
		}
		i = skipSpace(data, keyEnd)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != ':' {
			return 0, errUnexpectedByte(data, i, "after a property name")
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if i, err = property(key, data, i); err != nil {
			return 0, err
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errUnexpectedByte(data, i, "after a property value")
		}
	}
}
