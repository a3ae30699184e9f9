package signalr_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// replayScenarios do with this client what conformance/js/interop.js does
// with the official client for the capture of the same name.
var replayScenarios = map[string]func(ctx context.Context, c *signalr.Client) error{
	"echo": func(ctx context.Context, c *signalr.Client) error {
		// The official client keeps the property order of its JavaScript
		// object, and a struct keeps its field order in both protocols.
		arg := struct {
			Text string `json:"text"`
			List []any  `json:"list"`
		}{"héllo", []any{1, 2.5, nil, true}}
		return c.Invoke(ctx, "Echo", nil, arg)
	},
	"add":  func(ctx context.Context, c *signalr.Client) error { return c.Invoke(ctx, "Add", nil, 40, 2) },
	"void": func(ctx context.Context, c *signalr.Client) error { return c.Invoke(ctx, "Void", nil) },
	"big":  func(ctx context.Context, c *signalr.Client) error { return c.Invoke(ctx, "Big", nil, 40000) },
	"fail": func(ctx context.Context, c *signalr.Client) error {
		var he *signalr.HubError
		if err := c.Invoke(ctx, "Fail", nil, "bad input"); !errors.As(err, &he) {
			return errors.New("Fail did not return a hub error")
		}
		return nil
	},
	"counter": func(ctx context.Context, c *signalr.Client) error {
		s, err := c.Stream(ctx, "Counter", 5, 0)
		if err != nil {
			return err
		}
		for s.Next() {
		}
		return s.Err()
	},
	"cancel": func(ctx context.Context, c *signalr.Client) error {
		sctx, cancel := context.WithCancel(ctx)
		s, err := c.Stream(sctx, "Counter", 1000, 20)
		if err != nil {
			cancel()
			return err
		}
		for i := 0; i < 2 && s.Next(); i++ {
		}
		cancel()
		for s.Next() {
		}
		time.Sleep(100 * time.Millisecond) // let the Completion arrive, as the script does
		return nil
	},
	"sum": func(ctx context.Context, c *signalr.Client) error {
		up := signalr.NewClientStream()
		done := make(chan error, 1)
		go func() { done <- c.Invoke(ctx, "Sum", nil, up) }()
		for i := 1; i <= 4; i++ {
			if err := up.Send(ctx, i); err != nil {
				return err
			}
		}
		up.Close()
		return <-done
	},
	"callme_result": func(ctx context.Context, c *signalr.Client) error {
		return c.Invoke(ctx, "CallMe", nil, "Shout", "quiet", true)
	},
	"callme_noresult": func(ctx context.Context, c *signalr.Client) error {
		return c.Invoke(ctx, "CallMe", nil, "Notify", "fire and forget", false)
	},
	"callme_missing": func(ctx context.Context, c *signalr.Client) error {
		c.Invoke(ctx, "CallMe", nil, "NoSuchHandler", 1, true)
		return nil
	},
	"closeme_error": func(ctx context.Context, c *signalr.Client) error {
		c.Invoke(ctx, "CloseMe", nil, "maintenance", false)
		<-c.Done()
		return nil
	},
	"closeme_reconnect": func(ctx context.Context, c *signalr.Client) error {
		c.Invoke(ctx, "CloseMe", nil, "deploying", true)
		<-c.Done()
		return nil
	},
}

// replayProtocols are the hub protocols of the captures, by the name in
// their header.
var replayProtocols = map[string]protocol.HubProtocol{
	"json":        protocol.JSON{},
	"messagepack": protocol.MessagePack{},
}

// matchIgnoringHandshakeFrame is ids.Match, except that the handshake
// request matches in either frame type. The JavaScript client sends it in
// a Text message whatever the hub protocol, while this client, like the
// .NET client, sends it in the protocol's frame type, Binary for
// MessagePack.
func matchIgnoringHandshakeFrame(ids *conformance.InvocationIDMap) func(want, got conformance.Message) bool {
	return func(want, got conformance.Message) bool {
		record, rest, ok := protocol.SplitRecord(want.Data)
		if ok && len(rest) == 0 {
			if _, err := protocol.ParseHandshakeRequest(record); err == nil {
				want.Format = got.Format
			}
		}
		return ids.Match(want, got)
	}
}

// TestReplayOfficialClientCaptures plays the server side of every capture
// of the official client, in JSON and in MessagePack, against this client.
// The client's messages must match the official client's after parsing,
// which leaves out JSON property order and older MessagePack layouts. IDs
// may differ: the official client numbers invocations and streams from 0
// and this client from 1, a difference InvocationIDMap allows. Keep-alive
// Pings are left out because their number depends on timing.
func TestReplayOfficialClientCaptures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.capture"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no captures in testdata/captures")
	}
	perProtocol := map[string]int{}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".capture")
		t.Run(name, func(t *testing.T) {
			capture, err := conformance.ReadCaptureFile(path)
			if err != nil {
				t.Fatal(err)
			}
			scenario, ok := replayScenarios[capture.Scenario]
			if !ok {
				t.Fatalf("no replay scenario for the scenario %q of %s", capture.Scenario, name)
			}
			proto, ok := replayProtocols[capture.Protocol]
			if !ok {
				t.Fatalf("%s has the unknown protocol %q", name, capture.Protocol)
			}
			perProtocol[capture.Protocol]++
			ids := conformance.NewInvocationIDMap()
			replay := conformance.NewReplay(capture, conformance.ReplayOptions{
				Match:   matchIgnoringHandshakeFrame(ids),
				Rewrite: ids.Rewrite,
				Ignore:  conformance.IgnorePings,
				Timeout: 5 * time.Second,
			})
			if _, err := replay.Listen(); err != nil {
				t.Fatal(err)
			}
			defer replay.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := signalr.NewClient(replay.HubURL(), signalr.Config{Protocol: proto})
			c.On("Shout", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
				var s string
				if err := inv.Decode(&s); err != nil {
					return nil, err
				}
				return strings.ToUpper(s), nil
			})
			c.On("Notify", func(ctx context.Context, inv *signalr.Invocation) (any, error) { return nil, nil })
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := scenario(ctx, c); err != nil {
				t.Errorf("scenario: %v", err)
			}
			if err := c.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if err := replay.Wait(ctx); err != nil {
				t.Errorf("client traffic differs from the official client's: %v", err)
			}
		})
	}
	for name := range replayProtocols {
		if perProtocol[name] != len(replayScenarios) {
			t.Errorf("testdata/captures has %d captures of the %s protocol; want one per scenario, %d", perProtocol[name], name, len(replayScenarios))
		}
	}
}
