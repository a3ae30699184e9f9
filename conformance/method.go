package conformance

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A MethodFunc is a hub method with a result. The result is encoded with the
// connection's protocol; a [protocol.RawValue] result is sent as it is. A
// non-nil error becomes the error of the Completion, with the text of
// err.Error() unchanged, as a .NET hub with detailed errors sends it.
type MethodFunc func(call *Call) (result any, err error)

// A VoidFunc is a hub method without a result. Its Completion is void: it
// has neither result nor error.
type VoidFunc func(call *Call) error

// A StreamFunc is a hub method that streams items to the caller. It calls
// send for each item, and returns when the stream ends. send fails once the
// caller has canceled the stream or the connection has ended. The stream's
// Completion carries the returned error, or nothing when the error is nil or
// the caller canceled the stream.
type StreamFunc func(call *Call, send func(item any) error) error

type methodKind uint8

const (
	methodResult methodKind = iota
	methodVoid
	methodStream
)

type hubMethod struct {
	kind   methodKind
	result MethodFunc
	void   VoidFunc
	stream StreamFunc
}

// A Hub is a set of named methods that clients invoke. Method names are
// case-sensitive, as on the .NET server. Register methods before the hub
// serves connections. Registering later is safe for concurrent use, but a
// call that arrives meanwhile may find the old method or the new one.
type Hub struct {
	mu      sync.RWMutex // guards methods
	methods map[string]*hubMethod
}

// NewHub returns a hub without methods.
func NewHub() *Hub {
	return &Hub{methods: make(map[string]*hubMethod)}
}

// Handle registers a method with a result, replacing any method of that
// name.
func (h *Hub) Handle(name string, f MethodFunc) {
	h.register(name, &hubMethod{kind: methodResult, result: f})
}

// HandleVoid registers a method without a result, replacing any method of
// that name.
func (h *Hub) HandleVoid(name string, f VoidFunc) {
	h.register(name, &hubMethod{kind: methodVoid, void: f})
}

// HandleStream registers a server-to-client streaming method, replacing any
// method of that name. Clients call it with StreamInvocation.
func (h *Hub) HandleStream(name string, f StreamFunc) {
	h.register(name, &hubMethod{kind: methodStream, stream: f})
}

func (h *Hub) register(name string, m *hubMethod) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.methods[name] = m
}

func (h *Hub) lookup(name string) *hubMethod {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.methods[name]
}

// A Call is one invocation of a hub method. Its arguments and streams belong
// to the method until it returns.
type Call struct {
	conn         *Conn
	method       *hubMethod
	ctx          context.Context
	cancel       context.CancelFunc
	target       string
	invocationID string
	args         []protocol.RawValue
	streams      []*ClientStream

	canceledByClient atomic.Bool // set by CancelInvocation

	// afterReply, when set by a single-result or void method, runs once
	// its Completion has been queued, or once it has returned when the
	// invocation has no id.
	afterReply func()
}

// Context returns a context that is done when the caller cancels the
// invocation with CancelInvocation or when the connection ends.
func (c *Call) Context() context.Context { return c.ctx }

// Conn returns the connection of the caller.
func (c *Call) Conn() *Conn { return c.conn }

// Target returns the method name the client invoked.
func (c *Call) Target() string { return c.target }

// InvocationID returns the invocation id, or "" for a non-blocking
// invocation.
func (c *Call) InvocationID() string { return c.invocationID }

// Args returns the arguments, encoded in the connection's protocol.
// Streamed arguments are not among them; see [Call.Streams].
func (c *Call) Args() []protocol.RawValue { return c.args }

// Streams returns the client-to-server streams of the invocation, in the
// order of its streamIds.
func (c *Call) Streams() []*ClientStream { return c.streams }

// Bind decodes the arguments into the values dst points to. It fails with a
// *BindingError when the number of arguments differs from len(dst) or an
// argument does not decode.
func (c *Call) Bind(dst ...any) error {
	if len(c.args) != len(dst) {
		return &BindingError{Detail: fmt.Sprintf("Invocation provides %d argument(s) but target expects %d.", len(c.args), len(dst))}
	}
	for i, arg := range c.args {
		if err := c.conn.proto.Unmarshal(arg, dst[i]); err != nil {
			return &BindingError{Detail: "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.", Err: err}
		}
	}
	return nil
}

// A BindingError reports arguments that do not fit the parameters of a hub
// method. The Completion of such an invocation carries the .NET error text
// "Failed to invoke '<method>' due to an error on the server.
// InvalidDataException: <Detail>".
type BindingError struct {
	Detail string
	Err    error // the decoding error, if any
}

func (e *BindingError) Error() string {
	if e.Err != nil {
		return "conformance: binding arguments: " + e.Detail + ": " + e.Err.Error()
	}
	return "conformance: binding arguments: " + e.Detail
}

// Unwrap returns the decoding error.
func (e *BindingError) Unwrap() error { return e.Err }

// A CompletionError is the error a client sent in a Completion, for an
// invocation the server made or for a stream the client sent. Error
// returns the client's text unchanged, so that a hub method that returns it
// passes the text on.
type CompletionError struct {
	Message string
}

func (e *CompletionError) Error() string { return e.Message }

// A ClientStream is one client-to-server stream of an invocation: the
// StreamItem messages sent on one stream id, ended by a Completion.
type ClientStream struct {
	id        string
	items     chan protocol.RawValue
	completed chan struct{} // closed when the client's Completion arrived
	abandoned chan struct{} // closed when the hub method has returned
	err       error         // set before completed is closed
}

