// Package transport implements the HTTP connection layer of an ASP.NET Core
// SignalR client: negotiate, transport selection and the WebSocket
// transport. It does not parse hub messages: it moves whole transport
// messages, and package protocol frames and parses them.
//
// A connection is set up in three steps:
//
//	res, err := transport.Negotiate(ctx, httpClient, hubURL, transport.NegotiateOptions{
//		AccessTokenProvider: tokens,
//	})
//	// handle err
//	_, err = transport.SelectTransport(res.Response, 0, protocol.TransferFormatText)
//	// handle err: only WebSockets is implemented so far
//	conn, err := transport.DialWebSocket(ctx, res.URL, res.Response.ConnectionToken, transport.DialOptions{
//		AccessTokenProvider: res.AccessTokenProvider,
//	})
//
// To skip negotiation, which only WebSockets allows, dial the hub URL with
// an empty connection token. The server then assigns no connection ID that
// the client can see.
//
// A [Conn] then carries messages: one goroutine calls [Conn.ReadMessage] in
// a loop, any goroutine calls [Conn.WriteMessage], and [Conn.Close] ends the
// connection. Messages use the opcode that [OpcodeFor] gives for the hub
// protocol's transfer format. In steady state neither reading nor writing
// allocates.
//
// The wire rules come from the ASP.NET Core SignalR specification,
// TransportProtocols.md in dotnet/aspnetcore under src/SignalR/docs/specs,
// and from RFC 6455 for WebSockets.
package transport
