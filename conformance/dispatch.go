package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// errClientClose stops reading after a Close message from the client.
var errClientClose = errors.New("conformance: client sent Close")

// dispatch handles one hub message from the client on the read goroutine. m
// aliases the read buffer, so everything kept is copied.
func (c *Conn) dispatch(m *protocol.Message) error {
	switch m.Type {
	case protocol.TypeInvocation:
		c.startInvocation(m, false)
	case protocol.TypeStreamInvocation:
		c.startInvocation(m, true)
	case protocol.TypeStreamItem:
		c.deliverItem(m)
	case protocol.TypeCompletion:
		c.complete(m)
	case protocol.TypeCancelInvocation:
		c.cancelInvocation(m.InvocationID)
	case protocol.TypeClose:
		c.logger.Debug("client sent Close", "closeError", m.Error)
		return errClientClose
	case protocol.TypeAck:
		return c.ack(m.SequenceID)
	case protocol.TypeSequence:
		return c.resetSequence(m.SequenceID)
	}
	// Ping needs nothing: every frame already reset the client timeout.
	// Unknown types are ignored as the protocol requires, and so are Ack
	// and Sequence on a connection without stateful reconnect.
	return nil
}

// startInvocation checks an Invocation or StreamInvocation and starts the
// hub method: a streaming one at once on its own goroutine, a single-result
// one through the invocation queue.
func (c *Conn) startInvocation(m *protocol.Message, streaming bool) {
	id := strings.Clone(m.InvocationID)
	target := strings.Clone(m.Target)
	method := c.opts.Hub.lookup(target)
	switch {
	case method == nil:
		c.sendError(id, "Unknown hub method '"+target+"'")
		return
	case streaming && method.kind != methodStream:
		c.sendError(id, "The client attempted to invoke the non-streaming '"+target+"' method with a streaming invocation.")
		return
	case !streaming && method.kind == methodStream:
		c.sendError(id, "The client attempted to invoke the streaming '"+target+"' method with a non-streaming invocation.")
		return
	}

	ctx, cancel := context.WithCancel(c.ctx)
	call := &Call{
		conn:         c,
		method:       method,
		ctx:          ctx,
		cancel:       cancel,
		target:       target,
		invocationID: id,
		args:         make([]protocol.RawValue, len(m.Arguments)),
	}
	for i, arg := range m.Arguments {
		call.args[i] = append(protocol.RawValue(nil), arg...)
	}

	c.mu.Lock()
	if id != "" && c.invocations[id] != nil {
		c.mu.Unlock()
		cancel()
		c.sendError(id, "Invocation ID '"+id+"' is already in use.")
		return
	}
	for _, streamID := range m.StreamIDs {
		if c.streams[streamID] != nil {
			c.mu.Unlock()
			cancel()
			c.sendError(id, "Stream ID '"+streamID+"' is already in use.")
			return
		}
	}
	if id != "" {
		c.invocations[id] = call
	}
	for _, streamID := range m.StreamIDs {
		s := newClientStream(strings.Clone(streamID), c.opts.StreamBufferCapacity)
		c.streams[s.id] = s
		call.streams = append(call.streams, s)
	}
	c.mu.Unlock()

	if streaming {
		c.workers.Add(1)
		go c.runStream(call)
		return
	}
	select {
	case c.calls <- call:
	case <-c.ctx.Done():
		c.endCall(call)
	}
}

// runInvocations runs queued Invocations one after another until the
// connection ends. MaxParallelInvocations of them run per connection.
func (c *Conn) runInvocations() {
	defer c.workers.Done()
	for {
		select {
		case call := <-c.calls:
			c.invoke(call)
		case <-c.ctx.Done():
			return
		}
	}
}

// invoke runs a single-result or void method and sends its Completion when
// the invocation has an id.
func (c *Conn) invoke(call *Call) {
	defer c.endCall(call)
	defer func() {
		if call.afterReply != nil {
			call.afterReply()
		}
	}()
	var result any
	err := c.protect(call, func() error {
		var err error
		if call.method.kind == methodVoid {
			return call.method.void(call)
		}
		result, err = call.method.result(call)
		return err
	})
	if call.invocationID == "" {
		return
	}

	completion := protocol.Message{Type: protocol.TypeCompletion, InvocationID: call.invocationID}
	switch {
	case err != nil:
		completion.Error, completion.HasError = errorText(call, err), true
	case call.method.kind == methodResult:
		raw, err := c.encodeValue(result)
		if err != nil {
			c.logger.Error("encoding a hub method result failed", "method", call.target, "error", err)
			completion.Error, completion.HasError = "An unexpected error occurred invoking '"+call.target+"' on the server.", true
			break
		}
		completion.Result, completion.HasResult = raw, true
	}
	c.SendMessage(c.ctx, &completion)
}

