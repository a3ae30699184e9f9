package transport

import (
	"slices"
	"strconv"
	"strings"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A TransportType is one transport, or a set of transports combined with |.
// The values are those of HttpTransportType in the .NET client.
type TransportType uint8

// The transports of ASP.NET Core SignalR.
const (
	TransportWebSockets       TransportType = 1
	TransportServerSentEvents TransportType = 2
	TransportLongPolling      TransportType = 4

	// TransportAll is the set of all transports.
	TransportAll = TransportWebSockets | TransportServerSentEvents | TransportLongPolling
)

// implementedTransports is the set of transports this package can connect
// with.
const implementedTransports = TransportWebSockets

var transportNames = []struct {
	t    TransportType
	name string
}{
	{TransportWebSockets, "WebSockets"},
	{TransportServerSentEvents, "ServerSentEvents"},
	{TransportLongPolling, "LongPolling"},
}

// String returns the name negotiate uses for the transport, such as
// "WebSockets", or the names of a set joined by "|".
func (t TransportType) String() string {
	if t == 0 {
		return "None"
	}
	var names []string
	for _, tn := range transportNames {
		if t&tn.t != 0 {
			names = append(names, tn.name)
			t &^= tn.t
		}
	}
	if t != 0 {
		names = append(names, "TransportType(0x"+strconv.FormatUint(uint64(t), 16)+")")
	}
	return strings.Join(names, "|")
}

// ParseTransportType returns the transport with the given negotiate name.
// The comparison is case-sensitive, as it is on the server.
func ParseTransportType(name string) (TransportType, bool) {
	for _, tn := range transportNames {
		if tn.name == name {
			return tn.t, true
		}
	}
	return 0, false
}

// SelectTransport picks the transport to connect with from the
// availableTransports of a negotiate response. It walks the list in order
// and returns the first transport that meets four conditions:
//   - it is in enabled, where zero means [TransportAll];
//   - it lists the transfer format that format names ("Text" for JSON,
//     "Binary" for MessagePack);
//   - it is WebSockets when resp accepted stateful reconnect, because only
//     WebSockets carries it;
//   - this package implements it.
//
// Unknown transport names are skipped. When nothing fits, the error is a
// [*NoTransportError] that lists why each entry was skipped.
//
// Only WebSockets is implemented so far, so a response that offers only
// Server-Sent Events or long polling fails.
func SelectTransport(resp *NegotiateResponse, enabled TransportType, format protocol.TransferFormat) (TransportType, error) {
	if enabled == 0 {
		enabled = TransportAll
	}
	formatName := format.String()
	var skipped []SkippedTransport
	skip := func(name, reason string) {
		skipped = append(skipped, SkippedTransport{Name: name, Reason: reason})
	}

	for _, at := range resp.AvailableTransports {
		t, known := ParseTransportType(at.Transport)
		switch {
		case !known:
			skip(at.Transport, "is not a known transport")
		case enabled&t == 0:
			skip(at.Transport, "is disabled by the client options")
		case !slices.Contains(at.TransferFormats, formatName):
			skip(at.Transport, "does not support the "+formatName+" transfer format")
		case resp.UseStatefulReconnect && t != TransportWebSockets:
			skip(at.Transport, "cannot carry stateful reconnect, which only WebSockets supports")
		case implementedTransports&t == 0:
			skip(at.Transport, "is not implemented by this client")
		default:
			return t, nil
		}
	}
	return 0, &NoTransportError{Skipped: skipped}
}

// TransportWithoutNegotiation returns the transport to use when negotiation
// is skipped. Only WebSockets can connect without negotiating, so enabled
// must include it; zero means [TransportAll]. The connection then has no
// connection ID, and the transport connects to the hub URL with no "id"
// query parameter.
func TransportWithoutNegotiation(enabled TransportType) (TransportType, error) {
	if enabled == 0 || enabled&TransportWebSockets != 0 {
		return TransportWebSockets, nil
	}
	return 0, &NoTransportError{Skipped: []SkippedTransport{{
		Name:   enabled.String(),
		Reason: "cannot connect without negotiation, which only WebSockets can skip",
	}}}
}
