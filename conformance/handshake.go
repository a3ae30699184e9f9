package conformance

import (
	"strconv"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// handshake handles the handshake request record. On success it responds
// with {} and starts the goroutines of an open connection. On failure it
// responds with the error text of the .NET server and finishes the
// connection.
func (c *Conn) handshake(record []byte) error {
	req, err := protocol.ParseHandshakeRequest(record)
	if err != nil {
		return c.failHandshake("An unexpected error occurred during connection handshake. InvalidDataException: " + err.Error())
	}
	p, ok := c.srv.protocols[req.Protocol]
	if !ok {
		return c.failHandshake("The protocol '" + req.Protocol + "' is not supported.")
	}
	if req.Version > maxHubProtocolVersion {
		return c.failHandshake("The server does not support version " + strconv.Itoa(req.Version) +
			" of the '" + req.Protocol + "' protocol.")
	}

	c.proto = p
	c.opcode = opcodeOf(p.TransferFormat())
	c.handshakeOp = c.opcode
	if f := c.opts.Misbehave.HandshakeFormat; f != 0 {
		c.handshakeOp = opcodeOf(f)
	}
	c.rt.framer.Format = p.TransferFormat()
	if c.rec != nil {
		c.rec.setProtocol(p.Name())
	}
	if !c.state.CompareAndSwap(stateHandshake, stateOpen) {
		return nil
	}
	c.handshaken.Store(true)
	c.rt.netConn.SetReadDeadline(time.Time{})
	// As on the .NET server, a handshake below version 2 turns stateful
	// reconnect off even when negotiate accepted it.
	stateful := c.statefulNegotiated && req.Version >= 2
	if stateful {
		c.seq.Store(newSequencer(c.opts.StatefulReconnectBufferSize))
	}
	c.logger.Debug("handshake succeeded", "protocol", p.Name(), "version", req.Version, "statefulReconnect", stateful)

	response := protocol.AppendHandshakeResponse(nil, protocol.HandshakeResponse{})
	coalesce := c.opts.Misbehave.CoalesceHandshake
	if coalesce {
		c.enqueue(c.ctx, outgoing{kind: outHold})
	}
	c.enqueue(c.ctx, outgoing{kind: outHandshake, data: response})
	if coalesce {
		ping, _ := p.AppendMessage(nil, &protocol.Message{Type: protocol.TypePing})
		c.enqueue(c.ctx, outgoing{kind: outRecord, msgType: protocol.TypePing, data: ping})
	}

	c.workers.Add(1 + c.opts.MaxParallelInvocations)
	go c.keepAlive()
	if s := c.seq.Load(); s != nil {
		c.workers.Add(1)
		go c.ackLoop(s)
	}
	for range c.opts.MaxParallelInvocations {
		go c.runInvocations()
	}
	if c.opts.OnConnected != nil {
		c.opts.OnConnected(c)
	}
	if coalesce {
		c.enqueue(c.ctx, outgoing{kind: outRelease})
	}
	return nil
}

// failHandshake sends a handshake response with an error and finishes the
// connection.
func (c *Conn) failHandshake(text string) error {
	c.logger.Info("handshake failed", "reason", text)
	c.state.Store(stateClosing)
	response := protocol.AppendHandshakeResponse(nil, protocol.HandshakeResponse{Error: text})
	c.finish(&outgoing{kind: outHandshake, data: response})
	return errHandshakeFailed
}
