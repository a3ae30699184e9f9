package signalr_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/internal/faultproxy"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// orderCheck checks that numbers arrive exactly once and in order: 1, 2,
// 3 and so on.
type orderCheck struct {
	mu   sync.Mutex
	last int64
	err  error
}

func (o *orderCheck) see(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil && n != o.last+1 {
		o.err = fmt.Errorf("got %d after %d", n, o.last)
	}
	o.last = n
}

func (o *orderCheck) result() (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.err
}

// TestStatefulReconnectUnderCuts exchanges invocations in both directions
// through a proxy that cuts the WebSocket again and again. With stateful
// reconnect every invocation must arrive exactly once and in order, every
// Invoke must complete, and the client must never fall back to a new
// connection.
func TestStatefulReconnectUnderCuts(t *testing.T) {
	// 100,000 invocations in all and about 1,000 cuts per hub protocol.
	total, cuts := int64(50_000), int64(1_000)
	if testing.Short() || raceEnabled {
		total, cuts = 5_000, 50
	}
	forEachProtocol(t, func(t *testing.T, proto protocol.HubProtocol) {
		runStatefulUnderCuts(t, proto, total, cuts)
	})
}

func runStatefulUnderCuts(t *testing.T, proto protocol.HubProtocol, total, cuts int64) {
	var fromClient orderCheck
	var processed atomic.Int64
	cutNow := make(chan struct{}, cuts*2)

	// A cut follows after a random number of the client's invocations,
	// between 1 and twice the mean gap, so that cuts land at random points
	// of the exchange in both directions.
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	gap := 2 * total / cuts
	var nextCut atomic.Int64
	nextCut.Store(1 + rng.Int64N(gap))
	srv, _ := startServer(t, conformance.Options{
		StatefulReconnect: true,
		AckInterval:       5 * time.Millisecond,
		OnMessage: func(c *conformance.Conn, m *protocol.Message) {
			if m.Type != protocol.TypeInvocation || m.Target != "Mark" {
				return
			}
			var n int64
			if err := proto.Unmarshal(m.Arguments[0], &n); err != nil {
				fromClient.see(-1)
				return
			}
			fromClient.see(n)
			if processed.Add(1) == nextCut.Load() {
				nextCut.Add(1 + rng.Int64N(gap))
				select {
				case cutNow <- struct{}{}:
				default:
				}
			}
		},
	})
	base := strings.TrimSuffix(strings.TrimPrefix(srv.HubURL(), "http://"), "/hub")
	proxy, err := faultproxy.New(base)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	var fromServer orderCheck
	var reconnecting atomic.Int64
	c := signalr.NewClient(proxy.URL("http")+"/hub", signalr.Config{
		Protocol:          proto,
		StatefulReconnect: true,
		HandshakeTimeout:  10 * time.Second,
		OnReconnecting:    func(error) { reconnecting.Add(1) },
	})
	c.On("Tick", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var n int64
		if err := inv.Decode(&n); err != nil {
			return nil, err
		}
		fromServer.see(n)
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	conns := srv.Conns()
	if len(conns) != 1 {
		t.Fatalf("server has %d connections; want 1", len(conns))
	}
	server := conns[0]

	// The cutter cuts the WebSocket each time the server has processed
	// another share of the client's invocations.
	var cutCount atomic.Int64
	cutterDone := make(chan struct{})
	go func() {
		defer close(cutterDone)
		for {
			select {
			case <-cutNow:
				proxy.Cut(faultproxy.Graceful)
				cutCount.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()

	// The server invokes Tick on the client, in order.
	serverErr := make(chan error, 1)
	go func() {
		for n := int64(1); n <= total; n++ {
			if err := server.Send(ctx, "Tick", n); err != nil {
				serverErr <- fmt.Errorf("server Send %d: %w", n, err)
				return
			}
		}
		serverErr <- nil
	}()

	// The client invokes Mark, in order, and waits for each result.
	for n := int64(1); n <= total; n++ {
		if err := c.Invoke(ctx, "Mark", nil, n); err != nil {
			t.Fatalf("Invoke Mark %d: %v", n, err)
		}
	}
	if err := <-serverErr; err != nil {
		t.Fatal(err)
	}
	// Wait until the last Tick has been handled.
	for {
		last, err := fromServer.result()
		if err != nil {
			t.Fatalf("server to client: %v", err)
		}
		if last == total {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the client handled %d of %d invocations from the server", last, total)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-cutterDone

	last, err := fromClient.result()
	if err != nil || last != total {
		t.Fatalf("client to server: last %d of %d, %v", last, total, err)
	}
	state, _ := server.SequenceState()
	t.Logf("%s: %d invocations each way, %d cuts, %d reattaches, %d duplicates dropped by the server", proto.Name(), total, cutCount.Load(), state.Reattaches, state.Duplicates)
	if n := reconnecting.Load(); n != 0 {
		t.Errorf("the client fell back to a new connection %d times", n)
	}
	if cutCount.Load() < cuts*3/4 {
		t.Errorf("only %d cuts happened; want about %d", cutCount.Load(), cuts)
	}
}
