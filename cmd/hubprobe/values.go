package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// maxValueDepth bounds how deeply the arrays and maps of a converted value
// may nest, so that a hostile value cannot exhaust the stack. It matches the
// limits of encoding/json and of the hub protocol readers.
const maxValueDepth = 10000

// A valueCodec converts values between JSON, which hubprobe reads from the
// command line and prints, and the encoding of the session's hub protocol.
type valueCodec struct {
	proto protocol.HubProtocol
}

func (c valueCodec) binary() bool {
	return c.proto.TransferFormat() == protocol.TransferFormatBinary
}

// fromJSON returns the JSON value v, which must be valid, encoded for the
// hub protocol.
func (c valueCodec) fromJSON(v protocol.RawValue) (protocol.RawValue, error) {
	if !c.binary() {
		return v, nil
	}
	return jsonToMessagePack(v)
}

// toJSON returns the hub protocol value v as JSON for printing. An empty v
// is returned as it is.
func (c valueCodec) toJSON(v protocol.RawValue) (json.RawMessage, error) {
	if len(v) == 0 || !c.binary() {
		return append(json.RawMessage(nil), v...), nil
	}
	return messagePackToJSON(v)
}

// jsonToMessagePack converts one JSON value to MessagePack. Object members
// keep their order. A number without a fraction or exponent that fits an
// int64 or a uint64 becomes an integer in its shortest encoding, and every
// other number a float64.
func jsonToMessagePack(v []byte) (protocol.RawValue, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := convertJSONValue(dec, enc, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return protocol.RawValue(buf.Bytes()), nil
}

// convertJSONValue reads the next JSON value from dec and writes it to
// enc. An array or object is buffered until its length is known, since
// MessagePack writes the length first.
func convertJSONValue(dec *json.Decoder, enc *msgpack.Encoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(t)
	case string:
		return enc.EncodeString(t)
	case json.Number:
		return encodeJSONNumber(enc, t)
	case json.Delim:
		if depth >= maxValueDepth {
			return errors.New("the value nests too deeply")
		}
		var body bytes.Buffer
		inner := msgpack.NewEncoder(&body)
		n := 0
		for dec.More() {
			if t == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				if err := inner.EncodeString(key.(string)); err != nil {
					return err
				}
			}
			if err := convertJSONValue(dec, inner, depth+1); err != nil {
				return err
			}
			n++
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		if t == '{' {
			err = enc.EncodeMapLen(n)
		} else {
			err = enc.EncodeArrayLen(n)
		}
		if err != nil {
			return err
		}
		_, err = enc.Writer().Write(body.Bytes())
		return err
	}
	return fmt.Errorf("unexpected JSON token %v", tok)
}

func encodeJSONNumber(enc *msgpack.Encoder, n json.Number) error {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return enc.EncodeInt(i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return enc.EncodeUint(u)
		}
	}
	// NOTE: an integer outside the int64 and uint64 ranges becomes the
	// nearest float64, so its low digits may change.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("number %s is out of the range of a float64", s)
	}
	return enc.EncodeFloat64(f)
}

// An mpHeader describes the MessagePack value that starts at one offset.
type mpHeader struct {
	code  byte // the first byte
	kind  mpKind
	body  int // offset of the payload, or of the first element of an array or map
	size  int // payload length in bytes; 0 for nil, booleans, fixints, arrays and maps
	count int // elements of an array, or key-value pairs of a map
	ext   int8
}

// end returns the offset after the header and payload; for an array or
// map, the offset of its first element.
func (h mpHeader) end() int { return h.body + h.size }

type mpKind int

const (
	mpNil mpKind = iota
	mpBool
	mpInt
	mpUint
	mpFloat32
	mpFloat64
	mpString
	mpBinary
	mpArray
	mpMap
	mpExt
)

// invalidMessagePack returns the error for invalid MessagePack at offset
// i of a value. It has the type and wording of the errors of the
// MessagePack hub protocol parser, so that the same bad byte reads the same
// in every command.
func invalidMessagePack(i int, detail string) error {
	return &protocol.MessageError{Offset: i, Detail: detail, Err: protocol.ErrInvalidMessagePack}
}

// truncated returns the error for a value that data ends inside.
func truncated(data []byte) error {
	return invalidMessagePack(len(data), "unexpected end of data")
}

