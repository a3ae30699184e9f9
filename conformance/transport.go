package conformance

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A transport is one WebSocket of a connection. A connection is served by
// one transport at a time. With stateful reconnect, a transport that ends
// without a Close message can be followed by a new WebSocket with the same
// connection token.
type transport struct {
	netConn net.Conn
	reader  *wsutil.Reader
	framer  protocol.Framer // owned by the read goroutine

	lost      atomic.Bool // set once the transport is closed or failed
	closeOnce sync.Once
}

func newTransport(c *Conn, netConn net.Conn, br *bufio.Reader) *transport {
	t := &transport{netConn: netConn}
	t.framer.Format = protocol.TransferFormatText
	t.framer.MaxMessageSize = c.opts.MaxReceiveMessageSize
	t.reader = &wsutil.Reader{
		Source: br,
		State:  ws.StateServerSide,
		OnIntermediate: func(h ws.Header, r io.Reader) error {
			return c.handleControl(h, r)
		},
	}
	return t
}

// close marks the transport lost and closes its TCP connection without a
// WebSocket close frame. The goroutines reading and writing it then fail.
func (t *transport) close() {
	t.lost.Store(true)
	t.closeOnce.Do(func() { t.netConn.Close() })
}

func (t *transport) isLost() bool { return t.lost.Load() }