// runStream runs a streaming method on its own goroutine and sends its
// items and Completion.
func (c *Conn) runStream(call *Call) {
	defer c.workers.Done()
	defer c.endCall(call)
	send := func(item any) error {
		if err := call.ctx.Err(); err != nil {
			return err
		}
		raw, err := c.encodeValue(item)
		if err != nil {
			return err
		}
		m := protocol.Message{Type: protocol.TypeStreamItem, InvocationID: call.invocationID, Item: raw}
		return c.SendMessage(call.ctx, &m)
	}
	err := c.protect(call, func() error { return call.method.stream(call, send) })

	// A stream the client canceled ends with a plain Completion, as on the
	// .NET server.
	completion := protocol.Message{Type: protocol.TypeCompletion, InvocationID: call.invocationID}
	if err != nil && !call.canceledByClient.Load() {
		completion.Error, completion.HasError = errorText(call, err), true
	}
	c.SendMessage(c.ctx, &completion)
}

// protect runs f and turns a panic of the hub method into an error, so that
// a faulty method cannot crash the server.
func (c *Conn) protect(call *Call, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger.Error("hub method panicked", "method", call.target, "panic", v)
			err = fmt.Errorf("An unexpected error occurred invoking '%s' on the server. panic: %v", call.target, v)
		}
	}()
	return f()
}

// endCall removes a finished invocation and its streams.
func (c *Conn) endCall(call *Call) {
	call.cancel()
	c.mu.Lock()
	if call.invocationID != "" && c.invocations[call.invocationID] == call {
		delete(c.invocations, call.invocationID)
	}
	for _, s := range call.streams {
		if c.streams[s.id] == s {
			delete(c.streams, s.id)
		}
	}
	c.mu.Unlock()
	for _, s := range call.streams {
		close(s.abandoned)
	}
}

// errorText returns the error of a Completion for a failed method.
func errorText(call *Call, err error) string {
	var binding *BindingError
	if errors.As(err, &binding) {
		return "Failed to invoke '" + call.target + "' due to an error on the server. InvalidDataException: " + binding.Detail
	}
	return err.Error()
}

// sendError sends an error Completion for an invocation on the read
// goroutine. Non-blocking invocations, those without an id, get nothing.
func (c *Conn) sendError(id, text string) {
	c.logger.Debug("invocation failed", "invocationId", id, "error", text)
	if id == "" {
		return
	}
	m := protocol.Message{Type: protocol.TypeCompletion, InvocationID: id, Error: text, HasError: true}
	record, err := c.proto.AppendMessage(nil, &m)
	if err != nil {
		c.logger.Error("encoding an error Completion failed", "error", err)
		return
	}
	// The read goroutine sends these, so they must not wait for an Ack,
	// which only the read goroutine could process.
	c.sendRecord(c.ctx, m.Type, record, false)
}

// deliverItem passes a StreamItem to its client stream. Items for unknown or
// finished streams are dropped. It blocks while the stream's buffer is full.
func (c *Conn) deliverItem(m *protocol.Message) {
	c.mu.Lock()
	s := c.streams[m.InvocationID]
	c.mu.Unlock()
	if s == nil {
		c.logger.Debug("dropped a StreamItem for an unknown stream", "streamId", m.InvocationID)
		return
	}
	item := append(protocol.RawValue(nil), m.Item...)
	select {
	case s.items <- item:
	case <-s.abandoned:
	case <-c.ctx.Done():
	}
}

// complete handles a Completion from the client: the end of a
// client-to-server stream, or the result of an invocation of the server.
// Others are dropped, as the .NET server does.
func (c *Conn) complete(m *protocol.Message) {
	c.mu.Lock()
	if s := c.streams[m.InvocationID]; s != nil {
		delete(c.streams, m.InvocationID)
		c.mu.Unlock()
		if m.HasError {
			s.err = &CompletionError{Message: strings.Clone(m.Error)}
		}
		close(s.completed)
		return
	}
	reply := c.pending[m.InvocationID]
	delete(c.pending, m.InvocationID)
	c.mu.Unlock()
	if reply == nil {
		c.logger.Debug("dropped a Completion for an unknown invocation", "invocationId", m.InvocationID)
		return
	}
	reply <- m.Clone()
}

// cancelInvocation cancels the context of a running invocation. Unknown ids
// are ignored.
func (c *Conn) cancelInvocation(id string) {
	c.mu.Lock()
	call := c.invocations[id]
	c.mu.Unlock()
	if call != nil {
		call.canceledByClient.Store(true)
		call.cancel()
	}
}
