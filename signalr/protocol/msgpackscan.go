package protocol

import (
	"encoding/binary"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file reads MessagePack without decoding it into Go values: headers
// of containers, strings that alias the input, integers of any width, and
// the extent of any value, so that raw values can be sliced out of a message.

// mpUnexpectedEnd reports data that ends inside a value.
func mpUnexpectedEnd(i int) *MessageError {
	return newError(ErrInvalidMessagePack, i, "", "unexpected end of data")
}

func mpWrongType(data []byte, i int, property, want string) *MessageError {
	if data[i] == 0xc1 {
		return mpNeverUsed(i)
	}
	detail := "must be " + want + ", not " + mpKind(data[i])
	if property == "" {
		detail = "message is a MessagePack " + mpKind(data[i]) + ", not an array"
	}
	return newError(ErrWrongType, i, property, detail)
}

// mpNeverUsed reports the byte 0xc1, the only one that starts no
// MessagePack value.
func mpNeverUsed(i int) *MessageError {
	return newError(ErrInvalidMessagePack, i, "", "byte 0xc1 does not start a value")
}

// mpKind names the MessagePack type that starts with byte c.
func mpKind(c byte) string {
	switch {
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64:
		return "integer"
	case msgpcode.IsString(c):
		return "string"
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return "array"
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return "map"
	case msgpcode.IsBin(c):
		return "binary"
	case msgpcode.IsExt(c):
		return "extension"
	case c == msgpcode.Nil:
		return "nil"
	case c == msgpcode.True, c == msgpcode.False:
		return "boolean"
	case c == msgpcode.Float, c == msgpcode.Double:
		return "float"
	}
	return "invalid byte"
}

// mpLength reads the big-endian length of size bytes at data[i].
func mpLength(data []byte, i, size int) (int, *MessageError) {
	if len(data)-i < size {
		return 0, mpUnexpectedEnd(len(data))
	}
	switch size {
	case 1:
		return int(data[i]), nil
	case 2:
		return int(binary.BigEndian.Uint16(data[i:])), nil
	}
	n := int(binary.BigEndian.Uint32(data[i:]))
	if n < 0 {
		// Only where int has 32 bits.
		return 0, newError(ErrInvalidMessagePack, i, "", "length does not fit in an int")
	}
	return n, nil
}

// mpArrayHeader reads the array header at data[i] and returns the number of
// elements and the offset of the first one.
func mpArrayHeader(data []byte, i int, property string) (n, next int, err *MessageError) {
	if i >= len(data) {
		return 0, 0, mpUnexpectedEnd(i)
	}
	switch c := data[i]; {
	case msgpcode.IsFixedArray(c):
		return int(c & msgpcode.FixedArrayMask), i + 1, nil
	case c == msgpcode.Array16:
		n, err = mpLength(data, i+1, 2)
		return n, i + 3, err
	case c == msgpcode.Array32:
		n, err = mpLength(data, i+1, 4)
		return n, i + 5, err
	}
	return 0, 0, mpWrongType(data, i, property, "an array")
}

// mpMapHeader reads the map header at data[i] and returns the number of
// entries and the offset of the first key.
func mpMapHeader(data []byte, i int, property string) (n, next int, err *MessageError) {
	if i >= len(data) {
		return 0, 0, mpUnexpectedEnd(i)
	}
	switch c := data[i]; {
	case msgpcode.IsFixedMap(c):
		return int(c & msgpcode.FixedMapMask), i + 1, nil
	case c == msgpcode.Map16:
		n, err = mpLength(data, i+1, 2)
		return n, i + 3, err
	case c == msgpcode.Map32:
		n, err = mpLength(data, i+1, 4)
		return n, i + 5, err
	}
	return 0, 0, mpWrongType(data, i, property, "a map")
}

// mpString reads the string or nil at data[i]. The string aliases data.
func mpString(data []byte, i int, property string) (s string, isNil bool, next int, err *MessageError) {
	if i >= len(data) {
		return "", false, 0, mpUnexpectedEnd(i)
	}
	var n, start int
	switch c := data[i]; {
	case msgpcode.IsFixedString(c):
		n, start = int(c&msgpcode.FixedStrMask), i+1
	case c == msgpcode.Str8:
		n, err = mpLength(data, i+1, 1)
		start = i + 2
	case c == msgpcode.Str16:
		n, err = mpLength(data, i+1, 2)
		start = i + 3
	case c == msgpcode.Str32:
		n, err = mpLength(data, i+1, 4)
		start = i + 5
	case c == msgpcode.Nil:
		return "", true, i + 1, nil
	default:
		return "", false, 0, mpWrongType(data, i, property, "a string")
	}
	if err != nil {
		return "", false, 0, err
	}
	if len(data)-start < n {
		return "", false, 0, mpUnexpectedEnd(len(data))
	}
	return bytesToString(data[start : start+n]), false, start + n, nil
}

// mpInt reads the integer at data[i], in any of the MessagePack integer
// forms. An unsigned value above the int64 range is an error.
func mpInt(data []byte, i int, property string) (v int64, next int, err *MessageError) {
	if i >= len(data) {
		return 0, 0, mpUnexpectedEnd(i)
	}
	c := data[i]
	if msgpcode.IsFixedNum(c) {
		return int64(int8(c)), i + 1, nil
	}
	var size int
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		size = 1
	case msgpcode.Uint16, msgpcode.Int16:
		size = 2
	case msgpcode.Uint32, msgpcode.Int32:
		size = 4
	case msgpcode.Uint64, msgpcode.Int64:
		size = 8
	default:
		return 0, 0, mpWrongType(data, i, property, "an integer")
	}
	if len(data)-i-1 < size {
		return 0, 0, mpUnexpectedEnd(len(data))
	}
	b := data[i+1 : i+1+size]
	switch c {
	case msgpcode.Uint8:
		v = int64(b[0])
	case msgpcode.Uint16:
		v = int64(binary.BigEndian.Uint16(b))
	case msgpcode.Uint32:
		v = int64(binary.BigEndian.Uint32(b))
	case msgpcode.Uint64:
		u := binary.BigEndian.Uint64(b)
		if u > 1<<63-1 {
			return 0, 0, newError(ErrInvalidMessage, i, property, "integer out of range")
		}
		v = int64(u)
	case msgpcode.Int8:
		v = int64(int8(b[0]))
	case msgpcode.Int16:
		v = int64(int16(binary.BigEndian.Uint16(b)))
	case msgpcode.Int32:
		v = int64(int32(binary.BigEndian.Uint32(b)))
	case msgpcode.Int64:
		v = int64(binary.BigEndian.Uint64(b))
	}
	return v, i + 1 + size, nil
}

