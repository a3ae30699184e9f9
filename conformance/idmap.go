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
// It reads Text messages with the JSON hub protocol and Binary messages
// with the MessagePack hub protocol. A Binary message may start with a
// handshake request or response, which the .NET client and server send in
// a Binary message on a MessagePack connection.
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
// Both messages must have the same frame type. They are split into hub
// messages, parsed, given the recorded ids and written again with the
// writer of their hub protocol before the bytes are compared. So JSON
// property order and white space do not count, and neither do the older
// MessagePack layouts, such as the Invocation without stream IDs and the
// Close without allowReconnect that the JavaScript client writes.
// Arguments, items and results are compared byte for byte. Hub messages
// that do not parse, a handshake at the start and an incomplete tail must
// be identical.
func (m *InvocationIDMap) Match(want, got Message) bool {
	if want.Format != got.Format {
		return false
	}
	proto, wantSplit := splitHubMessages(want)
	_, gotSplit := splitHubMessages(got)
	if !bytes.Equal(wantSplit.handshake, gotSplit.handshake) ||
		len(wantSplit.messages) != len(gotSplit.messages) ||
		!bytes.Equal(wantSplit.tail, gotSplit.tail) {
		return false
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	var wantMessage, gotMessage protocol.Message
	for i := range wantSplit.messages {
		wantErr := proto.ParseMessage(wantSplit.messages[i], &wantMessage)
		gotErr := proto.ParseMessage(gotSplit.messages[i], &gotMessage)
		if wantErr != nil || gotErr != nil || !wantMessage.Type.IsKnown() {
			if !bytes.Equal(wantSplit.messages[i], gotSplit.messages[i]) {
				return false
			}
			continue
		}
		if wantMessage.Type != gotMessage.Type || !m.pairIDs(&wantMessage, &gotMessage) {
			return false
		}
		wantBytes, err1 := proto.AppendMessage(nil, &wantMessage)
		gotBytes, err2 := proto.AppendMessage(nil, &gotMessage)
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
// leaves the server's own Invocations and other types as they are, but
// notes the ids of those Invocations, so that Match expects them unchanged
// in the client's Completions. Set both Match and Rewrite for a capture in
// which the server invokes the client with an id. A hub message that
// changes is written again with the writer of its hub protocol, which
// reproduces the bytes of the .NET server.
func (m *InvocationIDMap) Rewrite(msg Message) Message {
	proto, split := splitHubMessages(msg)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]byte(nil), split.handshake...)
	var parsed protocol.Message
	for i, payload := range split.messages {
		err := proto.ParseMessage(payload, &parsed)
		if err == nil && parsed.Type == protocol.TypeInvocation && parsed.InvocationID != "" {
			m.serverCalls[parsed.InvocationID] = true
		}
		clientID, ok := m.toClient[parsed.InvocationID]
		rewrite := err == nil && ok && clientID != parsed.InvocationID &&
			(parsed.Type == protocol.TypeStreamItem || parsed.Type == protocol.TypeCompletion)
		if rewrite {
			parsed.InvocationID = clientID
			if encoded, err := proto.AppendMessage(out, &parsed); err == nil {
				out = encoded
				continue
			}
		}
		out = append(out, split.framed[i]...)
	}
	msg.Data = append(out, split.tail...)
	return msg
}

// A splitMessage is a WebSocket message split into hub messages.
type splitMessage struct {
	// handshake is a handshake request or response, with its separator,
	// at the start of a Binary message.
	handshake []byte

	messages [][]byte // hub messages without their framing
	framed   [][]byte // the same hub messages with their framing
	tail     []byte   // bytes after the last complete hub message
}

// splitHubMessages splits m into hub messages and returns the hub protocol
// that reads them: JSON records for a Text message, MessagePack frames for
// a Binary one. A length prefix that is invalid ends the split, and the
// rest of the message becomes the tail.
func splitHubMessages(m Message) (protocol.HubProtocol, splitMessage) {
	var s splitMessage
	data := m.Data
	if m.Format != protocol.TransferFormatBinary {
		for {
			record, rest, ok := protocol.SplitRecord(data)
			if !ok {
				break
			}
			s.messages = append(s.messages, record)
			s.framed = append(s.framed, data[:len(record)+1])
			data = rest
		}
		s.tail = data
		return protocol.JSON{}, s
	}

	if n := handshakeLength(data); n > 0 {
		s.handshake, data = data[:n], data[n:]
	}
	for len(data) > 0 {
		length, n, err := protocol.ConsumeVarint(data)
		if err != nil || n == 0 || len(data)-n < length {
			break
		}
		s.messages = append(s.messages, data[n:n+length])
		s.framed = append(s.framed, data[:n+length])
		data = data[n+length:]
	}
	s.tail = data
	return protocol.MessagePack{}, s
}

// handshakeLength returns the length of the handshake request or response,
// separator included, at the start of a Binary message, or 0 when there is
// none. It cannot mistake a MessagePack hub message for a handshake: a hub
// message whose length prefix is '{' starts with an array header, which no
// JSON object has after its '{'.
func handshakeLength(data []byte) int {
	if len(data) == 0 || data[0] != '{' {
		return 0
	}
	record, _, ok := protocol.SplitRecord(data)
	if !ok {
		return 0
	}
	if _, err := protocol.ParseHandshakeResponse(record); err == nil {
		return len(record) + 1
	}
	if _, err := protocol.ParseHandshakeRequest(record); err == nil {
		return len(record) + 1
	}
	return 0
}