func newClientStream(id string, capacity int) *ClientStream {
	return &ClientStream{
		id:        id,
		items:     make(chan protocol.RawValue, capacity),
		completed: make(chan struct{}),
		abandoned: make(chan struct{}),
	}
}

// ID returns the stream id the client chose.
func (s *ClientStream) ID() string { return s.id }

// Recv returns the next item of the stream. After the last item it returns
// [io.EOF], or a *[CompletionError] when the client ended the stream with an
// error. It fails with ctx.Err() when ctx is done first.
func (s *ClientStream) Recv(ctx context.Context) (protocol.RawValue, error) {
	select {
	case item := <-s.items:
		return item, nil
	default:
	}
	select {
	case item := <-s.items:
		return item, nil
	case <-s.completed:
		// Items are queued before completed is closed, so a final look
		// finds any that are left.
		select {
		case item := <-s.items:
			return item, nil
		default:
		}
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Send sends an Invocation without an invocation id to the client, which
// must not reply to it. Arguments are encoded with the connection's protocol;
// a [protocol.RawValue] is sent as it is.
func (c *Conn) Send(ctx context.Context, target string, args ...any) error {
	m := protocol.Message{Type: protocol.TypeInvocation, Target: target}
	if err := c.encodeArgs(&m, args); err != nil {
		return err
	}
	return c.SendMessage(ctx, &m)
}

// Invoke sends an Invocation with a new invocation id to the client and
// waits for the client's Completion. It returns the result, which is nil for
// a void Completion, or a *[CompletionError] with the client's error text.
// It fails with ctx.Err() when ctx is done first and with [ErrConnClosed]
// when the connection ends first.
func (c *Conn) Invoke(ctx context.Context, target string, args ...any) (protocol.RawValue, error) {
	m := protocol.Message{Type: protocol.TypeInvocation, Target: target}
	if err := c.encodeArgs(&m, args); err != nil {
		return nil, err
	}
	reply := make(chan *protocol.Message, 1)
	c.mu.Lock()
	c.lastInvocationID++
	m.InvocationID = strconv.FormatInt(c.lastInvocationID, 10)
	c.pending[m.InvocationID] = reply
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.InvocationID)
		c.mu.Unlock()
	}()

	if err := c.SendMessage(ctx, &m); err != nil {
		return nil, err
	}
	select {
	case completion := <-reply:
		if completion.HasError {
			return nil, &CompletionError{Message: completion.Error}
		}
		return completion.Result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrConnClosed
	}
}

// SendMessage encodes m with the connection's protocol and sends it. On a
// connection with stateful reconnect, a trackable message first waits while
// the messages the client has not acknowledged fill the buffer, and ctx
// bounds only that wait. It succeeds even while the connection has no
// WebSocket, because the server keeps it and resends it when the client
// reattaches.
func (c *Conn) SendMessage(ctx context.Context, m *protocol.Message) error {
	if c.proto == nil || !c.isOpen() {
		return ErrConnClosed
	}
	record, err := c.proto.AppendMessage(nil, m)
	if err != nil {
		return err
	}
	return c.sendRecord(ctx, m.Type, record, true)
}

// SendRaw sends record as one hub message, subject to the misbehaviors like
// any other. record must include its framing: the trailing 0x1E of the JSON
// protocol or the varint length prefix of MessagePack. The server does not
// check it, so tests can send malformed messages. With stateful reconnect,
// a record that parses as a trackable message is numbered and kept like
// one that SendMessage sends; any other record is not.
func (c *Conn) SendRaw(ctx context.Context, record []byte) error {
	if !c.isOpen() {
		return ErrConnClosed
	}
	data := append([]byte(nil), record...)
	return c.sendRecord(ctx, c.rawMessageType(data), data, true)
}

// rawMessageType returns the type of a framed record on a connection with
// stateful reconnect, or 0 when there is no such connection or the record
// is not one valid hub message.
func (c *Conn) rawMessageType(record []byte) protocol.MessageType {
	if c.seq.Load() == nil {
		return 0
	}
	framer := protocol.Framer{Format: c.proto.TransferFormat(), MaxMessageSize: -1}
	if framer.Feed(record) != nil {
		return 0
	}
	payload, err := framer.Next()
	if err != nil || payload == nil {
		return 0
	}
	if rest, err := framer.Next(); err != nil || rest != nil {
		return 0
	}
	var m protocol.Message
	if c.proto.ParseMessage(payload, &m) != nil {
		return 0
	}
	return m.Type
}

// Close sends a Close message and ends the connection. An empty errText
// sends Close without an error.
func (c *Conn) Close(errText string, allowReconnect bool) {
	c.closeWith(errText, errText != "", allowReconnect)
}

func (c *Conn) encodeArgs(m *protocol.Message, args []any) error {
	if c.proto == nil {
		return ErrConnClosed
	}
	for _, arg := range args {
		raw, err := c.encodeValue(arg)
		if err != nil {
			return err
		}
		m.Arguments = append(m.Arguments, raw)
	}
	return nil
}

// encodeValue encodes v with the connection's protocol, or returns it as it
// is when it is a protocol.RawValue.
func (c *Conn) encodeValue(v any) (protocol.RawValue, error) {
	if raw, ok := v.(protocol.RawValue); ok {
		return raw, nil
	}
	data, err := c.proto.AppendValue(nil, v)
	if err != nil {
		return nil, fmt.Errorf("conformance: encoding a value of type %T: %w", v, err)
	}
	return data, nil
}
