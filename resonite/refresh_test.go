package resonite_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
)

// refresherEvents collects the callbacks of a Refresher.
type refresherEvents struct {
	mu       sync.Mutex
	extended []time.Time // the clock's time of each extension
	expires  []time.Time // the expiries OnExtend received
	errs     []error
	signal   chan struct{}
}

func newRefresherEvents() *refresherEvents {
	return &refresherEvents{signal: make(chan struct{}, 100)}
}

func (e *refresherEvents) options(clock *fakeClock) resonite.RefresherOptions {
	return resonite.RefresherOptions{
		Now:   clock.Now,
		After: clock.After,
		OnExtend: func(expire time.Time) {
			e.mu.Lock()
			e.extended = append(e.extended, clock.Now())
			e.expires = append(e.expires, expire)
			e.mu.Unlock()
			e.signal <- struct{}{}
		},
		OnError: func(err error) {
			e.mu.Lock()
			e.errs = append(e.errs, err)
			e.mu.Unlock()
			e.signal <- struct{}{}
		},
	}
}

// wait waits for the next callback.
func (e *refresherEvents) wait(t *testing.T) {
	t.Helper()
	select {
	case <-e.signal:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for OnExtend or OnError")
	}
}

func TestRefresherExtendsBeforeExpiry(t *testing.T) {
	clock := newFakeClock(testStart)
	srv, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())
	events := newRefresherEvents()
	opts := events.options(clock)
	opts.Before = time.Hour
	opts.Interval = 6 * time.Hour
	r := resonite.NewRefresher(api, s, opts)
	r.Start()
	defer r.Stop()

	// The refresher checks every 6 hours and extends 1 hour before the
	// expiry, 23 hours after the login.
	var waits []time.Duration
	for range 5 {
		waits = append(waits, clock.step(t).wait)
	}
	events.wait(t)
	wantWaits := []time.Duration{6 * time.Hour, 6 * time.Hour, 6 * time.Hour, 5 * time.Hour}
	for i, want := range wantWaits {
		if waits[i] != want {
			t.Errorf("wait %d = %v; want %v", i, waits[i], want)
		}
	}

	events.mu.Lock()
	extended, expires, errs := events.extended, events.expires, events.errs
	events.mu.Unlock()
	if len(errs) != 0 {
		t.Fatalf("OnError: %v", errs)
	}
	if len(extended) != 1 {
		t.Fatalf("extended %d times; want 1", len(extended))
	}
	if want := testStart.Add(23 * time.Hour); !extended[0].Equal(want) {
		t.Errorf("extended at %v; want %v", extended[0], want)
	}
	wantExpire := testStart.Add(23*time.Hour + resonitetest.DefaultTokenLifetime)
	if !expires[0].Equal(wantExpire) {
		t.Errorf("OnExtend expiry = %v; want %v", expires[0], wantExpire)
	}
	if got := r.Expire(); !got.Equal(wantExpire) {
		t.Errorf("Expire() = %v; want %v", got, wantExpire)
	}
	if got, _ := srv.TokenExpire(s.Token); !got.Equal(wantExpire) {
		t.Errorf("server expiry = %v; want %v", got, wantExpire)
	}
	if _, extends := srv.Counts(); extends != 1 {
		t.Errorf("server extensions = %d; want 1", extends)
	}

	// The token keeps working past its first expiry.
	clock.Advance(2 * time.Hour)
	if _, ok := srv.Authenticate(s.Authorization()); !ok {
		t.Error("the token expired although the refresher extended it")
	}
}

func TestRefresherReportsExpiredToken(t *testing.T) {
	clock := newFakeClock(testStart)
	srv, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())
	srv.Revoke(s.Token)

	events := newRefresherEvents()
	opts := events.options(clock)
	opts.Before = time.Hour
	opts.Interval = 24 * time.Hour
	r := resonite.NewRefresher(api, s, opts)
	r.Start()
	defer r.Stop()

	clock.step(t)
	events.wait(t)
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the refresher did not stop after ErrSessionExpired")
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if len(events.errs) != 1 || !errors.Is(events.errs[0], resonite.ErrSessionExpired) {
		t.Errorf("OnError received %v; want one ErrSessionExpired", events.errs)
	}
	if len(events.extended) != 0 {
		t.Errorf("OnExtend was called %d times", len(events.extended))
	}
}

