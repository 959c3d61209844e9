package testkit

import (
	"sync"
	"time"
)

// Clock is a pinned, settable clock, safe for concurrent use: pass its Now
// wherever a package takes a clock, then move it with Set or Advance.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock pinned at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the pinned time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set pins the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
