package protocol

import (
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small JSON scanner that validates and skips values
// without building them, so that the hub protocol parser can keep arguments,
// items and results as raw bytes.

// maxNestingDepth bounds how deeply arrays and objects may nest in a message,
// the same limit encoding/json applies.
const maxNestingDepth = 10000

// plainStringByte marks the bytes that may appear in a JSON string without
// ending it or starting an escape.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func errUnexpectedEnd(i int) *MessageError {
	return newError(ErrInvalidJSON, i, "", "unexpected end of input")
}

func errUnexpectedByte(data []byte, i int, context string) *MessageError {
	return newError(ErrInvalidJSON, i, "", "unexpected character "+quoteByte(data[i])+" "+context)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789ABCDEF"
	return "0x" + string([]byte{hex[c>>4], hex[c&0xf]})
}

// scanString scans the string that starts with the quote at data[i]. It
// returns the offset just past the closing quote and whether the string
// contains escapes.
func scanString(data []byte, i int) (end int, escaped bool, err *MessageError) {
	i++ // opening quote
	for {
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			return 0, false, errUnexpectedEnd(i)
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				return 0, false, errUnexpectedEnd(i + 1)
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return 0, false, errUnexpectedEnd(len(data))
				}
				for _, h := range data[i+2 : i+6] {
					if hexValue(h) < 0 {
						return 0, false, newError(ErrInvalidJSON, i, "", "invalid \\u escape in string")
					}
				}
				i += 6
			default:
				return 0, false, newError(ErrInvalidJSON, i, "", "invalid escape in string")
			}
		default:
			return 0, false, newError(ErrInvalidJSON, i, "", "control character in string")
		}
	}
}

func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// appendUnescaped appends the decoded form of the string body s, which
// scanString has validated, to dst. Invalid surrogate escapes become U+FFFD,
// as encoding/json decodes them.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := decodeHex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, decodeHex4(s[i+2:])); r2 != utf8.RuneError {
						dst = utf8.AppendRune(dst, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

func decodeHex4(b []byte) rune {
	return rune(hexValue(b[0])<<12 | hexValue(b[1])<<8 | hexValue(b[2])<<4 | hexValue(b[3]))
}

// skipNumber scans the number that starts at data[i] and reports whether it
// is an integer, that is without fraction or exponent.
func skipNumber(data []byte, i int) (end int, integer bool, err *MessageError) {
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return 0, false, errUnexpectedEnd(i)
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return 0, false, newError(ErrInvalidJSON, start, "", "invalid number")
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return 0, false, newError(ErrInvalidJSON, start, "", "invalid number")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return 0, false, newError(ErrInvalidJSON, start, "", "invalid number")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i, integer, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseInteger converts a JSON integer that skipNumber accepted. It reports
// false when the value does not fit in an int64.
func parseInteger(b []byte) (int64, bool) {
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

func skipLiteral(data []byte, i int, lit string) (int, *MessageError) {
	if len(data)-i < len(lit) {
		if string(data[i:]) == lit[:len(data)-i] {
			return 0, errUnexpectedEnd(len(data))
		}
		return 0, newError(ErrInvalidJSON, i, "", "invalid literal")
	}
	if string(data[i:i+len(lit)]) != lit {
		return 0, newError(ErrInvalidJSON, i, "", "invalid literal")
	}
	return i + len(lit), nil
}

// skipValue validates the JSON value that starts at data[i], which must not
// be white space, and returns the offset just past it.
func skipValue(data []byte, i, depth int) (int, *MessageError) {
	if i >= len(data) {
		return 0, errUnexpectedEnd(i)
	}
	switch c := data[i]; c {
	case '"':
		end, _, err := scanString(data, i)
		return end, err
	case '{':
		return skipObject(data, i, depth+1)
	case '[':
		return skipArray(data, i, depth+1)
	case 't':
		return skipLiteral(data, i, "true")
	case 'f':
		return skipLiteral(data, i, "false")
	case 'n':
		return skipLiteral(data, i, "null")
	default:
		if c == '-' || isDigit(c) {
			end, _, err := skipNumber(data, i)
			return end, err
		}
		return 0, errUnexpectedByte(data, i, "at the start of a value")
	}
}

func skipObject(data []byte, i, depth int) (int, *MessageError) {
	if depth > maxNestingDepth {
		return 0, newError(ErrInvalidJSON, i, "", "nesting too deep")
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
		end, _, err := scanString(data, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errUnexpectedEnd(i)
		}
		if data[i] != ':' {
			return 0, errUnexpectedByte(data, i, "after a property name")
		}
		i = skipSpace(data, i+1)
		if i, err = skipValue(data, i, depth); err != nil {
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

func skipArray(data []byte, i, depth int) (int, *MessageError) {
	if depth > maxNestingDepth {
		return 0, newError(ErrInvalidJSON, i, "", "nesting too deep")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err *MessageError
		if i, err = skipValue(data, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(data, i)
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

// jsonKind returns the JSON type name of the value that starts with c, for
// error messages.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// appendQuoted appends s as a JSON string. It escapes only what JSON
// requires, as the .NET server's relaxed encoder does: the quote, the
// backslash and control characters. Invalid UTF-8 is written as U+FFFD so
// that the output is always valid JSON.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				const hex = "0123456789ABCDEF"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