func TestRefresherRetriesAfterFailure(t *testing.T) {
	clock := newFakeClock(testStart)
	srv, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())
	events := newRefresherEvents()
	opts := events.options(clock)
	opts.Before = time.Hour
	opts.Interval = 10 * time.Minute
	opts.Lifetime = 12 * time.Hour
	// The refresher would check every 10 minutes for 23 hours; the expiry
	// is moved closer so that the first check is already due.
	s.Expire = testStart.Add(30 * time.Minute)
	r := resonite.NewRefresher(api, s, opts)

	srv.FailNext(http.StatusBadGateway, "")
	srv.RateLimit(1, 25*time.Minute)
	r.Start()
	defer r.Stop()

	events.wait(t) // 502 at once
	if w := clock.step(t); w.wait != 10*time.Minute {
		t.Errorf("wait after a 502 = %v; want the 10m interval", w.wait)
	}
	events.wait(t) // 429
	if w := clock.step(t); w.wait != 25*time.Minute {
		t.Errorf("wait after a 429 = %v; want Retry-After, 25m", w.wait)
	}
	events.wait(t) // success

	events.mu.Lock()
	defer events.mu.Unlock()
	if len(events.errs) != 2 {
		t.Fatalf("OnError received %v; want 2 errors", events.errs)
	}
	if statusErr, ok := errors.AsType[*resonite.StatusError](events.errs[0]); !ok || statusErr.StatusCode != http.StatusBadGateway {
		t.Errorf("first error = %v; want a *StatusError with 502", events.errs[0])
	}
	if _, ok := errors.AsType[*resonite.RateLimitError](events.errs[1]); !ok {
		t.Errorf("second error = %v; want a *RateLimitError", events.errs[1])
	}
	if len(events.extended) != 1 {
		t.Fatalf("extended %d times; want 1", len(events.extended))
	}
	wantAt := testStart.Add(35 * time.Minute)
	if !events.extended[0].Equal(wantAt) {
		t.Errorf("extended at %v; want %v", events.extended[0], wantAt)
	}
	if want := wantAt.Add(12 * time.Hour); !events.expires[0].Equal(want) {
		t.Errorf("assumed expiry = %v; want %v with the 12h Lifetime", events.expires[0], want)
	}
}

func TestRefresherDefaultLifetime(t *testing.T) {
	tests := []struct {
		name    string
		session resonite.Session
		want    time.Duration
	}{
		{"from the session", resonite.Session{Created: testStart.Add(-5 * time.Hour), Expire: testStart}, 5 * time.Hour},
		{"unknown", resonite.Session{Expire: testStart}, 24 * time.Hour},
		{"unknown with rememberMe", resonite.Session{Expire: testStart, RememberMe: true}, 30 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(testStart)
			_, api := newTestServer(t, clock)
			s := login(t, api, aliceLogin())
			tt.session.UserID, tt.session.Token = s.UserID, s.Token
			events := newRefresherEvents()
			r := resonite.NewRefresher(api, &tt.session, events.options(clock))
			r.Start()
			defer r.Stop()
			events.wait(t)

			events.mu.Lock()
			defer events.mu.Unlock()
			if len(events.expires) != 1 {
				t.Fatalf("extended %d times, errors %v; want one extension", len(events.expires), events.errs)
			}
			if got := events.expires[0].Sub(testStart); got != tt.want {
				t.Errorf("assumed lifetime = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestRefresherStop(t *testing.T) {
	clock := newFakeClock(testStart)
	_, api := newTestServer(t, clock)
	s := login(t, api, aliceLogin())
	r := resonite.NewRefresher(api, s, resonite.RefresherOptions{Now: clock.Now, After: clock.After})
	r.Start()
	clock.nextWaiter(t)
	r.Stop()
	select {
	case <-r.Done():
	default:
		t.Error("Done is open after Stop")
	}
	r.Stop()
	r.Start() // does nothing after Stop
	select {
	case <-r.Done():
	default:
		t.Error("Done is open after Start following Stop")
	}
}

func TestRefresherStopWithoutStart(t *testing.T) {
	r := resonite.NewRefresher(&resonite.API{}, &resonite.Session{}, resonite.RefresherOptions{})
	r.Stop()
	r.Stop()
	select {
	case <-r.Done():
	default:
		t.Error("Done is open after Stop")
	}
}
