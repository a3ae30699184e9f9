// Package faultproxy is a TCP proxy for tests that breaks connections in
// controlled ways.
//
// A [Proxy] listens on 127.0.0.1 and forwards every accepted connection to
// one target on the loopback network, in both directions. A test points its
// client at [Proxy.Addr] instead of the server and then injects faults while
// traffic flows:
//
//   - [Proxy.Cut] closes connections now, and [Proxy.CutAt] closes them when
//     a byte offset is reached in one direction. Bytes before the offset are
//     delivered and no byte after it is.
//   - [Proxy.Stall] holds a direction's data until [Proxy.Resume], and
//     [Proxy.StallFor] holds it for a duration.
//   - [Proxy.Slow] limits a direction's throughput and delays each chunk.
//   - [Proxy.Truncate] delivers the first n bytes of a direction and drops
//     the rest while the connection stays open, like a half-dead peer.
//   - [Proxy.Reject] accepts new connections and closes them at once, and
//     [Proxy.Hold] leaves them unaccepted until [Proxy.Allow].
//
// Fault methods on a Proxy apply to current and future connections. The
// same methods on a [Conn] apply to that connection only. Offsets and byte
// counts always start at the beginning of each connection. Faults can also
// be set from [Proxy.OnConn] before a new connection forwards its first
// byte.
//
// A test observes the proxy without sleeping: [Proxy.WaitConn] returns the
// n-th forwarded connection once it has arrived, so a test can wait for a
// client to reconnect, and [Conn.Forwarded] and [Conn.Done] report progress
// and the end of a connection.
//
// [Proxy.Close] closes the listener and every connection, and returns after
// all goroutines of the proxy have ended. Every wait inside the proxy ends
// when the proxy is closed.
package faultproxy
