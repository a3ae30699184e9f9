// Package signalr is a SignalR hub client.
//
// A [Client] negotiates with the server, opens a WebSocket, completes the
// handshake and then exchanges hub messages. [Client.Invoke] and
// [Client.Send] call hub methods, and [Client.Stream] reads a
// server-to-client stream. A [ClientStream] argument uploads a
// client-to-server stream. Handlers registered with [Client.On] receive the
// server's invocations.
//
// # Reconnecting
//
// By default a lost connection ends the client: [Client.Done] is closed,
// and [Client.Err] returns the cause. With Config.Reconnect set to a
// [RetryPolicy], such as [DefaultRetryPolicy], the client opens a new
// connection instead, and calls made meanwhile wait for it. Invocations
// pending on the lost connection fail, and the server handles the new
// connection as a different client.
//
// With Config.StatefulReconnect, and a server that accepts it, a lost
// WebSocket is reopened for the same connection: both sides send again
// what the other has not acknowledged, so pending calls continue and no
// message is lost or handled twice. When reopening fails, automatic
// reconnect takes over if it is configured. Config.OnReconnecting,
// OnReconnected and OnClosed report the events.
//
// # Goroutines
//
// A started Client runs one goroutine that owns all reads, one that keeps the
// connection alive, and one that runs handlers, plus one for each
// ClientStream being uploaded, and one more while it reconnects and for
// the event callbacks. Handlers run one at a time in
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
// state, as the allocation tests of this package check. Stateful reconnect
// copies every message it keeps for resending into a buffer that grows
// only now and then.
package signalr
