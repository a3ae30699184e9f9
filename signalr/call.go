package signalr

import (
	"sync"
	"unsafe"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A call is a pending invocation or stream, waiting for its Completion.
type call struct {
	done      chan struct{} // receives one value when the call finishes
	result    []byte        // the result's raw value, owned by the call
	hasResult bool
	err       error
	stream    *Stream // set for server-to-client streams
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall() *call { return callPool.Get().(*call) }

// putCall returns cl to the pool. The caller must have received from done.
func putCall(cl *call) {
	if cap(cl.result) > 64<<10 {
		cl.result = nil // do not pin large results in the pool
	}
	cl.result = cl.result[:0]
	cl.hasResult, cl.err, cl.stream = false, nil, nil
	callPool.Put(cl)
}

// finish completes the call. result is copied. A call finishes once: the
// caller of finish has removed it from the pending calls.
func (cl *call) finish(result protocol.RawValue, hasResult bool, err error) {
	if cl.stream != nil {
		cl.stream.end(err)
		return
	}
	cl.result = append(cl.result[:0], result...)
	cl.hasResult = hasResult
	cl.err = err
	cl.done <- struct{}{}
}

func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
