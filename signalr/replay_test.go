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
		// object, so the argument is passed pre-encoded in that order.
		return c.Invoke(ctx, "Echo", nil, protocol.RawValue(`{"text":"héllo","list":[1,2.5,null,true]}`))
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

// TestReplayOfficialClientCaptures plays the server side of every capture
// of the official client against this client. The client's messages must
// match the official client's after parsing, which leaves out property
// order, and up to invocation and stream IDs: the official client numbers
// them from 0 and this client from 1, a difference InvocationIDMap allows.
// Keep-alive Pings are left out because their number depends on timing.
func TestReplayOfficialClientCaptures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.capture"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no captures in testdata/captures")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".capture")
		t.Run(name, func(t *testing.T) {
			scenario, ok := replayScenarios[name]
			if !ok {
				t.Fatalf("no replay scenario for capture %s", name)
			}
			capture, err := conformance.ReadCaptureFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ids := conformance.NewInvocationIDMap()
			replay := conformance.NewReplay(capture, conformance.ReplayOptions{
				Match:   ids.Match,
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
			c := signalr.NewClient(replay.HubURL(), signalr.Config{})
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
}
