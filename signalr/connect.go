package signalr

import (
	"context"
	"net/http"

	"github.com/hubwire/hubwire/signalr/transport"
)

// dialTransport negotiates, unless Config.SkipNegotiation is set, and opens
// the WebSocket transport.
func (c *Client) dialTransport(ctx context.Context) (transportConn, string, error) {
	cfg := &c.config
	format := cfg.Protocol.TransferFormat()
	tokens := transport.TokenProvider(cfg.AccessTokenProvider)
	hubURL, connectionToken, connectionID := c.url, "", ""

	if cfg.SkipNegotiation {
		if _, err := transport.TransportWithoutNegotiation(transport.TransportWebSockets); err != nil {
			return nil, "", err
		}
	} else {
		httpClient := cfg.HTTPClient
		if httpClient == nil {
			httpClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLSConfig, Proxy: http.ProxyFromEnvironment}}
		}
		result, err := transport.Negotiate(ctx, httpClient, c.url, transport.NegotiateOptions{
			Header:              cfg.Header,
			AccessTokenProvider: tokens,
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
	}

	ws, err := transport.DialWebSocket(ctx, hubURL, connectionToken, transport.DialOptions{
		Header:              cfg.Header,
		AccessTokenProvider: tokens,
		TLSConfig:           cfg.TLSConfig,
		MaxMessageSize:      int64(cfg.MaxMessageSize),
	})
	if err != nil {
		return nil, "", err
	}
	return &webSocketConn{ws: ws, opcode: transport.OpcodeFor(format)}, connectionID, nil
}

// webSocketConn adapts a transport.Conn to the client, sending every message
// in the frame type of the hub protocol's transfer format.
type webSocketConn struct {
	ws     *transport.Conn
	opcode transport.Opcode
}

func (w *webSocketConn) ReadMessage() ([]byte, error) {
	_, p, err := w.ws.ReadMessage()
	return p, err
}

func (w *webSocketConn) WriteMessage(ctx context.Context, p []byte) error {
	return w.ws.WriteMessage(ctx, w.opcode, p)
}

func (w *webSocketConn) Close() error { return w.ws.Close() }
