package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// vector is one line of a file in testdata/vectors. See the README there.
type vector struct {
	Name        string          `json:"name"`
	Direction   string          `json:"direction"`
	Encoding    string          `json:"encoding"`
	Kind        string          `json:"kind"`
	Side        string          `json:"side"`
	Delivery    string          `json:"delivery"`
	Input       string          `json:"input"`
	Output      string          `json:"output"`
	Expect      json.RawMessage `json:"expect"`
	ExpectError *struct {
		Kind string `json:"kind"`
	} `json:"expect_error"`
	ExpectIncomplete bool            `json:"expect_incomplete"`
	Message          json.RawMessage `json:"message"`
	Binder           *binder         `json:"binder"`
	OutputPrefixHex  string          `json:"output_prefix_hex"`
}

type binder struct {
	ParameterTypes []string `json:"parameterTypes"`
	ReturnType     string   `json:"returnType"`
	StreamItemType string   `json:"streamItemType"`
}

func loadVectors(t *testing.T, file string) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "vectors", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// input returns the bytes of the vector's input field.
func (v *vector) input() []byte { return decodeField(v.Encoding, v.Input) }

// output returns the bytes of the vector's output field.
func (v *vector) output() []byte { return decodeField(v.Encoding, v.Output) }

// decodeField decodes a field of a vector. The vector files are part of the
// repository, so a field that does not decode is a bug in them and panics.
func decodeField(encoding, s string) []byte {
	switch encoding {
	case "text", "":
		return []byte(s)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			panic(err)
		}
		return b
	case "hex":
		b, err := hex.DecodeString(s)
		if err != nil {
			panic(err)
		}
		return b
	}
	panic("unknown vector encoding " + encoding)
}

// A deviation is a vector this package deliberately handles differently.
// check, when set, verifies what the package does instead.
type deviation struct {
	reason string
	check  func(v *vector) error
}

// runVectors runs every vector through run, which returns why the result
// differs from the expected one, or nil. It applies the deviations and
// reports how many vectors ran, passed and deviated. A deviation that no
// vector uses, or whose vector now gives the expected result, fails the test
// so that the table stays accurate.
func runVectors(t *testing.T, file string, deviations map[string]deviation, run func(v *vector) error) {
	vs := loadVectors(t, file)
	var passed, deviated, failed int
	used := map[string]bool{}
	for i := range vs {
		v := &vs[i]
		dev, isDeviation := deviations[v.Name]
		if !isDeviation {
			if err := run(v); err != nil {
				t.Errorf("%s: %v", v.Name, err)
				failed++
			} else {
				passed++
			}
			continue
		}
		used[v.Name] = true
		if run(v) == nil {
			t.Errorf("%s: vector now gives the expected result; remove its deviation (%s)", v.Name, dev.reason)
			failed++
			continue
		}
		if dev.check != nil {
			if err := dev.check(v); err != nil {
				t.Errorf("%s: deviation check: %v", v.Name, err)
				failed++
				continue
			}
		}
		deviated++
	}
	for name := range deviations {
		if !used[name] {
			t.Errorf("deviation for %q matches no vector in %s", name, file)
		}
	}
	summary := fmt.Sprintf("%s vectors: %d lines, %d ran, %d passed, %d deviated, %d failed", file, len(vs), len(vs), passed, deviated, failed)
	t.Log(summary)
	if testing.Verbose() {
		names := make([]string, 0, len(deviations))
		for name, dev := range deviations {
			names = append(names, name+": "+dev.reason)
		}
		sort.Strings(names)
		for _, n := range names {
			t.Log("  deviation " + n)
		}
	}
}

// errorKinds maps the neutral error kinds of the vectors to the sentinel
// errors that may report them.
var errorKinds = map[string][]error{
	"invalid_data":             {protocol.ErrInvalidJSON, protocol.ErrInvalidMessagePack, protocol.ErrMissingProperty, protocol.ErrWrongType, protocol.ErrInvalidMessage},
	"invalid_payload":          {protocol.ErrInvalidJSON, protocol.ErrInvalidMessagePack, protocol.ErrMissingProperty, protocol.ErrWrongType, protocol.ErrInvalidMessage},
	"invalid_json":             {protocol.ErrInvalidJSON},
	"protocol_error":           {protocol.ErrInvalidMessage},
	"not_a_handshake_response": {protocol.ErrNotHandshakeResponse},
	"message_too_large":        {protocol.ErrMessageTooLarge, protocol.ErrInvalidFraming},
	"binary_framing":           {protocol.ErrInvalidFraming},
}

