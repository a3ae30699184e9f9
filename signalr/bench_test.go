package signalr_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// benchServer starts the reference hub without keep-alive pings, so that
// only the benchmarked traffic crosses the connection.
func benchServer(b *testing.B) string {
	srv := conformance.NewServer(conformance.Options{KeepAliveInterval: -1, ClientTimeout: -1, MaxParallelInvocations: 64})
	if _, err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv.HubURL()
}

func benchClient(b *testing.B, hubURL string) *signalr.Client {
	c := signalr.NewClient(hubURL, signalr.Config{KeepAliveInterval: -1, ServerTimeout: -1})
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// BenchmarkInvoke measures sequential Invoke round trips of Add with
// pre-encoded arguments and a raw result.
func BenchmarkInvoke(b *testing.B) {
	c := benchClient(b, benchServer(b))
	ctx := context.Background()
	args := []any{protocol.RawValue("1"), protocol.RawValue("2")}
	var result protocol.RawValue
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Invoke(ctx, "Add", &result, args...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvokeParallel measures 64 concurrent callers on one connection.
func BenchmarkInvokeParallel(b *testing.B) {
	c := benchClient(b, benchServer(b))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 callers on this machine
	b.RunParallel(func(pb *testing.PB) {
		args := []any{protocol.RawValue("1"), protocol.RawValue("2")}
		var result protocol.RawValue
		for pb.Next() {
			if err := c.Invoke(ctx, "Add", &result, args...); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// floorConn is a bare gobwas/ws client that completes the handshake and then
// sends pre-encoded Invocation frames: the floor for the client's overhead.
type floorConn struct {
	conn net.Conn
}

func dialFloor(b *testing.B, hubURL string) *floorConn {
	wsURL := "ws" + hubURL[len("http"):]
	conn, br, _, err := ws.Dial(context.Background(), wsURL)
	if err != nil {
		b.Fatal(err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	if err := wsutil.WriteClientText(conn, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
		b.Fatal(err)
	}
	if _, err := wsutil.ReadServerText(conn); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &floorConn{conn: conn}
}

// BenchmarkFloorInvoke sends the same Invocation bytes as BenchmarkInvoke
// and waits for each Completion over a bare WebSocket.
func BenchmarkFloorInvoke(b *testing.B) {
	f := dialFloor(b, benchServer(b))
	var frame []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		frame = append(frame[:0], `{"type":1,"invocationId":"`...)
		frame = strconv.AppendInt(frame, int64(i), 10)
		frame = append(frame, `","target":"Add","arguments":[1,2]}`+"\x1e"...)
		if err := wsutil.WriteClientText(f.conn, frame); err != nil {
			b.Fatal(err)
		}
		for {
			msg, err := wsutil.ReadServerText(f.conn)
			if err != nil {
				b.Fatal(err)
			}
			if bytes.Contains(msg, []byte(`"type":3`)) {
				break
			}
		}
	}
}