// mpSkip returns the offset just past the value at data[i]. depth counts
// the containers the value is nested in. Nesting deeper than
// maxNestingDepth is an error, so that decoding a raw value later cannot
// exhaust the stack.
func mpSkip(data []byte, i, depth int) (int, *MessageError) {
	if i >= len(data) {
		return 0, mpUnexpectedEnd(i)
	}
	c := data[i]
	var size int // bytes of payload after the header
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Nil, c == msgpcode.True, c == msgpcode.False:
		return i + 1, nil
	case msgpcode.IsFixedString(c):
		if n := int(c & msgpcode.FixedStrMask); n < len(data)-i {
			return i + 1 + n, nil
		}
		return 0, mpUnexpectedEnd(len(data))
	case msgpcode.IsFixedArray(c):
		return mpSkipElements(data, i+1, int(c&msgpcode.FixedArrayMask), depth)
	case msgpcode.IsFixedMap(c):
		return mpSkipElements(data, i+1, 2*int(c&msgpcode.FixedMapMask), depth)
	}
	var err *MessageError
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		size, i = 1, i+1
	case msgpcode.Uint16, msgpcode.Int16:
		size, i = 2, i+1
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		size, i = 4, i+1
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		size, i = 8, i+1
	case msgpcode.Str8, msgpcode.Bin8:
		size, err = mpLength(data, i+1, 1)
		i += 2
	case msgpcode.Str16, msgpcode.Bin16:
		size, err = mpLength(data, i+1, 2)
		i += 3
	case msgpcode.Str32, msgpcode.Bin32:
		size, err = mpLength(data, i+1, 4)
		i += 5
	case msgpcode.Array16, msgpcode.Array32, msgpcode.Map16, msgpcode.Map32:
		width := 2
		if c == msgpcode.Array32 || c == msgpcode.Map32 {
			width = 4
		}
		n, err := mpLength(data, i+1, width)
		if err != nil {
			return 0, err
		}
		if c == msgpcode.Map16 || c == msgpcode.Map32 {
			n *= 2
		}
		return mpSkipElements(data, i+1+width, n, depth)
	// Extensions: the type byte follows the header, then the payload. The
	// timestamp extension (type -1) is a fixext 4, a fixext 8 or an ext 8
	// of length 12, so it needs no case of its own.
	case msgpcode.FixExt1:
		size, i = 1+1, i+1
	case msgpcode.FixExt2:
		size, i = 1+2, i+1
	case msgpcode.FixExt4:
		size, i = 1+4, i+1
	case msgpcode.FixExt8:
		size, i = 1+8, i+1
	case msgpcode.FixExt16:
		size, i = 1+16, i+1
	case msgpcode.Ext8:
		size, err = mpLength(data, i+1, 1)
		size, i = size+1, i+2
	case msgpcode.Ext16:
		size, err = mpLength(data, i+1, 2)
		size, i = size+1, i+3
	case msgpcode.Ext32:
		size, err = mpLength(data, i+1, 4)
		size, i = size+1, i+5
	default:
		return 0, mpNeverUsed(i)
	}
	if err != nil {
		return 0, err
	}
	if len(data)-i < size {
		return 0, mpUnexpectedEnd(len(data))
	}
	return i + size, nil
}

// mpSkipElements skips n values starting at data[i], the elements of a
// container at the given depth.
func mpSkipElements(data []byte, i, n, depth int) (int, *MessageError) {
	if n == 0 {
		return i, nil
	}
	if depth >= maxNestingDepth {
		return 0, newError(ErrInvalidMessagePack, i, "", "values nest too deeply")
	}
	// Every value takes at least one byte, so a count larger than what is
	// left cannot be satisfied. Failing now avoids a long loop.
	if n > len(data)-i {
		return 0, mpUnexpectedEnd(len(data))
	}
	var err *MessageError
	for range n {
		if i, err = mpSkip(data, i, depth+1); err != nil {
			return 0, err
		}
	}
	return i, nil
}