// checkErrorKind returns nil when err is one of the errors of kind.
func checkErrorKind(kind string, err error) error {
	if err == nil {
		return fmt.Errorf("got no error; want %s", kind)
	}
	sentinels, ok := errorKinds[kind]
	if !ok {
		return fmt.Errorf("unknown error kind %q", kind)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			var me *protocol.MessageError
			if !errors.As(err, &me) {
				return fmt.Errorf("error %v is not a *MessageError", err)
			}
			return nil
		}
	}
	return fmt.Errorf("got error %v; want kind %s", err, kind)
}

// neutral converts m to the neutral message form of the vectors, with raw
// values converted by decodeAny.
func neutral(m *protocol.Message, decodeAny func([]byte) (any, error)) (map[string]any, error) {
	n := map[string]any{"type": float64(m.Type)}
	if m.InvocationID != "" {
		n["invocationId"] = m.InvocationID
	}

	if m.Target != "" {
		n["target"] = m.Target
	}

	if m.Type == protocol.TypeInvocation || m.Type == protocol.TypeStreamInvocation {
		args := []any{}
		for _, a := range m.Arguments {
			v, err := decodeAny(a)
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		n["arguments"] = args
	}

	if len(m.StreamIDs) > 0 {
		ids := []any{}
		for _, id := range m.StreamIDs {
			ids = append(ids, id)
		}
		n["streamIds"] = ids
	}

	if m.Type == protocol.TypeStreamItem {
		v, err := decodeAny(m.Item)
		if err != nil {
			return nil, err
		}
		n["item"] = v
	}

	if m.HasResult {
		v, err := decodeAny(m.Result)
		if err != nil {
			return nil, err
		}
		n["result"] = v
	}

	if m.HasError {
		n["error"] = m.Error
	}

	if m.AllowReconnect {
		n["allowReconnect"] = true
	}

	if m.Type == protocol.TypeAck || m.Type == protocol.TypeSequence {
		n["sequenceId"] = float64(m.SequenceID)
	}

	if len(m.Headers) > 0 {
		h := map[string]any{}
		for _, kv := range m.Headers {
			h[kv.Key] = kv.Value
		}
		n["headers"] = h
	}
	return n, nil
}

func decodeJSON(raw []byte) (any, error) {
	var v any
	err := protocol.JSON{}.Unmarshal(raw, &v)
	return v, err
}

// parseAll splits input into records and parses each, leaving out messages
// of unknown types as the protocol requires.
func parseAll(input []byte) ([]map[string]any, []*protocol.Message, error) {
	var f protocol.Framer
	if err := f.Feed(input); err != nil {
		return nil, nil, err
	}
	var got []map[string]any
	var msgs []*protocol.Message
	for {
		record, err := f.Next()
		if err != nil {
			return nil, nil, err
		}
		if record == nil {
			break
		}
		m := new(protocol.Message)
		if err := (protocol.JSON{}).ParseMessage(record, m); err != nil {
			return nil, nil, err
		}
		if !m.Type.IsKnown() {
			continue
		}
		n, err := neutral(m, decodeJSON)
		if err != nil {
			return nil, nil, err
		}
		got = append(got, n)
		msgs = append(msgs, m)
	}
	if f.Buffered() != 0 {
		return nil, nil, fmt.Errorf("%d bytes left without a record separator", f.Buffered())
	}
	return got, msgs, nil
}

func runJSONHubVector(v *vector) error {
	switch v.Direction {
	case "read":
		return runJSONRead(v)
	case "write":
		return runJSONWrite(v)
	}
	return fmt.Errorf("unknown direction %q", v.Direction)
}

func runJSONRead(v *vector) error {
	got, msgs, err := parseAll([]byte(v.Input))
	if v.ExpectError != nil {
		return checkErrorKind(v.ExpectError.Kind, err)
	}

	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}

	if v.Binder != nil {
		if len(msgs) != 1 {
			return fmt.Errorf("got %d messages; want 1", len(msgs))
		}
		return checkBinding(protocol.JSON{}, v, msgs[0])
	}

	var want any
	if err := json.Unmarshal(v.Expect, &want); err != nil {
		return err
	}

	var wantList []any
	switch w := want.(type) {
	case []any:
		wantList = w
	default:
		wantList = []any{w}
	}

	if len(got) != len(wantList) {
		return fmt.Errorf("got %d messages %v; want %d %v", len(got), got, len(wantList), wantList)
	}
	for i := range got {
		if !reflect.DeepEqual(any(got[i]), wantList[i]) {
			return fmt.Errorf("message %d = %v; want %v", i, got[i], wantList[i])
		}
	}
	return nil
}

