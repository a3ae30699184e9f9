package protocol

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// mpDecoder is a pooled decoder with the settings of this package.
type mpDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var mpDecoderPool = sync.Pool{New: func() any {
	d := &mpDecoder{dec: msgpack.NewDecoder(nil)}
	d.dec.SetCustomStructTag("json")
	d.dec.UseLooseInterfaceDecoding(true)
	return d
}}

// Unmarshal decodes a MessagePack value into the value v points to, with
// github.com/vmihailenco/msgpack/v5. An empty value decodes as nil.
//
// What a MessagePack hub sends differs from its JSON form, and so does
// what Unmarshal returns:
//   - Struct fields match map keys by their msgpack tag, else their json
//     tag, else their name, and the match is case-sensitive. The .NET
//     server writes PascalCase keys in MessagePack where its JSON has
//     camelCase, so a struct for a .NET hub needs msgpack tags such as
//     `msgpack:"FirstName"`.
//   - Integers decoded into an interface value become int64, or uint64
//     above the int64 range, where JSON gives float64. Floats become
//     float64.
//   - Maps decoded into an interface value become map[string]any, or
//     map[any]any when a key is not a string.
//   - Binary values become []byte, which decodes into a string as its bytes,
//     not as base64.
//   - A timestamp becomes a time.Time in the local time zone.
//
// An integer decoded directly into an integer or float variable must fit
// its type, or Unmarshal fails with [ErrOutOfRange].
//
// NOTE: integers inside structs, slices and maps are decoded by
// vmihailenco/msgpack, which truncates a value that does not fit the
// field's type instead of failing.
func (MessagePack) Unmarshal(data RawValue, v any) error {
	if len(data) == 0 {
		data = RawValue{msgpcode.Nil}
	}
	if handled, err := mpUnmarshalNumber(data, v); handled {
		return err
	}
	d := mpDecoderPool.Get().(*mpDecoder)
	defer mpDecoderPool.Put(d)
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	d.dec.SetMapDecoder(mpDecodeMap) // ResetReader clears it
	err := d.dec.Decode(v)
	if err == nil && d.r.Len() != 0 {
		err = newError(ErrInvalidMessagePack, len(data)-d.r.Len(), "", "bytes after the value")
	}
	d.r.Reset(nil)
	return err
}

// mpDecodeMap decodes a map for an interface value: a map[string]any when
// every key is a string, else a map[any]any. Binary keys become strings,
// since a []byte cannot be a Go map key, and array or map keys are an
// error.
func mpDecodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	keys := make([]any, 0, min(n, 64))
	values := make([]any, 0, min(n, 64))
	allStrings := true
	for range n {
		key, err := d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		switch k := key.(type) {
		case string:
		case []byte:
			key = string(k)
		case []any, map[string]any, map[any]any:
			return nil, fmt.Errorf("signalr/protocol: a MessagePack map key of type %T cannot be a Go map key", key)
		default:
			allStrings = false
		}
		value, err := d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
		values = append(values, value)
	}
	if allStrings {
		m := make(map[string]any, len(keys))
		for i, k := range keys {
			m[k.(string)] = values[i]
		}
		return m, nil
	}
	m := make(map[any]any, len(keys))
	for i, k := range keys {
		m[k] = values[i]
	}
	return m, nil
}

// mpUnmarshalNumber decodes data into v when v points to an integer or
// float variable and data is a number, checking that it fits. It reports
// false for any other destination or value.
func mpUnmarshalNumber(data []byte, v any) (bool, error) {
	var dst reflect.Value
	switch v.(type) {
	case *int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64, *float32, *float64:
		dst = reflect.ValueOf(v).Elem()
	default:
		return false, nil
	}
	c := data[0]
	isFloat := c == msgpcode.Float || c == msgpcode.Double
	if !isFloat && !msgpcode.IsFixedNum(c) && (c < msgpcode.Uint8 || c > msgpcode.Int64) {
		return false, nil // nil, or a type vmihailenco/msgpack reports
	}

	var (
		i        int64
		u        uint64
		f        float64
		unsigned bool // the value is in u
		size     int
	)
	switch {
	case c == msgpcode.Float:
		if len(data) < 5 {
			return true, mpUnexpectedEnd(len(data))
		}
		f, size = float64(math.Float32frombits(uint32(data[1])<<24|uint32(data[2])<<16|uint32(data[3])<<8|uint32(data[4]))), 5
	case c == msgpcode.Double:
		if len(data) < 9 {
			return true, mpUnexpectedEnd(len(data))
		}
		var bits uint64
		for _, b := range data[1:9] {
			bits = bits<<8 | uint64(b)
		}
		f, size = math.Float64frombits(bits), 9
	case c == msgpcode.Uint64:
		if len(data) < 9 {
			return true, mpUnexpectedEnd(len(data))
		}
		for _, b := range data[1:9] {
			u = u<<8 | uint64(b)
		}
		unsigned, size = true, 9
	default:
		var next int
		var err *MessageError
		if i, next, err = mpInt(data, 0, ""); err != nil {
			return true, err
		}
		size = next
	}
	if size != len(data) {
		return true, newError(ErrInvalidMessagePack, size, "", "bytes after the value")
	}

	switch dst.Kind() {
	case reflect.Float32, reflect.Float64:
		switch {
		case isFloat:
		case unsigned:
			f = float64(u)
		default:
			f = float64(i)
		}
		if dst.OverflowFloat(f) {
			return true, mpOutOfRange(strconv.FormatFloat(f, 'g', -1, 64), dst.Type())
		}
		dst.SetFloat(f)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch {
		case isFloat:
			return true, newError(ErrWrongType, 0, "", "cannot decode a MessagePack float into "+dst.Type().String())
		case unsigned && u > math.MaxInt64, dst.OverflowInt(i):
			return true, mpOutOfRange(mpNumberText(i, u, unsigned), dst.Type())
		case unsigned:
			i = int64(u)
		}
		dst.SetInt(i)
	default: // unsigned integers
		switch {
		case isFloat:
			return true, newError(ErrWrongType, 0, "", "cannot decode a MessagePack float into "+dst.Type().String())
		case !unsigned && i < 0:
			return true, mpOutOfRange(mpNumberText(i, u, unsigned), dst.Type())
		case !unsigned:
			u = uint64(i)
		}
		if dst.OverflowUint(u) {
			return true, mpOutOfRange(mpNumberText(i, u, true), dst.Type())
		}
		dst.SetUint(u)
	}
	return true, nil
}

func mpNumberText(i int64, u uint64, unsigned bool) string {
	if unsigned {
		return strconv.FormatUint(u, 10)
	}
	return strconv.FormatInt(i, 10)
}

func mpOutOfRange(number string, t reflect.Type) *MessageError {
	return newError(ErrOutOfRange, 0, "", number+" does not fit in "+t.String())
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

var _ io.ByteWriter = (*appendWriter)(nil)

// mpEncoder is a pooled encoder with the settings of this package.
type mpEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var mpEncoderPool = sync.Pool{New: func() any {
	e := &mpEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	return e
}}

// AppendValue appends v encoded by github.com/vmihailenco/msgpack/v5, with
// integers in their shortest form. Struct fields are named as Unmarshal
// matches them.
func (MessagePack) AppendValue(dst []byte, v any) ([]byte, error) {
	e := mpEncoderPool.Get().(*mpEncoder)
	defer mpEncoderPool.Put(e)
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	if err != nil {
		return dst, err
	}
	return out, nil
}
