// Package signalr is a SignalR hub client.
//
// A [Client] negotiates with the server, opens a WebSocket, completes the
// handshake and then exchanges hub messages. [Client.Invoke] and
// [Client.Send] call hub methods, and [Client.Stream] reads a
// server-to-client stream. A [ClientStream] argument uploads a
// client-to-server stream. Handlers registered with [Client.On] receive the
// server's invocations.
//
// # Goroutines
//
// A started Client runs one goroutine that owns all reads, one that keeps the
// connection alive, and one that runs handlers, plus one for each
// ClientStream being uploaded. Handlers run one at a time in
// the order their invocations arrived, on that handler goroutine and never on
// the read goroutine, so a slow handler delays later handlers but never pings
// or other reads. Every method of Client is safe for concurrent use.
//
// # Allocations
//
// Arguments of type [protocol.RawValue] are written as they are, without
// encoding, and a result decoded into a *[protocol.RawValue] reuses its
// capacity. With those, [Client.Invoke], [Client.Send] and the receive path
// that dispatches an invocation to a handler allocate nothing in steady
// state, as the allocation tests of this package check.
package signalr
