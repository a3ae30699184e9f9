package signalr

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkStreamCancel measures how long a canceled stream's
// CancelInvocation takes to reach the transport: from the ctx's cancel
// function to the WriteMessage call of the in-memory transport. The
// cancel-ns metric is the mean of that delay.
func BenchmarkStreamCancel(b *testing.B) {
	fc := newFakeConn()
	c := NewClient("http://127.0.0.1/hub", Config{KeepAliveInterval: -1, ServerTimeout: -1})
	c.dial = func(ctx context.Context) (transportConn, string, error) { return fc, "bench", nil }
	go func() {
		<-fc.fromClient // handshake request
		fc.toClient <- []byte("{}\x1e")
	}()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer c.Stop(context.Background())
	<-fc.fromClient // the Ping after the handshake

	var total time.Duration
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := c.Stream(ctx, "Counter", 1); err != nil {
			b.Fatal(err)
		}
		<-fc.fromClient // StreamInvocation
		start := time.Now()
		cancel()
		msg := <-fc.fromClient
		total += time.Since(start)
		if !bytes.Contains(msg, []byte(`"type":5`)) {
			b.Fatalf("client sent %q after cancel; want CancelInvocation", msg)
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "cancel-ns")
}
