package signalr

import (
	"context"

	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

// dialTransport negotiates, unless Config.SkipNegotiation is set, and opens
// the WebSocket transport.
func (c *Client) dialTransport(ctx context.Context) (transportConn, string, error) {
	cfg := &c.config
	format := cfg.Protocol.TransferFormat()
	tokens := transport.TokenProvider(cfg.AccessTokenProvider)
	hubURL, connectionToken, connectionID := c.url, "", ""
	stateful := false

	if cfg.SkipNegotiation {
		if _, err := transport.TransportWithoutNegotiation(transport.TransportWebSockets); err != nil {
			return nil, "", err
		}
	} else {
		result, err := transport.Negotiate(ctx, cfg.HTTPClient, c.url, transport.NegotiateOptions{
			Header:              cfg.Header,
			AccessTokenProvider: tokens,
			StatefulReconnect:   cfg.StatefulReconnect,
		})
		if err != nil {
			return nil, "", err
		}
		if _, err := transport.SelectTransport(result.Response, transport.TransportWebSockets, format); err != nil {
			return nil, "", err
		}
		hubURL = result.URL
		connectionToken = result.Response.ConnectionToken
		connectionID = result.Response.ConnectionID
		tokens = result.AccessTokenProvider
		stateful = result.Response.UseStatefulReconnect
	}

	opts := transport.DialOptions{
		Header:              cfg.Header,
		AccessTokenProvider: tokens,
		TLSConfig:           cfg.TLSConfig,
		MaxMessageSize:      webSocketLimit(cfg.MaxMessageSize),
	}
	dial := func(ctx context.Context) (transportConn, error) {
		ws, err := transport.DialWebSocket(ctx, hubURL, connectionToken, opts)
		if err != nil {
			return nil, err
		}
		return &webSocketConn{ws: ws, opcode: transport.OpcodeFor(format)}, nil
	}
	tc, err := dial(ctx)
	if err != nil {
		return nil, "", err
	}
	if stateful {
		// The same URL and connection token reopen the same connection.
		return &resumableWebSocket{webSocketConn: tc.(*webSocketConn), dial: dial}, connectionID, nil
	}
	return tc, connectionID, nil
}

// resumableWebSocket is a WebSocket transport of a connection with
// stateful reconnect.
type resumableWebSocket struct {
	*webSocketConn
	dial func(ctx context.Context) (transportConn, error)
}

func (r *resumableWebSocket) statefulReconnect() bool { return true }

func (r *resumableWebSocket) reopen(ctx context.Context) (transportConn, error) {
	return r.dial(ctx)
}

// webSocketLimit returns the maximum WebSocket message size for a maximum
// hub message size. One WebSocket message may carry several hub messages,
// so the transport limit is never below the transport's default, and the
// framer enforces the hub limit on each message.
func webSocketLimit(maxHubMessage int) int64 {
	limit := maxMessageSize(maxHubMessage)
	if limit == 0 {
		return -1 // no limit
	}
	return max(int64(limit), transport.DefaultMaxMessageSize)
}

// webSocketConn adapts a transport.Conn to the client, sending every message
// in the frame type of the hub protocol's transfer format.
type webSocketConn struct {
	ws     *transport.Conn
	opcode transport.Opcode
}

func (w *webSocketConn) ReadMessage() (protocol.TransferFormat, []byte, error) {
	op, p, err := w.ws.ReadMessage()
	if op == transport.OpcodeBinary {
		return protocol.TransferFormatBinary, p, err
	}
	return protocol.TransferFormatText, p, err
}

func (w *webSocketConn) WriteMessage(ctx context.Context, p []byte) error {
	return w.ws.WriteMessage(ctx, w.opcode, p)
}

func (w *webSocketConn) Close() error { return w.ws.Close() }
