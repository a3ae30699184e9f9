package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// DefaultReplayTimeout is the time a [Replay] waits for each client message
// when [ReplayOptions.Timeout] is zero.
const DefaultReplayTimeout = 10 * time.Second

// maxReplayMessageSize bounds a client message a Replay reads, in bytes.
const maxReplayMessageSize = 64 << 20

// ReplayOptions configures a [Replay]. The zero value serves the hub at
// [DefaultPath] and compares client messages byte for byte.
type ReplayOptions struct {
	// Path is the URL path of the hub. The default is [DefaultPath].
	Path string

	// Match reports whether got, a message the client sent, matches want,
	// the recorded client message at the same place. The default requires
	// the same frame type and identical bytes. [InvocationIDMap.Match]
	// allows a client that numbers its invocations differently.
	Match func(want, got Message) bool

	// Rewrite, when set, is applied to every recorded server message
	// before it is sent, such as [InvocationIDMap.Rewrite]. The default
	// sends the recorded bytes.
	Rewrite func(m Message) Message

	// Ignore, when set, reports client messages that take no part in the
	// comparison: recorded ones are skipped and received ones are dropped.
	// [IgnorePings] ignores the client's keep-alive Pings, whose number
	// depends on timing. The default compares every client message.
	Ignore func(m Message) bool

	// Timeout bounds the wait for each expected client message. Zero
	// means [DefaultReplayTimeout].
	Timeout time.Duration

	// Logger receives the start and end of the session. The default
	// discards everything.
	Logger *slog.Logger
}

// A Mismatch reports the first place where a client's traffic differs from
// the capture a [Replay] plays.
type Mismatch struct {
	// Index is the position in Capture.Messages of the recorded client
	// message that was expected.
	Index int

	// Want is the recorded client message.
	Want Message

	// Got is the message the client sent, or nil when none arrived.
	Got *Message

	// Err is the reason no message arrived, such as a timeout or the
	// client closing the connection. It is nil when Got is set.
	Err error
}

func (m *Mismatch) Error() string {
	var b strings.Builder
	b.WriteString("conformance: replay differs at message ")
	b.WriteString(strconv.Itoa(m.Index))
	b.WriteString("\n\twant ")
	b.Write(appendMessageLine(nil, m.Want))
	if m.Got != nil {
		b.WriteString("\n\tgot  ")
		b.Write(appendMessageLine(nil, *m.Got))
	} else {
		b.WriteString("\n\tgot  no message: ")
		b.WriteString(m.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason no message arrived.
func (m *Mismatch) Unwrap() error { return m.Err }

// appendMessageLine appends m in the form of a capture line, without the
// newline.
func appendMessageLine(dst []byte, m Message) []byte {
	dst = append(dst, m.Direction.String()...)
	if m.Format == protocol.TransferFormatBinary {
		dst = append(dst, " binary"...)
	} else {
		dst = append(dst, " text"...)
	}
	if len(m.Data) > 0 {
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, m.Data)
	}
	return dst
}

// IgnorePings reports whether m is exactly one Ping hub message in the JSON
// or the MessagePack protocol. It is meant for [ReplayOptions.Ignore].
func IgnorePings(m Message) bool {
	return string(m.Data) == "{\"type\":6}\x1e" || string(m.Data) == "\x02\x91\x06"
}

// A Replay is a scripted server that plays the server side of a capture
// against one client over a real WebSocket. It responds to negotiate with a
// new connection and accepts one WebSocket on the hub path. Then it walks
// the capture: it waits for each recorded client message and compares it
// with what the client sends, and it sends each recorded server message
// when its turn comes. After the last message it closes the WebSocket. The
// first difference ends the session with a *[Mismatch]. A capture that
// reattaches a WebSocket ([Message.Reattached]) ends with a *Mismatch at the
// reattach, because a Replay serves one WebSocket.
//
// A Replay is an [http.Handler], and [Replay.Listen] runs it on a loopback
// port.
type Replay struct {
	capture *Capture
	opts    ReplayOptions
	done    chan struct{} // closed when result is set

	mu         sync.Mutex // guards following
	started    bool       // a WebSocket session has begun
	closed     bool
	result     error
	httpServer *http.Server
	baseURL    string
	netConn    net.Conn // the session's connection, closed by Close
	sessions   sync.WaitGroup
}

// NewReplay returns a Replay of c. It does not listen: use it as an
// [http.Handler] or call [Replay.Listen].
func NewReplay(c *Capture, opts ReplayOptions) *Replay {
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.Match == nil {
		opts.Match = func(want, got Message) bool {
			return want.Format == got.Format && bytes.Equal(want.Data, got.Data)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultReplayTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Replay{capture: c, opts: opts, done: make(chan struct{})}
}

// Listen starts serving on 127.0.0.1 on a free port and returns the base
// URL. The hub is at [Replay.HubURL].
func (r *Replay) Listen() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	httpServer := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.opts.Logger.Handler(), slog.LevelDebug),
	}
	r.mu.Lock()
	if r.closed || r.httpServer != nil {
		r.mu.Unlock()
		ln.Close()
		return "", errors.New("conformance: replay is closed or already listening")
	}
	r.httpServer = httpServer
	r.baseURL = "http://" + ln.Addr().String()
	r.sessions.Add(1)
	r.mu.Unlock()

	go func() {
		defer r.sessions.Done()
		httpServer.Serve(ln)
	}()
	return r.baseURL, nil
}

// URL returns the base URL [Replay.Listen] returned, or "" before Listen.
func (r *Replay) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.baseURL
}

// HubURL returns the URL of the hub, or "" before Listen.
func (r *Replay) HubURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.baseURL == "" {
		return ""
	}
	return r.baseURL + r.opts.Path
}