// goTypes are the Go types that stand for the .NET parameter types of the
// binder vectors.
var goTypes = map[string]reflect.Type{
	"int":          reflect.TypeFor[int](),
	"string":       reflect.TypeFor[string](),
	"bool":         reflect.TypeFor[bool](),
	"int[]":        reflect.TypeFor[[]int](),
	"DateTime":     reflect.TypeFor[time.Time](),
	"CustomObject": reflect.TypeFor[customObject](),
}

// customObject is the .NET test type of the binder vectors.
type customObject struct {
	StringProp   string
	DoubleProp   float64
	IntProp      int
	DateTimeProp string
	NullProp     *string
	ByteArrProp  []byte
}

// checkBinding binds the raw values of m to the binder's types, as a hub
// method or handler does when it decodes its arguments.
func checkBinding(proto protocol.HubProtocol, v *vector, m *protocol.Message) error {
	var want struct {
		Type         any             `json:"type"`
		InvocationID string          `json:"invocationId"`
		Target       string          `json:"target"`
		Result       json.RawMessage `json:"result"`
		Item         json.RawMessage `json:"item"`
	}
	if err := json.Unmarshal(v.Expect, &want); err != nil {
		return err
	}
	if m.InvocationID != want.InvocationID || m.Target != want.Target {
		return fmt.Errorf("got id %q target %q; want %q %q", m.InvocationID, m.Target, want.InvocationID, want.Target)
	}
	bindingFailed := want.Type == "InvocationBindingFailure"

	switch {
	case v.Binder.ParameterTypes != nil:
		err := bindArguments(proto, m.Arguments, v.Binder.ParameterTypes)
		if bindingFailed {
			if err == nil {
				return errors.New("binding succeeded; want a binding failure")
			}
			return nil
		}
		return err
	case v.Binder.ReturnType != "":
		return bindValue(proto, m.Result, v.Binder.ReturnType, want.Result)
	case v.Binder.StreamItemType != "":
		return bindValue(proto, m.Item, v.Binder.StreamItemType, want.Item)
	}
	return errors.New("binder without types")
}

func bindArguments(proto protocol.HubProtocol, args []protocol.RawValue, types []string) error {
	if len(args) != len(types) {
		return fmt.Errorf("invocation provides %d arguments; target expects %d", len(args), len(types))
	}
	for i, a := range args {
		if err := bindValue(proto, a, types[i], nil); err != nil {
			return err
		}
	}
	return nil
}

// bindValue decodes raw into the Go type that stands for typeName and, when
// want is set, compares it with the expected value.
func bindValue(proto protocol.HubProtocol, raw protocol.RawValue, typeName string, want json.RawMessage) error {
	typ, ok := goTypes[typeName]
	if !ok {
		return fmt.Errorf("no Go type for %q", typeName)
	}
	p := reflect.New(typ)
	if err := proto.Unmarshal(raw, p.Interface()); err != nil {
		return fmt.Errorf("binding %s: %w", typeName, err)
	}
	if want == nil {
		return nil
	}
	switch got := p.Elem().Interface().(type) {
	case time.Time:
		var w struct {
			DateTime string `json:"$datetime"`
			Kind     string `json:"kind"`
		}
		if err := json.Unmarshal(want, &w); err != nil {
			return err
		}
		wt, err := time.Parse(time.RFC3339, w.DateTime)
		if err != nil {
			return err
		}
		if !got.Equal(wt) || (w.Kind == "UTC" && got.Location() != time.UTC) {
			return fmt.Errorf("got %v (%v); want %v in %s", got, got.Location(), wt, w.Kind)
		}
	case customObject:
		var w struct {
			customObject
			ByteArrProp struct {
				Base64 []byte `json:"$base64"`
			}
		}
		if err := json.Unmarshal(want, &w); err != nil {
			return err
		}
		w.customObject.ByteArrProp = w.ByteArrProp.Base64
		if !reflect.DeepEqual(got, w.customObject) {
			return fmt.Errorf("got %+v; want %+v", got, w.customObject)
		}
	default:
		return fmt.Errorf("no comparison for %T", got)
	}
	return nil
}

// vectorMessage is the neutral message form of a write vector, with raw
// values kept as the vector spells them.
type vectorMessage struct {
	Type           protocol.MessageType `json:"type"`
	InvocationID   string               `json:"invocationId"`
	Target         string               `json:"target"`
	Arguments      []json.RawMessage    `json:"arguments"`
	StreamIDs      []string             `json:"streamIds"`
	Item           json.RawMessage      `json:"item"`
	Result         json.RawMessage      `json:"result"`
	Error          *string              `json:"error"`
	AllowReconnect bool                 `json:"allowReconnect"`
	SequenceID     int64                `json:"sequenceId"`
	Headers        json.RawMessage      `json:"headers"`
}

