package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrCut is the [Conn.Err] of a connection that a cut fault closed.
var ErrCut = errors.New("faultproxy: connection cut")

// A Direction selects the half of a proxied connection that a fault
// applies to.
type Direction int

const (
	// ClientToServer is the bytes that the client sends to the target.
	ClientToServer Direction = 1 << iota
	// ServerToClient is the bytes that the target sends to the client.
	ServerToClient
	// Both is both halves of the connection.
	Both = ClientToServer | ServerToClient
)

// Indexes of the two halves in Conn.halves and Proxy.defaults.
const (
	clientToServer = 0
	serverToClient = 1
)

// String returns "client-to-server", "server-to-client" or "both".
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "client-to-server"
	case ServerToClient:
		return "server-to-client"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// halves returns the indexes of the halves that d selects. It panics on a
// value other than the three Direction constants, because that is a bug in
// the calling test.
func (d Direction) halves() []int {
	switch d {
	case ClientToServer:
		return []int{clientToServer}
	case ServerToClient:
		return []int{serverToClient}
	case Both:
		return []int{clientToServer, serverToClient}
	}
	panic(fmt.Sprintf("faultproxy: invalid %v", d))
}

// halfName names the half at index i in error messages.
func halfName(i int) string {
	if i == clientToServer {
		return ClientToServer.String()
	}
	return ServerToClient.String()
}

// A CloseMode selects how the proxy closes a TCP connection.
type CloseMode int

const (
	// Graceful sends FIN after the bytes already forwarded and then closes
	// the socket. On Linux, closing a socket that still has unread input
	// also sends a reset (RST), so the peer may see "connection reset by
	// peer" when it writes after reading the end of stream.
	Graceful CloseMode = iota
	// Abortive closes the socket with SO_LINGER set to 0, which sends a
	// reset (RST). The peer reads the bytes that reached it before the reset
	// and then "connection reset by peer".
	Abortive
)

// String returns "graceful" or "abortive".
func (m CloseMode) String() string {
	switch m {
	case Graceful:
		return "graceful"
	case Abortive:
		return "abortive"
	}
	return fmt.Sprintf("CloseMode(%d)", int(m))
}

// closeTCP closes conn in mode without waiting for unsent bytes.
func closeTCP(conn *net.TCPConn, mode CloseMode) {
	if mode == Abortive {
		conn.SetLinger(0)
	}
	conn.Close()
}

// faults is the fault configuration of one half of a connection. The
// offsets count bytes from the start of the connection in that direction.
type faults struct {
	cutAt      int64 // -1 for no cut
	cutMode    CloseMode
	truncateAt int64 // -1 for no truncation
	stalled    bool
	stallUntil time.Time // zero when stalled until resumed
	rate       int64     // bytes per second; 0 for unlimited
	latency    time.Duration
}

// noFaults returns the configuration of a half without faults.
func noFaults() faults {
	return faults{cutAt: -1, truncateAt: -1}
}