// Wait waits until the session has ended and returns its result: nil when
// the client sent every recorded message, a *[Mismatch] at the first
// difference, or [ErrServerClosed] when Close came first.
func (r *Replay) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.result
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the listener and the session and waits for their goroutines.
func (r *Replay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	httpServer, netConn := r.httpServer, r.netConn
	r.mu.Unlock()

	var err error
	if httpServer != nil {
		err = httpServer.Close()
	}
	if netConn != nil {
		netConn.Close()
	}
	r.sessions.Wait()
	r.finish(ErrServerClosed)
	return err
}

// finish sets the result once.
func (r *Replay) finish(result error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
	default:
		r.result = result
		close(r.done)
	}
}

// ServeHTTP serves negotiate and the first WebSocket on the hub path. A
// second WebSocket gets 409 Conflict.
func (r *Replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case r.opts.Path + "/negotiate":
		r.serveNegotiate(w, req)
	case r.opts.Path:
		r.serveWebSocket(w, req)
	default:
		http.NotFound(w, req)
	}
}

func (r *Replay) serveNegotiate(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	version, errText := selectNegotiateVersion(req.URL.Query())
	if errText != "" {
		writeNegotiateJSON(w, appendNegotiateError(nil, errText))
		return
	}
	resp := negotiateResponse{
		version:   version,
		id:        newConnectionID(),
		token:     newConnectionID(),
		withToken: version > 0,
	}
	writeNegotiateJSON(w, resp.append(nil))
}

func (r *Replay) serveWebSocket(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		http.Error(w, "The replay serves one WebSocket session.", http.StatusConflict)
		return
	}
	r.started = true
	r.mu.Unlock()

	netConn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(req, w)
	if err != nil {
		r.finish(err)
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		netConn.Close()
		return
	}
	r.netConn = netConn
	r.sessions.Add(1)
	r.mu.Unlock()
	defer r.sessions.Done()
	defer netConn.Close()

	r.opts.Logger.Debug("replay session started", "scenario", r.capture.Scenario)
	session := &replaySession{
		replay:  r,
		netConn: netConn,
		reader:  &wsutil.Reader{Source: rw.Reader, State: ws.StateServerSide, MaxMessageSize: maxReplayMessageSize},
	}
	result := session.play()
	r.mu.Lock()
	if r.closed {
		result = ErrServerClosed
	}
	r.mu.Unlock()
	r.opts.Logger.Debug("replay session ended", "scenario", r.capture.Scenario, "result", result)
	r.finish(result)
	session.close()
}

// A replaySession plays the capture on one WebSocket from one goroutine.
type replaySession struct {
	replay  *Replay
	netConn net.Conn
	reader  *wsutil.Reader
}

// play walks the capture and returns nil or the first *Mismatch.
func (s *replaySession) play() error {
	opts := &s.replay.opts
	for i, m := range s.replay.capture.Messages {
		if m.Reattached {
			return &Mismatch{Index: i, Want: m, Err: errReplayReattach}
		}
		if m.Direction == ServerToClient {
			if opts.Rewrite != nil {
				m = opts.Rewrite(m)
			}
			if err := s.write(opcodeOf(m.Format), m.Data); err != nil {
				return &Mismatch{Index: i, Want: m, Err: err}
			}
			continue
		}
		if opts.Ignore != nil && opts.Ignore(m) {
			continue
		}
		got, err := s.readClientMessage()
		if err != nil {
			return &Mismatch{Index: i, Want: m, Err: err}
		}
		if !opts.Match(m, got) {
			return &Mismatch{Index: i, Want: m, Got: &got}
		}
	}
	return nil
}

var errReplayClientClosed = errors.New("conformance: the client closed the WebSocket")

// errReplayReattach stops a Replay at a reattach, which it cannot play
// because it serves one WebSocket.
var errReplayReattach = errors.New("conformance: the capture reattaches a WebSocket here, which a replay does not support")

// readClientMessage returns the next client data message that Ignore does
// not drop. It replies to WebSocket Pings on the way.
func (s *replaySession) readClientMessage() (Message, error) {
	opts := &s.replay.opts
	for {
		s.netConn.SetReadDeadline(time.Now().Add(opts.Timeout))
		hdr, err := s.reader.NextFrame()
		if err != nil {
			return Message{}, err
		}
		if hdr.OpCode.IsControl() {
			payload, err := io.ReadAll(s.reader)
			if err != nil {
				return Message{}, err
			}
			switch hdr.OpCode {
			case ws.OpPing:
				if err := s.write(ws.OpPong, payload); err != nil {
					return Message{}, err
				}
			case ws.OpClose:
				s.write(ws.OpClose, payload)
				return Message{}, errReplayClientClosed
			}
			continue
		}
		data, err := io.ReadAll(s.reader)
		if err != nil {
			return Message{}, err
		}
		m := Message{Direction: ClientToServer, Format: formatOf(hdr.OpCode), Data: data}
		if opts.Ignore != nil && opts.Ignore(m) {
			continue
		}
		return m, nil
	}
}

// write sends one unfragmented frame.
func (s *replaySession) write(op ws.OpCode, payload []byte) error {
	s.netConn.SetWriteDeadline(time.Now().Add(s.replay.opts.Timeout))
	return ws.WriteFrame(s.netConn, ws.NewFrame(op, true, payload))
}

// close sends a normal close frame and waits up to closeTimeout for the
// client's, discarding what else arrives.
func (s *replaySession) close() {
	if err := s.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		return
	}
	s.netConn.SetReadDeadline(time.Now().Add(closeTimeout))
	for {
		hdr, err := s.reader.NextFrame()
		if err != nil || hdr.OpCode == ws.OpClose {
			return
		}
		if err := s.reader.Discard(); err != nil {
			return
		}
	}
}
