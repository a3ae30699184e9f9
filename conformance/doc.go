// Package conformance provides a reference SignalR hub server for tests, a
// test hub, switches that make the server misbehave on purpose, and a
// line-oriented capture format with a replaying peer.
//
// The [Server] speaks the wire protocol of the ASP.NET Core SignalR server
// over WebSockets: negotiate (versions 0 and 1, redirects, errors), skip
// negotiation, the handshake, the JSON and MessagePack hub protocols,
// keep-alive, client timeout, invocations, streams in both directions,
// client results, Close and stateful reconnect (described on [Conn]). It is a
// [net/http.Handler], so it can be mounted in any HTTP server, and
// [Server.Listen] starts it on a loopback port the way httptest does:
//
//	srv := conformance.NewServer(conformance.Options{})
//	if _, err := srv.Listen(); err != nil {
//		return err
//	}
//	defer srv.Close()
//	hubURL := srv.HubURL() // the base URL Listen returns, plus "/hub"
//
// [NewTestHub] returns the hub the server serves by default. Its methods are
// listed in its documentation. [Misbehavior] makes the server send legal but
// unusual traffic (fragmented or batched messages, unknown message types,
// stray completions) and late or missing pings. For reconnect tests,
// [Conn.Drop], [Server.DropAll] and the test hub's DropMe method drop
// WebSockets without a Close message, [Server.Pause] makes the server
// reject new requests with 503 for a while, and [Options.OnMessage] and
// [Conn.SequenceState] show what the server received and processed.
//
// A [Capture] is the list of WebSocket messages of one session. The server
// records sessions when [Options.Record] or [Options.RecordDir] is set,
// [WriteCapture] and [ReadCapture] store them as text (the format is
// described on [WriteCapture]), and [Replay] plays the server side of a
// capture against a client.
package conformance
