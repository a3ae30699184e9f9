package conformance

import (
	"bytes"
	"sync"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// An InvocationIDMap lets a [Replay] accept a client that chooses other
// invocation and stream ids than the recorded client, as long as it uses
// them consistently. Use one map per Replay:
//
//	ids := conformance.NewInvocationIDMap()
//	replay := conformance.NewReplay(capture, conformance.ReplayOptions{
//		Match:   ids.Match,
//		Rewrite: ids.Rewrite,
//	})
//
// It understands the JSON hub protocol. Binary messages must match byte
// for byte.
type InvocationIDMap struct {
	mu       sync.Mutex        // guards following
	toClient map[string]string // recorded id to the id the client uses
	recorded map[string]string // the id the client uses to the recorded id

	// serverCalls holds the ids of the server's Invocations that Rewrite
	// passed and whose Completion from the client has not matched yet.
	// The server chooses them, so the client must echo them unchanged.
	serverCalls map[string]bool
}

// NewInvocationIDMap returns an empty map.
func NewInvocationIDMap() *InvocationIDMap {
	return &InvocationIDMap{
		toClient:    make(map[string]string),
		recorded:    make(map[string]string),
		serverCalls: make(map[string]bool),
	}
}

// Match reports whether got matches want up to the ids the client chooses:
// the invocation ids of its Invocation and StreamInvocation messages and
// the ids of its streams. The first time a recorded id appears, Match pairs
// it with the client's id. Later messages must use the same pair, and two
// recorded ids cannot pair with one client id.
//
// Both messages are split into records, parsed, given the recorded ids and
// written again with the JSON writer before the bytes are compared, so
// property order, white space and unknown properties do not count. Records
// that do not parse must be identical.
func (m *InvocationIDMap) Match(want, got Message) bool {
	if want.Format != got.Format {
		return false
	}
	if want.Format != protocol.TransferFormatText {
		return bytes.Equal(want.Data, got.Data)
	}
	wantRecords, gotRecords := splitRecords(want.Data), splitRecords(got.Data)
	if len(wantRecords) != len(gotRecords) || !bytes.Equal(incompleteTail(want.Data), incompleteTail(got.Data)) {
		return false
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	var wantMessage, gotMessage protocol.Message
	for i := range wantRecords {
		wantErr := protocol.JSON{}.ParseMessage(wantRecords[i], &wantMessage)
		gotErr := protocol.JSON{}.ParseMessage(gotRecords[i], &gotMessage)
		if wantErr != nil || gotErr != nil || !wantMessage.Type.IsKnown() {
			if !bytes.Equal(wantRecords[i], gotRecords[i]) {
				return false
			}
			continue
		}
		if wantMessage.Type != gotMessage.Type || !m.pairIDs(&wantMessage, &gotMessage) {
			return false
		}
		wantBytes, err1 := protocol.JSON{}.AppendMessage(nil, &wantMessage)
		gotBytes, err2 := protocol.JSON{}.AppendMessage(nil, &gotMessage)
		if err1 != nil || err2 != nil || !bytes.Equal(wantBytes, gotBytes) {
			return false
		}
	}
	return true
}

// pairIDs pairs or checks the ids of one client message and gives got the
// recorded ids.
func (m *InvocationIDMap) pairIDs(want, got *protocol.Message) bool {
	switch want.Type {
	case protocol.TypeInvocation, protocol.TypeStreamInvocation:
		if !m.pair(want.InvocationID, got.InvocationID) {
			return false
		}
		if len(want.StreamIDs) != len(got.StreamIDs) {
			return false
		}
		for j := range want.StreamIDs {
			if !m.pair(want.StreamIDs[j], got.StreamIDs[j]) {
				return false
			}
		}
		got.InvocationID = want.InvocationID
		got.StreamIDs = append(got.StreamIDs[:0], want.StreamIDs...)
	case protocol.TypeStreamItem, protocol.TypeCompletion, protocol.TypeCancelInvocation:
		// These carry an id the client paired before, or the id of an
		// invocation of the server, which the replay sends unchanged.
		clientID, ok := m.toClient[want.InvocationID]
		if !ok || want.Type == protocol.TypeCompletion && m.serverCalls[want.InvocationID] {
			clientID = want.InvocationID
		}
		if want.Type == protocol.TypeCompletion && got.InvocationID == clientID {
			delete(m.serverCalls, want.InvocationID)
		}
		if got.InvocationID != clientID {
			return false
		}
		got.InvocationID = want.InvocationID
	}
	return true
}

// pair records that the client uses clientID for recordedID, or checks an
// earlier pairing. An empty id pairs only with an empty id.
func (m *InvocationIDMap) pair(recordedID, clientID string) bool {
	if recordedID == "" || clientID == "" {
		return recordedID == clientID
	}
	if known, ok := m.toClient[recordedID]; ok {
		return known == clientID
	}
	if _, paired := m.recorded[clientID]; paired {
		return false
	}
	m.toClient[recordedID] = clientID
	m.recorded[clientID] = recordedID
	return true
}

// Rewrite replaces the recorded ids in the StreamItem and Completion
// messages of a recorded server message by the ids the client chose. It
// leaves the server's own Invocations, other types and binary messages as
// they are, but notes the ids of those Invocations, so that Match expects
// them unchanged in the client's Completions. Set both Match and Rewrite
// for a capture in which the server invokes the client with an id. A record
// that changes is written again with the JSON writer, which reproduces the
// bytes of the .NET server.
func (m *InvocationIDMap) Rewrite(msg Message) Message {
	if msg.Format != protocol.TransferFormatText {
		return msg
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	var parsed protocol.Message
	for _, record := range splitRecords(msg.Data) {
		err := protocol.JSON{}.ParseMessage(record, &parsed)
		if err == nil && parsed.Type == protocol.TypeInvocation && parsed.InvocationID != "" {
			m.serverCalls[parsed.InvocationID] = true
		}
		clientID, ok := m.toClient[parsed.InvocationID]
		rewrite := err == nil && ok && clientID != parsed.InvocationID &&
			(parsed.Type == protocol.TypeStreamItem || parsed.Type == protocol.TypeCompletion)
		if rewrite {
			parsed.InvocationID = clientID
			if encoded, err := (protocol.JSON{}).AppendMessage(out, &parsed); err == nil {
				out = encoded
				continue
			}
		}
		out = protocol.AppendRecord(out, record)
	}
	msg.Data = append(out, incompleteTail(msg.Data)...)
	return msg
}

// incompleteTail returns the bytes after the last record separator.
func incompleteTail(data []byte) []byte {
	return data[bytes.LastIndexByte(data, protocol.RecordSeparator)+1:]
}

// splitRecords returns the complete records of data, without separators.
func splitRecords(data []byte) [][]byte {
	var records [][]byte
	for {
		record, rest, ok := protocol.SplitRecord(data)
		if !ok {
			return records
		}
		records = append(records, record)
		data = rest
	}
}
