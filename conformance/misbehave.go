package conformance

import (
	"strconv"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// DefaultBatchDelay is the time the writer waits for the next message of a
// batch when [Misbehavior.BatchDelay] is zero.
const DefaultBatchDelay = 20 * time.Millisecond

// Misbehavior selects deviations from the traffic of the .NET server. Each
// one is legal by the protocol but unusual, so that tests can check that a
// client copes with it. The zero value selects none. The deviations apply
// to every connection of the server and combine in this order: a message
// gets its stray messages in front, messages are batched, and each
// WebSocket message is split into frames.
type Misbehavior struct {
	// SplitFrames splits every outgoing WebSocket data message into this
	// many frames: a Text or Binary frame without FIN followed by
	// continuation frames. A message shorter than SplitFrames bytes gets one
	// frame per byte. Zero or one sends each message in one frame.
	SplitFrames int

	// BatchMessages puts up to this many hub messages into one WebSocket
	// message. The writer waits up to BatchDelay for each further message
	// and sends a shorter batch when none comes. Zero or one sends one hub
	// message per WebSocket message.
	BatchMessages int

	// BatchDelay is how long a batch waits for its next message. Zero means
	// [DefaultBatchDelay].
	BatchDelay time.Duration

	// CoalesceHandshake sends the handshake response, a Ping and the
	// messages sent by [Options.OnConnected] in one WebSocket message, so
	// that hub messages follow the handshake response's separator in the
	// same frame. That message has the frame type of the hub protocol
	// regardless of HandshakeFormat, because a Text message must be valid
	// UTF-8, which MessagePack data need not be. The default, false, sends
	// the handshake response alone.
	CoalesceHandshake bool

	// HandshakeFormat sends a successful handshake response that goes out
	// alone in a WebSocket message of this frame type. Zero sends it in the
	// frame type of the selected hub protocol, as the ASP.NET Core server
	// does: it switches the transport to the protocol's transfer format
	// before it writes the response, so a MessagePack connection gets a
	// Binary message. [protocol.TransferFormatText] sends the response as
	// Text for every protocol, which clients must accept too. The
	// response to a failed handshake is a Text message regardless of
	// HandshakeFormat.
	HandshakeFormat protocol.TransferFormat

	// UnknownTypeBeforeEach sends a hub message of the undefined type 99
	// before every hub message. Readers must ignore unknown types. The
	// JSON form carries extra properties, {"type":99,"payload":{...}}; the
	// binary form is the MessagePack array [99]. The default is false.
	UnknownTypeBeforeEach bool

	// StrayCompletions sends a void Completion for an invocation id the
	// client never used ("stray-1", "stray-2", ...) before every
	// Completion. Connections with stateful reconnect send none, because
	// the client would count them and its sequence ids would no longer
	// match the server's. The default is false.
	StrayCompletions bool

	// PingDelay delays every keep-alive Ping: it is sent when nothing was
	// written for KeepAliveInterval + PingDelay. Zero sends Pings on time.
	PingDelay time.Duration

	// DropPings stops keep-alive Pings. The Ping of CoalesceHandshake is
	// still sent. The default, false, sends them.
	DropPings bool
}

// unknownTypeJSON and unknownTypeMessagePack are the hub messages of
// UnknownTypeBeforeEach, framed.
var (
	unknownTypeJSON        = []byte(`{"type":99,"payload":{"nested":[1,"two",null],"invocationId":"stray"}}` + "\x1e")
	unknownTypeMessagePack = []byte{0x02, 0x91, 0x63}
)

// expand appends the framed hub message of item to dst, preceded by the
// stray messages the misbehaviors ask for. It returns dst and the number of
// hub messages appended.
func (c *Conn) expand(w *writeState, dst []byte, item *outgoing) ([]byte, int) {
	misbehave := &c.opts.Misbehave
	count := 1
	if misbehave.UnknownTypeBeforeEach {
		if c.proto.TransferFormat() == protocol.TransferFormatBinary {
			dst = append(dst, unknownTypeMessagePack...)
		} else {
			dst = append(dst, unknownTypeJSON...)
		}
		count++
	}
	if misbehave.StrayCompletions && item.msgType == protocol.TypeCompletion && c.seq.Load() == nil {
		w.strayIDs++
		stray := protocol.Message{Type: protocol.TypeCompletion, InvocationID: "stray-" + strconv.Itoa(w.strayIDs)}
		var err error
		if dst, err = c.proto.AppendMessage(dst, &stray); err == nil {
			count++
		}
	}
	return append(dst, item.data...), count
}
