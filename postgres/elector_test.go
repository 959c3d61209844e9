package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/testlog"
)

// electorKey returns a lock key no other test uses.
func electorKey(t *testing.T) int64 {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return int64(binary.BigEndian.Uint64(b[:]))
}

// newElector returns an elector on the test database, closed at cleanup.
func newElector(t *testing.T, key int64, logger *slog.Logger) *postgres.Elector {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := postgres.NewElector(testPool(t).Config().ConnString(), key, logger)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

// lockHolder returns the backend pid holding the advisory lock key, or 0.
// A bigint key is stored as classid (high 32 bits) and objid (low 32 bits).
func lockHolder(t *testing.T, key int64) int {
	t.Helper()
	var pids []int
	rows, err := testPool(t).Query(t.Context(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		  AND classid = ($1::bigint >> 32) & 4294967295 AND objid = $1::bigint & 4294967295`, key)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var pid int
		require.NoError(t, rows.Scan(&pid))
		pids = append(pids, pid)
	}
	require.NoError(t, rows.Err())
	require.LessOrEqual(t, len(pids), 1, "one holder at most")
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

func TestElectorOneLeader(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := electorKey(t)
	a, b := newElector(t, key, nil), newElector(t, key, nil)
	require.Zero(t, lockHolder(t, key), "no connection before the first call")
	for range 20 {
		require.NoError(t, a.IsLeader(ctx))
		require.ErrorIs(t, b.IsLeader(ctx), postgres.ErrNotLeader)
	}
	pid := lockHolder(t, key)
	require.NotZero(t, pid)
	var app string
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT application_name FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&app))
	require.Equal(t, "b2bpay-elector", app)

	// Many electors asked concurrently: one leader, always the same.
	key = electorKey(t)
	electors := make([]*postgres.Elector, 5)
	for i := range electors {
		electors[i] = newElector(t, key, nil)
	}
	wins := make([]int, len(electors))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, e := range electors {
		for range 4 {
			wg.Go(func() {
				for range 10 {
					err := e.IsLeader(ctx)
					if err == nil {
						mu.Lock()
						wins[i]++
						mu.Unlock()
					} else if !assert.ErrorIs(t, err, postgres.ErrNotLeader) {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	leaders := 0
	for _, w := range wins {
		if w > 0 {
			leaders++
			require.Equal(t, 40, w, "the leader stays the leader: %v", wins)
		}
	}
	require.Equal(t, 1, leaders, "wins per elector: %v", wins)
}

func TestElectorCloseHandsOver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := electorKey(t)
	a, b := newElector(t, key, nil), newElector(t, key, nil)
	require.NoError(t, a.IsLeader(ctx))
	require.ErrorIs(t, b.IsLeader(ctx), postgres.ErrNotLeader)

	require.NoError(t, a.Close())
	require.Zero(t, lockHolder(t, key), "released at once")
	require.NoError(t, b.IsLeader(ctx), "the other takes over on its next call")
	require.ErrorIs(t, a.IsLeader(ctx), postgres.ErrElectorClosed)
	require.NoError(t, a.Close(), "Close twice")

	c := newElector(t, key, nil)
	require.ErrorIs(t, c.IsLeader(ctx), postgres.ErrNotLeader)
	require.NoError(t, b.Close())
	require.NoError(t, c.IsLeader(ctx))

	// Closing an elector that never connected, or never led, is fine.
	require.NoError(t, postgres.NewElector("postgres://nowhere.invalid/x", key, nil).Close())
}

func TestElectorBackendKilled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := electorKey(t)
	var logs testlog.Buffer
	a := newElector(t, key, slog.New(slog.NewTextHandler(&logs, nil)))
	b := newElector(t, key, nil)
	require.NoError(t, a.IsLeader(ctx))
	require.ErrorIs(t, b.IsLeader(ctx), postgres.ErrNotLeader)
	require.Contains(t, logs.String(), "this process is the leader")

	pid := lockHolder(t, key)
	require.NotZero(t, pid)
	var killed bool
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&killed))
	require.True(t, killed)

	err := a.IsLeader(ctx)
	require.Error(t, err, "the leader notices on its next call")
	require.NotErrorIs(t, err, postgres.ErrNotLeader)
	require.Contains(t, logs.String(), "stepping down")
	require.NoError(t, b.IsLeader(ctx), "the other takes over")
	require.ErrorIs(t, a.IsLeader(ctx), postgres.ErrNotLeader, "reconnected, a follower now")
	require.NotEqual(t, pid, lockHolder(t, key))
}

func TestElectorKeysAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k1, k2 := electorKey(t), electorKey(t)
	a, b, c := newElector(t, k1, nil), newElector(t, k2, nil), newElector(t, k1, nil)
	require.NoError(t, a.IsLeader(ctx))
	require.NoError(t, b.IsLeader(ctx))
	require.ErrorIs(t, c.IsLeader(ctx), postgres.ErrNotLeader)

	// Keys at the ends of the range, whose halves differ only in sign.
	for _, k := range []int64{math.MinInt64, math.MaxInt64, -1, 0} {
		x, y := newElector(t, k, nil), newElector(t, k, nil)
		require.NoError(t, x.IsLeader(ctx), k)
		require.ErrorIs(t, y.IsLeader(ctx), postgres.ErrNotLeader, k)
		require.NotZero(t, lockHolder(t, k), k)
	}
}

func TestElectorUnreachable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var logs testlog.Buffer
	e := postgres.NewElector("postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", 1,
		slog.New(slog.NewTextHandler(&logs, nil)))
	defer func() { require.NoError(t, e.Close()) }()
	for range 3 {
		err := e.IsLeader(ctx)
		require.Error(t, err)
		require.NotErrorIs(t, err, postgres.ErrNotLeader)
		require.ErrorContains(t, err, "elect leader (lock 1)")
	}
	require.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("cannot reach the database")), "logged once per outage")

	bad := postgres.NewElector("postgres://x:%zz@host/db", 1, nil)
	require.Error(t, bad.IsLeader(ctx))
	require.NoError(t, bad.Close())

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	good := newElector(t, electorKey(t), nil)
	require.ErrorIs(t, good.IsLeader(canceled), context.Canceled)
}

// TestElectorWithGocron runs one job in two schedulers, as two b2bpay
// processes would: only the leader's runs it, until the leader goes.
func TestElectorWithGocron(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := electorKey(t)
	a, b := newElector(t, key, nil), newElector(t, key, nil)
	require.NoError(t, a.IsLeader(ctx), "a leads from the start")

	type runs struct {
		mu    sync.Mutex
		times []time.Time
	}
	var runsA, runsB runs
	start := func(e gocron.Elector, r *runs) gocron.Scheduler {
		s, err := gocron.NewScheduler(gocron.WithDistributedElector(e))
		require.NoError(t, err)
		_, err = s.NewJob(gocron.DurationJob(100*time.Millisecond), gocron.NewTask(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.times = append(r.times, time.Now())
		}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
		require.NoError(t, err)
		s.Start()
		return s
	}
	count := func(r *runs) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.times)
	}
	sa, sb := start(a, &runsA), start(b, &runsB)
	defer func() { require.NoError(t, sa.Shutdown()) }()
	defer func() { require.NoError(t, sb.Shutdown()) }()

	time.Sleep(1500 * time.Millisecond)
	ranA, ranB := count(&runsA), count(&runsB)
	require.GreaterOrEqual(t, ranA, 10, "the leader's scheduler runs the job")
	require.Zero(t, ranB, "the follower's never does")

	// The leader goes: the follower's scheduler takes over.
	closing := time.Now() // b cannot lead before a's Close releases the lock
	require.NoError(t, a.Close())
	afterClose := count(&runsA)
	time.Sleep(1000 * time.Millisecond)
	require.LessOrEqual(t, count(&runsA)-afterClose, 1, "at most a run already past its check")
	require.GreaterOrEqual(t, count(&runsB), 5, "the new leader's scheduler runs the job")
	runsB.mu.Lock()
	defer runsB.mu.Unlock()
	require.True(t, runsB.times[0].After(closing), "b ran only after a stepped down")
}
