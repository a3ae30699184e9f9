//go:build !linux

package faultproxy

import "net"

// unsentBytes reports that the send queue size is unknown on this system,
// so shutdown closes sockets without waiting for acknowledgements.
//
// NOTE: without that wait, an abortive cut may discard bytes before the
// cut offset that are still in the proxy's send queue.
func unsentBytes(conn *net.TCPConn) (int, bool) { return 0, false }
