package protocol_test

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

func TestMessagePackUnmarshalNumbers(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		dst     any
		want    any
		wantErr error
	}{
		{"fixint into int", []byte{0x2a}, new(int), 42, nil},
		{"negative fixint into int8", []byte{0xff}, new(int8), int8(-1), nil},
		{"uint8 200 into int8", []byte{0xcc, 200}, new(int8), nil, protocol.ErrOutOfRange},
		{"int16 into int8", []byte{0xd1, 0x01, 0x00}, new(int8), nil, protocol.ErrOutOfRange},
		{"int8 -7 into uint", []byte{0xf9}, new(uint), nil, protocol.ErrOutOfRange},
		{"uint64 max into uint64", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, new(uint64), uint64(math.MaxUint64), nil},
		{"uint64 max into int64", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, new(int64), nil, protocol.ErrOutOfRange},
		{"int64 min into int64", []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, new(int64), int64(math.MinInt64), nil},
		{"uint16 into uint8", []byte{0xcd, 0x01, 0x00}, new(uint8), nil, protocol.ErrOutOfRange},
		{"uint16 255 into uint8", []byte{0xcd, 0x00, 0xff}, new(uint8), uint8(255), nil},
		{"float64 into int", []byte{0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0}, new(int), nil, protocol.ErrWrongType},
		{"float32 into float64", []byte{0xca, 0x40, 0x20, 0, 0}, new(float64), 2.5, nil},
		{"int into float64", []byte{0x07}, new(float64), 7.0, nil},
		{"huge float64 into float32", []byte{0xcb, 0x7f, 0xe0, 0, 0, 0, 0, 0, 0}, new(float32), nil, protocol.ErrOutOfRange},
		{"bytes after the number", []byte{0x01, 0x02}, new(int), nil, protocol.ErrInvalidMessagePack},
		{"cut-off uint32", []byte{0xce, 0x00}, new(uint32), nil, protocol.ErrInvalidMessagePack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := protocol.MessagePack{}.Unmarshal(tt.data, tt.dst)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Unmarshal(%x) error = %v; want %v", tt.data, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%x): %v", tt.data, err)
			}
			if got := reflect.ValueOf(tt.dst).Elem().Interface(); got != tt.want {
				t.Errorf("Unmarshal(%x) = %#v; want %#v", tt.data, got, tt.want)
			}
		})
	}
}

func TestMessagePackUnmarshalMapKeys(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want any
	}{
		{"string keys", []byte{0x81, 0xa1, 'a', 0x01}, map[string]any{"a": int64(1)}},
		{"integer keys", []byte{0x82, 0x01, 0xa1, 'x', 0x02, 0xa1, 'y'}, map[any]any{int64(1): "x", int64(2): "y"}},
		{"binary key", []byte{0x81, 0xc4, 0x01, 'k', 0xc3}, map[string]any{"k": true}},
		{"nested integer keys", []byte{0x91, 0x81, 0x05, 0xc0}, []any{map[any]any{int64(5): nil}}},
		{"nil map", []byte{0xc0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			if err := (protocol.MessagePack{}).Unmarshal(tt.data, &got); err != nil {
				t.Fatalf("Unmarshal(%x): %v", tt.data, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmarshal(%x) = %#v; want %#v", tt.data, got, tt.want)
			}
		})
	}

	var got any
	arrayKey := []byte{0x81, 0x91, 0x01, 0x02}
	if err := (protocol.MessagePack{}).Unmarshal(arrayKey, &got); err == nil {
		t.Errorf("Unmarshal(%x) = %#v; want an error for an array key", arrayKey, got)
	}
}

func TestMessagePackUnmarshalStructTags(t *testing.T) {
	type user struct {
		ID    string `msgpack:"Id"`
		Name  string `json:"name"`
		Plain int
	}
	data, err := protocol.MessagePack{}.AppendValue(nil, map[string]any{"Id": "U-1", "name": "alice", "Plain": 3})
	if err != nil {
		t.Fatal(err)
	}
	var got user
	if err := (protocol.MessagePack{}).Unmarshal(data, &got); err != nil {
		t.Fatalf("Unmarshal(%x): %v", data, err)
	}
	if want := (user{ID: "U-1", Name: "alice", Plain: 3}); got != want {
		t.Errorf("Unmarshal = %+v; want %+v", got, want)
	}
}
