package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTwoServesKill9 runs two serve processes on the same queues and the
// same database and kills one with SIGKILL in the middle of a stream: the
// broker gives its unacknowledged deliveries to the other, which
// recognises what the dead one committed; the outbox rows the dead relay
// had leased are published by the other once the lease ends. The dead one
// is started again; in the long run the other is then killed too.
// Nothing is lost or doubled.
func TestTwoServesKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "two-serves-kill-9")
	n := size(400, 3000)
	a, b := e.serve(""), e.serve("")
	a.ready()
	b.ready()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("pair", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 20, 50*time.Millisecond)
	answered := func(s *server) int { return strings.Count(s.log.String(), `msg="request answered"`) }
	kills := []int{n / 3}
	if long {
		kills = append(kills, 2*n/3)
	}
	victim, other := a, b
	for _, at := range kills {
		waitUntil(t, 2*time.Minute, "stored", func() bool { return e.count(`SELECT count(*) FROM payments`) >= at })
		require.Positive(t, answered(victim), "serve %d takes its share before it is killed", victim.n)
		victim.kill9()
		e.injected(1)
		require.Less(t, e.count(`SELECT count(*) FROM payments`), n, "killed mid-stream")
		before := answered(other)
		waitUntil(t, 30*time.Second, "the other serve goes on", func() bool { return answered(other) > before })
		victim = e.serveReady()
		victim, other = other, victim
	}
	require.NoError(t, <-done)
	e.check(p, checkOptions{timeout: 2 * time.Minute})
	victim.stop()
	other.stop()
}