// plural returns n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readMPHeader reads the header of the value at data[i]. It checks that
// the payload fits in data and that an array or map does not claim more
// elements than there are bytes left.
func readMPHeader(data []byte, i int) (mpHeader, error) {
	if i >= len(data) {
		return mpHeader{}, truncated(data)
	}
	c := data[i]
	h := mpHeader{code: c, body: i + 1}
	var width int // bytes of a length field after the first byte
	switch {
	case c == msgpcode.Nil:
		h.kind = mpNil
	case c == msgpcode.True || c == msgpcode.False:
		h.kind = mpBool
	case msgpcode.IsFixedNum(c):
		h.kind = mpInt
	case msgpcode.IsFixedString(c):
		h.kind, h.size = mpString, int(c&msgpcode.FixedStrMask)
	case msgpcode.IsFixedArray(c):
		h.kind, h.count = mpArray, int(c&msgpcode.FixedArrayMask)
	case msgpcode.IsFixedMap(c):
		h.kind, h.count = mpMap, int(c&msgpcode.FixedMapMask)
	case c >= msgpcode.Uint8 && c <= msgpcode.Uint64:
		h.kind, h.size = mpUint, 1<<(c-msgpcode.Uint8)
	case c >= msgpcode.Int8 && c <= msgpcode.Int64:
		h.kind, h.size = mpInt, 1<<(c-msgpcode.Int8)
	case c == msgpcode.Float:
		h.kind, h.size = mpFloat32, 4
	case c == msgpcode.Double:
		h.kind, h.size = mpFloat64, 8
	case c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32:
		h.kind, width = mpString, 1<<(c-msgpcode.Str8)
	case c == msgpcode.Bin8 || c == msgpcode.Bin16 || c == msgpcode.Bin32:
		h.kind, width = mpBinary, 1<<(c-msgpcode.Bin8)
	case c == msgpcode.Array16 || c == msgpcode.Array32:
		h.kind, width = mpArray, 2<<(c-msgpcode.Array16)
	case c == msgpcode.Map16 || c == msgpcode.Map32:
		h.kind, width = mpMap, 2<<(c-msgpcode.Map16)
	case c >= msgpcode.FixExt1 && c <= msgpcode.FixExt16:
		h.kind, h.size = mpExt, 1<<(c-msgpcode.FixExt1)
	case c == msgpcode.Ext8 || c == msgpcode.Ext16 || c == msgpcode.Ext32:
		h.kind, width = mpExt, 1<<(c-msgpcode.Ext8)
	default:
		return mpHeader{}, invalidMessagePack(i, fmt.Sprintf("byte 0x%02x does not start a value", c))
	}
	if width > 0 {
		if len(data)-h.body < width {
			return mpHeader{}, truncated(data)
		}
		var n uint64
		for _, b := range data[h.body : h.body+width] {
			n = n<<8 | uint64(b)
		}
		h.body += width
		if h.kind == mpArray || h.kind == mpMap {
			h.count = int(n)
		} else {
			h.size = int(n)
		}
	}
	if h.kind == mpExt {
		if h.body >= len(data) {
			return mpHeader{}, truncated(data)
		}
		h.ext = int8(data[h.body])
		h.body++
	}
	if h.size > len(data)-h.body {
		return mpHeader{}, truncated(data)
	}
	// Every element takes at least one byte, so a larger count cannot be
	// satisfied; rejecting it now avoids a long loop.
	elements := h.count
	if h.kind == mpMap {
		elements *= 2
	}
	if elements > len(data)-h.body {
		return mpHeader{}, truncated(data)
	}
	return h, nil
}

// messagePackToJSON converts one MessagePack value to JSON for printing.
// Map entries keep their order. Binary data becomes a base64 string, a
// timestamp an RFC 3339 string in UTC, another extension an object
// {"extType":N,"data":"<base64>"}, and a non-string map key the JSON text of
// the key, as a string. A float keeps a decimal point or an exponent, so
// 2.0 prints as 2.0 and the integer 2 as 2. NaN and the infinities become
// the strings "NaN", "Infinity" and "-Infinity".
func messagePackToJSON(data []byte) (json.RawMessage, error) {
	out, next, err := appendJSONValue(nil, data, 0, 0)
	if err != nil {
		return nil, err
	}
	if next != len(data) {
		return nil, invalidMessagePack(next, plural(len(data)-next, "byte")+" after the value")
	}
	return out, nil
}

// appendJSONValue appends the value at data[i] as JSON and returns the
// offset after it.
func appendJSONValue(dst, data []byte, i, depth int) ([]byte, int, error) {
	h, err := readMPHeader(data, i)
	if err != nil {
		return dst, 0, err
	}
	payload := data[h.body:h.end()]
	switch h.kind {
	case mpNil:
		dst = append(dst, "null"...)
	case mpBool:
		dst = strconv.AppendBool(dst, h.code == msgpcode.True)
	case mpInt:
		dst = strconv.AppendInt(dst, mpSigned(h.code, payload), 10)
	case mpUint:
		dst = strconv.AppendUint(dst, mpUnsigned(payload), 10)
	case mpFloat32:
		dst = appendJSONFloat(dst, float64(math.Float32frombits(binary.BigEndian.Uint32(payload))), 32)
	case mpFloat64:
		dst = appendJSONFloat(dst, math.Float64frombits(binary.BigEndian.Uint64(payload)), 64)
	case mpString:
		dst = appendJSONString(dst, payload)
	case mpBinary:
		dst = appendBase64(dst, payload)
	case mpExt:
		dst = appendJSONExt(dst, h.ext, payload)
	case mpArray, mpMap:
		return appendJSONContainer(dst, data, h, depth)
	}
	return dst, h.end(), nil
}