// messageFromVector builds the Message of a write vector. encode turns each
// value of the vector into a raw value, the way a caller hands pre-encoded
// arguments to the writer.
func messageFromVector(raw json.RawMessage, encode func(json.RawMessage) (protocol.RawValue, error)) (*protocol.Message, error) {
	var vm vectorMessage
	if err := json.Unmarshal(raw, &vm); err != nil {
		return nil, err
	}
	m := &protocol.Message{
		Type:           vm.Type,
		InvocationID:   vm.InvocationID,
		Target:         vm.Target,
		StreamIDs:      vm.StreamIDs,
		AllowReconnect: vm.AllowReconnect,
		SequenceID:     vm.SequenceID,
	}
	var err error
	for _, a := range vm.Arguments {
		v, err := encode(a)
		if err != nil {
			return nil, err
		}
		m.Arguments = append(m.Arguments, v)
	}
	if vm.Item != nil {
		if m.Item, err = encode(vm.Item); err != nil {
			return nil, err
		}
	}
	if vm.Result != nil {
		if m.Result, err = encode(vm.Result); err != nil {
			return nil, err
		}
		m.HasResult = true
	}
	if vm.Error != nil {
		m.Error, m.HasError = *vm.Error, true
	}
	if vm.Headers != nil {
		headers, err := orderedStrings(vm.Headers)
		if err != nil {
			return nil, err
		}
		m.Headers = headers
	}
	return m, nil
}

// compact is the encoder of JSON write vectors: the vector's own JSON text
// with insignificant white space removed.
func compact(raw json.RawMessage) (protocol.RawValue, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orderedStrings reads a JSON object of strings keeping the property order.
func orderedStrings(raw json.RawMessage) ([]protocol.Header, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var hs []protocol.Header
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		hs = append(hs, protocol.Header{Key: k.(string), Value: v.(string)})
	}
	return hs, nil
}

func runJSONWrite(v *vector) error { return runWrite(v, protocol.JSON{}, compact) }

// runWrite builds the message of a write vector with encode and checks
// that proto writes exactly the vector's output.
func runWrite(v *vector, proto protocol.HubProtocol, encode func(json.RawMessage) (protocol.RawValue, error)) error {
	m, err := messageFromVector(v.Message, encode)
	if err != nil {
		return err
	}
	got, err := proto.AppendMessage(nil, m)
	if err != nil {
		return err
	}
	if want := v.output(); !bytes.Equal(got, want) {
		return fmt.Errorf("AppendMessage = %q (%x); want %q (%x)", got, got, want, want)
	}
	return nil
}

func TestJSONHubVectors(t *testing.T) {
	newtonsoftNumbers := "the Newtonsoft.Json serializer writes the float32 2.0 as 2.0; " +
		"arguments, items and results are pre-encoded by the caller, and the vector's " +
		"value 2 is written as given"
	deviations := map[string]deviation{
		"ts/CompletionErrorWithNullResult": {
			reason: "a Completion with both error and result, even a null result, is rejected as the .NET " +
				"reader does; the TypeScript client accepts a null result next to an error",
			check: func(v *vector) error {
				_, _, err := parseAll([]byte(v.Input))
				return checkErrorKind("protocol_error", err)
			},
		},
		"dotnet/ArgumentBindingErrors/07": {
			reason: "the input closes the object before invocationId and target; the reader rejects the " +
				"bytes after the object as invalid JSON instead of reporting a binding failure",
			check: func(v *vector) error {
				_, _, err := parseAll([]byte(v.Input))
				return checkErrorKind("invalid_json", err)
			},
		},
		"dotnet-newtonsoft/InvocationMessage_HasFloatArgument/write":       {reason: newtonsoftNumbers},
		"dotnet-newtonsoft/StreamItemMessage_HasFloatItem/write":           {reason: newtonsoftNumbers},
		"dotnet-newtonsoft/CompletionMessage_HasFloatResult/write":         {reason: newtonsoftNumbers},
		"dotnet-newtonsoft/StreamInvocationMessage_HasFloatArgument/write": {reason: newtonsoftNumbers},
		"dotnet-newtonsoft/InvocationMessage_HasHeaders/write":             {reason: newtonsoftNumbers},
	}
	runVectors(t, "json-hub.jsonl", deviations, runJSONHubVector)
}
