package auth

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/b2bpay/b2bpay/payment"
)

// Throttled is the refusal of a sign-in that must wait (CodeLoginThrottled):
// RetryAfter says how long, for an HTTP Retry-After header.
type Throttled struct {
	Err        *payment.Error
	RetryAfter time.Duration
}

// NewThrottled returns a Throttled refusal to come back after d.
func NewThrottled(d time.Duration, format string, args ...any) *Throttled {
	return &Throttled{Err: payment.Errorf(payment.CodeLoginThrottled, format, args...), RetryAfter: max(d, time.Second)}
}

func (t *Throttled) Error() string { return t.Err.Error() }

// Unwrap lets payment.ErrorCode see CodeLoginThrottled.
func (t *Throttled) Unwrap() error { return t.Err }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up (at least 1).
func (t *Throttled) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(t.RetryAfter.Seconds())))
}

// Rate is a token bucket: Burst attempts at once, then one every Every.
type Rate struct {
	Every time.Duration
	Burst int
}

// GateConfig configures a Gate. Zero fields take DefaultGate's.
type GateConfig struct {
	// PerSource bounds the failed sign-ins of one client address; it is
	// checked first, so one source runs out before it can lock an account.
	PerSource Rate
	// PerUser bounds the failed sign-ins of one user id as typed, known or
	// not (the same answers for both).
	PerUser Rate
	// Hashers is how many password checks (argon2id: 64 MiB, tens of ms of
	// a core) run at once; Waiting is how many more may wait for one (-1:
	// none), at most MaxWait. Beyond that a sign-in is refused at once:
	// saturated.
	Hashers, Waiting int
	MaxWait          time.Duration
	// Keys bounds the sources and user ids remembered (least recently seen
	// are forgotten first).
	Keys int
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// DefaultGate is the gate's default: per source 10 failures then one per
// 6 s; per user id 5 failures then one per 30 s; half the CPUs checking
// passwords (at least one), 16 waiting at most 10 s (one check took up to
// 4 s at a load average of 48 on the 2-core test machine); 10,000 keys.
var DefaultGate = GateConfig{
	PerSource: Rate{Every: 6 * time.Second, Burst: 10},
	PerUser:   Rate{Every: 30 * time.Second, Burst: 5},
	Hashers:   max(1, runtime.GOMAXPROCS(0)/2),
	Waiting:   16,
	MaxWait:   10 * time.Second,
	Keys:      10000,
}

// Gate admits sign-ins before their password is checked, so that a flood
// of them cannot take the CPU, memory and database connections that intake
// and decisions need. It throttles failed sign-ins by client address and
// by user id (token buckets charged by failures, so a busy office signing
// in correctly is never slowed), and bounds the password checks running at
// once. It keeps its state in memory, per process.
type Gate struct {
	cfg     GateConfig
	sources *lru.Cache[string, *rate.Limiter]
	users   *lru.Cache[string, *rate.Limiter]
	hashing *semaphore.Weighted
	waiting atomic.Int64
	mu      sync.Mutex // makes get-or-add of a bucket atomic
}

// NewGate returns a Gate with cfg, zero fields taken from DefaultGate.
func NewGate(cfg GateConfig) *Gate {
	d := DefaultGate
	if cfg.PerSource.Every <= 0 || cfg.PerSource.Burst <= 0 {
		cfg.PerSource = d.PerSource
	}
	if cfg.PerUser.Every <= 0 || cfg.PerUser.Burst <= 0 {
		cfg.PerUser = d.PerUser
	}
	if cfg.Hashers <= 0 {
		cfg.Hashers = d.Hashers
	}
	switch {
	case cfg.Waiting == 0:
		cfg.Waiting = d.Waiting
	case cfg.Waiting < 0:
		cfg.Waiting = 0 // none may wait
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = d.MaxWait
	}
	if cfg.Keys <= 0 {
		cfg.Keys = d.Keys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sources, _ := lru.New[string, *rate.Limiter](cfg.Keys)
	users, _ := lru.New[string, *rate.Limiter](cfg.Keys)
	return &Gate{cfg: cfg, sources: sources, users: users, hashing: semaphore.NewWeighted(int64(cfg.Hashers))}
}

// Admit lets a sign-in from source (a client address) for userID go on to
// its password check, or refuses it with a *Throttled: the source or the
// user id has failed too often lately, or every password checker is busy
// and the queue is full (or the wait ran out). On success the caller must
// call done once with whether the sign-in failed (a wrong password, an
// unknown user, a locked one), which charges both buckets.
func (g *Gate) Admit(ctx context.Context, source, userID string) (done func(failed bool), err error) {
	now := g.cfg.Now()
	src := g.bucket(g.sources, source, g.cfg.PerSource)
	if d := wait(src, now); d > 0 {
		return nil, NewThrottled(d, "too many failed sign-ins from this address; try again in %d s", seconds(d))
	}
	usr := g.bucket(g.users, userID, g.cfg.PerUser)
	if d := wait(usr, now); d > 0 {
		return nil, NewThrottled(d, "too many failed sign-ins for this user id; try again in %d s", seconds(d))
	}
	if !g.hashing.TryAcquire(1) {
		if g.waiting.Add(1) > int64(g.cfg.Waiting) {
			g.waiting.Add(-1)
			return nil, NewThrottled(time.Second, "sign-in is busy; try again in 1 s")
		}
		wctx, cancel := context.WithTimeout(ctx, g.cfg.MaxWait)
		err := g.hashing.Acquire(wctx, 1)
		cancel()
		g.waiting.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("sign-in: %w", ctx.Err())
			}
			return nil, NewThrottled(time.Second, "sign-in is busy; try again in 1 s")
		}
	}
	var once sync.Once
	return func(failed bool) {
		once.Do(func() {
			g.hashing.Release(1)
			if failed {
				t := g.cfg.Now()
				src.ReserveN(t, 1)
				usr.ReserveN(t, 1)
			}
		})
	}, nil
}

// bucket returns the token bucket of key, adding a full one.
func (g *Gate) bucket(c *lru.Cache[string, *rate.Limiter], key string, r Rate) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := c.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(rate.Every(r.Every), r.Burst)
	c.Add(key, l)
	return l
}

// wait is how long until l has a token: 0 when it has one now.
func wait(l *rate.Limiter, now time.Time) time.Duration {
	tokens := l.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second))
}

func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
