package resonite

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Defaults of RefresherOptions.
const (
	DefaultRefreshBefore   = 30 * time.Minute
	DefaultRefreshInterval = time.Minute
)

// RefresherOptions configures a [Refresher].
type RefresherOptions struct {
	// Before is how long before the expiry the refresher extends the
	// token. Zero means DefaultRefreshBefore.
	Before time.Duration

	// Interval is the maximum time between two checks of the expiry, and
	// the wait before retrying a failed extension. A short interval notices
	// a clock that jumped, as after a suspend. Zero means
	// DefaultRefreshInterval.
	Interval time.Duration

	// Lifetime is how long the token is assumed to last after a successful
	// extension, because PATCH /userSessions returns no new expiry. Zero
	// means the session's original lifetime, Expire minus Created, and
	// when that is unknown 24 hours, or 30 days with RememberMe. The 30
	// days come from the Resonite wiki; the 24 hours are what the
	// JavaScript bot mvcontact-bot assumes and have not been measured.
	Lifetime time.Duration

	// OnExtend, when set, is called after each successful extension with
	// the assumed new expiry.
	OnExtend func(expire time.Time)

	// OnError, when set, is called with each failed extension. After an
	// error matching ErrSessionExpired the refresher stops, because the
	// token cannot be extended any more; the caller has to sign in again.
	OnError func(err error)

	// Now is the clock. The default is time.Now.
	Now func() time.Time

	// After waits as time.After does. Tests set Now and After to a fake
	// clock. The default is time.After.
	After func(d time.Duration) <-chan time.Time
}

// A Refresher extends a session's token in the background before it
// expires. It does not change the Session, and the Session must not change
// while the refresher runs; [Refresher.Expire] returns the expiry it
// assumes.
type Refresher struct {
	api     *API
	session *Session
	opts    RefresherOptions

	done chan struct{} // closed when the refresher has stopped

	mu      sync.Mutex // guards following
	expire  time.Time
	cancel  context.CancelFunc // set by Start
	stopped bool               // set by Stop
}

// NewRefresher returns a refresher for session that extends it with api.
// Call Start to begin.
func NewRefresher(api *API, session *Session, opts RefresherOptions) *Refresher {
	if opts.Before <= 0 {
		opts.Before = DefaultRefreshBefore
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultRefreshInterval
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = sessionLifetime(session)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	return &Refresher{
		api:     api,
		session: session,
		opts:    opts,
		done:    make(chan struct{}),
		expire:  session.Expire,
	}
}

// Start starts the background goroutine. A session without an expiry is
// extended at once. Start does nothing when the refresher was already
// started or stopped.
func (r *Refresher) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil || r.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
}

// Stop stops the goroutine, canceling an extension in progress, and waits
// for it to return. It may be called more than once, and without Start.
func (r *Refresher) Stop() {
	r.mu.Lock()
	alreadyStopped := r.stopped
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel == nil {
		if !alreadyStopped {
			close(r.done)
		}
		return
	}
	cancel()
	<-r.done
}

// Done returns a channel that is closed when the refresher has stopped:
// after Stop, or after an extension failed with an error matching
// ErrSessionExpired.
func (r *Refresher) Done() <-chan struct{} { return r.done }

// Expire returns the expiry the refresher assumes: the session's Expire
// until the first extension, and afterwards the time of the last
// extension plus the lifetime.
func (r *Refresher) Expire() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expire
}

func (r *Refresher) run(ctx context.Context) {
	defer close(r.done)
	for {
		now := r.opts.Now()
		due := r.Expire().Add(-r.opts.Before)
		wait := min(due.Sub(now), r.opts.Interval)
		if wait <= 0 {
			var stop bool
			wait, stop = r.extend(ctx, now)
			if stop {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.opts.After(wait):
		}
	}
}

// extend extends the token once and returns how long to wait before the
// next check, and whether the refresher should stop.
func (r *Refresher) extend(ctx context.Context, now time.Time) (wait time.Duration, stop bool) {
	err := r.api.Extend(ctx, r.session)
	if ctx.Err() != nil {
		return 0, true
	}
	if err != nil {
		if r.opts.OnError != nil {
			r.opts.OnError(err)
		}
		if errors.Is(err, ErrSessionExpired) {
			return 0, true
		}
		if rle, ok := errors.AsType[*RateLimitError](err); ok {
			return max(rle.RetryAfter, r.opts.Interval), false
		}
		return r.opts.Interval, false
	}

	expire := now.Add(r.opts.Lifetime)
	r.mu.Lock()
	r.expire = expire
	r.mu.Unlock()
	if r.opts.OnExtend != nil {
		r.opts.OnExtend(expire)
	}
	// With a Lifetime shorter than Before the next extension is due at
	// once, so the wait is at least Interval.
	wait = expire.Add(-r.opts.Before).Sub(now)
	if wait <= 0 || wait > r.opts.Interval {
		wait = r.opts.Interval
	}
	return wait, false
}
