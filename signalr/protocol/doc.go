// Package protocol implements the SignalR hub protocols as pure codecs: the
// message model, the JSON and MessagePack hub protocols, record-separator
// and varint framing, and the handshake. It performs no I/O.
//
// Parsing is designed for connections that read into a reused buffer. A
// [Message] filled by [HubProtocol.ParseMessage] aliases the bytes it was
// parsed from: its strings, raw values and slices stay valid only until those
// bytes are modified or the same Message is parsed into again. Call
// [Message.Clone] or [Message.CopyTo] to keep a message longer.
//
// Arguments, stream items and results stay encoded as [RawValue] in the hub
// protocol of the connection. Decode them on demand with
// [HubProtocol.Unmarshal], and pass pre-encoded values to the writer to avoid
// encoding on the hot path.
//
// The wire format is described in the ASP.NET Core SignalR specification,
// HubProtocol.md and TransportProtocols.md in dotnet/aspnetcore under
// src/SignalR/docs/specs.
package protocol
