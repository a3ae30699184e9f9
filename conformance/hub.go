package conformance

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBigSize is the largest size the Big method of the test hub accepts.
const MaxBigSize = 16 << 20

// NewTestHub returns the hub the conformance tests run against, the default
// of [Options.Hub]. Its methods are:
//
//   - Echo(value any) any returns its argument byte for byte.
//   - Add(a, b int) int returns a + b.
//   - Fail(message string) fails; the Completion error is message unchanged.
//   - Void() returns a void Completion.
//   - Counter(n, delayMs int) streams the integers 0 to n-1, waiting delayMs
//     milliseconds before each. It stops when the caller cancels it.
//   - Sum() int takes one client-to-server stream of integers and returns
//     their sum once the client completes the stream.
//   - CallMe(target string, arg any, withResult bool) any invokes target on
//     the caller with the single argument arg. With withResult it sends an
//     invocation id, waits for the client's Completion and returns its
//     result, or fails with the client's error text. Without it, it returns
//     null.
//   - CloseMe(error string, allowReconnect bool) sends Close, with error
//     when it is not empty, and ends the connection. It sends no
//     Completion.
//   - Big(size int) string returns a string of size bytes, so that the
//     Completion is larger than size. size is at most [MaxBigSize].
//   - DropMe(delayMs int) returns a void Completion and then, delayMs
//     milliseconds after the Completion and the messages before it were
//     written, drops the caller's WebSocket as [Conn.Drop] does.
//   - Mark(n int) appends n to the list of marks of the caller's
//     connection. Marks() []int returns that list in the order the marks
//     arrived, so that a client test can check that each of its messages
//     arrived once and in order.
//   - Reattaches() int returns how many WebSockets reattached to the
//     caller's connection with stateful reconnect.
//
// Each method fails with a binding error when the number or types of the
// arguments are wrong.
func NewTestHub() *Hub {
	h := NewHub()
	h.Handle("Echo", echo)
	h.Handle("Add", add)
	h.HandleVoid("Fail", fail)
	h.HandleVoid("Void", func(call *Call) error { return call.Bind() })
	h.HandleStream("Counter", counter)
	h.Handle("Sum", sum)
	h.Handle("CallMe", callMe)
	h.HandleVoid("CloseMe", closeMe)
	h.Handle("Big", big)
	h.HandleVoid("DropMe", dropMe)
	marks := &markBook{marks: make(map[*Conn][]int)}
	h.HandleVoid("Mark", marks.mark)
	h.Handle("Marks", marks.list)
	h.Handle("Reattaches", reattaches)
	return h
}

func echo(call *Call) (any, error) {
	args := call.Args()
	if len(args) != 1 {
		return nil, &BindingError{Detail: "Invocation provides " + strconv.Itoa(len(args)) + " argument(s) but target expects 1."}
	}
	return args[0], nil
}

func add(call *Call) (any, error) {
	var a, b int
	if err := call.Bind(&a, &b); err != nil {
		return nil, err
	}
	return a + b, nil
}

func fail(call *Call) error {
	var message string
	if err := call.Bind(&message); err != nil {
		return err
	}
	return errors.New(message)
}

func counter(call *Call, send func(any) error) error {
	var n, delayMs int
	if err := call.Bind(&n, &delayMs); err != nil {
		return err
	}
	ctx := call.Context()
	var timer *time.Timer
	for i := range max(n, 0) {
		if delayMs > 0 {
			if timer == nil {
				timer = time.NewTimer(time.Duration(delayMs) * time.Millisecond)
				defer timer.Stop()
			} else {
				timer.Reset(time.Duration(delayMs) * time.Millisecond)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		if err := send(i); err != nil {
			return err
		}
	}
	return nil
}

func sum(call *Call) (any, error) {
	if err := call.Bind(); err != nil {
		return nil, err
	}
	streams := call.Streams()
	if len(streams) != 1 {
		return nil, &BindingError{Detail: "Client sent " + strconv.Itoa(len(streams)) + " stream(s), Hub method expects 1."}
	}
	total := 0
	for {
		item, err := streams[0].Recv(call.Context())
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return nil, err
		}
		var n int
		if err := call.Conn().Protocol().Unmarshal(item, &n); err != nil {
			return nil, &BindingError{Detail: "Error binding stream item. Expected an integer.", Err: err}
		}
		total += n
	}
}

func callMe(call *Call) (any, error) {
	args := call.Args()
	if len(args) != 3 {
		return nil, &BindingError{Detail: "Invocation provides " + strconv.Itoa(len(args)) + " argument(s) but target expects 3."}
	}
	proto := call.Conn().Protocol()
	var target string
	var withResult bool
	if err := proto.Unmarshal(args[0], &target); err != nil {
		return nil, &BindingError{Detail: "Error binding arguments. Expected a string target.", Err: err}
	}
	if err := proto.Unmarshal(args[2], &withResult); err != nil {
		return nil, &BindingError{Detail: "Error binding arguments. Expected a boolean withResult.", Err: err}
	}
	if !withResult {
		return nil, call.Conn().Send(call.Context(), target, args[1])
	}
	result, err := call.Conn().Invoke(call.Context(), target, args[1])
	if err != nil {
		return nil, err
	}
	return result, nil
}

func closeMe(call *Call) error {
	var text string
	var allowReconnect bool
	if err := call.Bind(&text, &allowReconnect); err != nil {
		return err
	}
	call.Conn().Close(text, allowReconnect)
	return nil
}

func big(call *Call) (any, error) {
	var size int
	if err := call.Bind(&size); err != nil {
		return nil, err
	}
	if size < 0 || size > MaxBigSize {
		return nil, errors.New("Big: size " + strconv.Itoa(size) + " is outside 0 to " + strconv.Itoa(MaxBigSize) + ".")
	}
	return strings.Repeat("x", size), nil
}

func dropMe(call *Call) error {
	var delayMs int
	if err := call.Bind(&delayMs); err != nil {
		return err
	}
	conn := call.Conn()
	call.afterReply = func() { conn.dropAfterQueued(time.Duration(delayMs) * time.Millisecond) }
	return nil
}

// A markBook holds the marks of the Mark method by connection.
type markBook struct {
	mu    sync.Mutex
	marks map[*Conn][]int
}

func (b *markBook) mark(call *Call) error {
	var n int
	if err := call.Bind(&n); err != nil {
		return err
	}
	conn := call.Conn()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.marks[conn]; !ok {
		context.AfterFunc(conn.Context(), func() {
			b.mu.Lock()
			delete(b.marks, conn)
			b.mu.Unlock()
		})
	}
	b.marks[conn] = append(b.marks[conn], n)
	return nil
}

func (b *markBook) list(call *Call) (any, error) {
	if err := call.Bind(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int{}, b.marks[call.Conn()]...), nil
}

func reattaches(call *Call) (any, error) {
	if err := call.Bind(); err != nil {
		return nil, err
	}
	state, _ := call.Conn().SequenceState()
	return state.Reattaches, nil
}