// appendJSONContainer appends the array or map h as a JSON array or
// object.
func appendJSONContainer(dst, data []byte, h mpHeader, depth int) ([]byte, int, error) {
	if depth >= maxValueDepth {
		return dst, 0, invalidMessagePack(h.body, "values nest too deeply")
	}
	open, end := byte('['), byte(']')
	if h.kind == mpMap {
		open, end = '{', '}'
	}
	dst = append(dst, open)
	i := h.body
	var err error
	for n := range h.count {
		if n > 0 {
			dst = append(dst, ',')
		}
		if h.kind == mpMap {
			if dst, i, err = appendJSONKey(dst, data, i, depth); err != nil {
				return dst, 0, err
			}
			dst = append(dst, ':')
		}
		if dst, i, err = appendJSONValue(dst, data, i, depth+1); err != nil {
			return dst, 0, err
		}
	}
	return append(dst, end), i, nil
}

// appendJSONKey appends the map key at data[i] as a JSON string. A key of
// another type is converted to JSON first, and that text becomes the
// string, unless it already is a string.
func appendJSONKey(dst, data []byte, i, depth int) ([]byte, int, error) {
	key, next, err := appendJSONValue(nil, data, i, depth+1)
	if err != nil {
		return dst, 0, err
	}
	if key[0] == '"' {
		return append(dst, key...), next, nil
	}
	return appendJSONString(dst, key), next, nil
}

// mpSigned returns the value of a fixint or of a signed integer payload.
func mpSigned(code byte, payload []byte) int64 {
	switch len(payload) {
	case 0:
		return int64(int8(code))
	case 1:
		return int64(int8(payload[0]))
	case 2:
		return int64(int16(binary.BigEndian.Uint16(payload)))
	case 4:
		return int64(int32(binary.BigEndian.Uint32(payload)))
	}
	return int64(binary.BigEndian.Uint64(payload))
}

func mpUnsigned(payload []byte) uint64 {
	var n uint64
	for _, b := range payload {
		n = n<<8 | uint64(b)
	}
	return n
}

// appendJSONFloat appends f, of the given bit size, as encoding/json
// formats it, with ".0" added to an integral value.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Shorten a two-digit negative exponent such as e-07 to e-7.
		n := len(dst)
		if n-start > 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	if !bytes.ContainsAny(dst[start:], ".e") {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as in encoding/json, but <, > and & stay as they are.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, `\n`...)
			case b == '\r':
				dst = append(dst, `\r`...)
			case b == '\t':
				dst = append(dst, `\t`...)
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but JavaScript before ES2019 rejects them in
			// strings; encoding/json escapes them too.
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func appendBase64(dst, data []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, '"')
}

// timestampExt is the extension type of MessagePack timestamps.
const timestampExt = -1

// appendJSONExt appends an extension value: a timestamp as an RFC 3339
// string, any other extension as {"extType":N,"data":"<base64>"}.
func appendJSONExt(dst []byte, ext int8, payload []byte) []byte {
	if ext == timestampExt {
		if t, ok := parseTimestamp(payload); ok {
			dst = append(dst, '"')
			dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
			return append(dst, '"')
		}
	}
	dst = append(dst, `{"extType":`...)
	dst = strconv.AppendInt(dst, int64(ext), 10)
	dst = append(dst, `,"data":`...)
	dst = appendBase64(dst, payload)
	return append(dst, '}')
}

// parseTimestamp decodes the payload of a timestamp extension in its 32-,
// 64- or 96-bit form. It reports false for another length or for
// nanoseconds above 999,999,999.
func parseTimestamp(p []byte) (time.Time, bool) {
	var sec int64
	var nsec uint32
	switch len(p) {
	case 4:
		sec = int64(binary.BigEndian.Uint32(p))
	case 8:
		v := binary.BigEndian.Uint64(p)
		sec, nsec = int64(v&(1<<34-1)), uint32(v>>34)
	case 12:
		nsec = binary.BigEndian.Uint32(p)
		sec = int64(binary.BigEndian.Uint64(p[4:]))
	default:
		return time.Time{}, false
	}
	if nsec > 999_999_999 {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(nsec)), true
}
