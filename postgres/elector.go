package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotLeader is IsLeader's answer when another session holds the lock.
var ErrNotLeader = errors.New("postgres: not the leader: another process holds the advisory lock")

// ErrElectorClosed is IsLeader's answer after Close.
var ErrElectorClosed = errors.New("postgres: elector closed")

// electorTimeout bounds each round trip of an elector: connecting, checking
// the lock, releasing it.
const electorTimeout = 3 * time.Second

// electorParams are run-time parameters for the elector's session, unless
// the connection string sets them: a name to find it by in pg_stat_activity,
// and server-side TCP keepalives, so that a leader cut off by the network
// loses its session, and the lock, in about 25 seconds instead of the
// operating system's default of two hours. (They are ignored on Unix-domain
// sockets.)
var electorParams = map[string]string{
	"application_name":        "b2bpay-elector",
	"tcp_keepalives_idle":     "10",
	"tcp_keepalives_interval": "5",
	"tcp_keepalives_count":    "3",
}

// Elector makes one b2bpay process the leader that runs scheduled jobs: the
// one holding a PostgreSQL advisory lock on a dedicated connection. It checks
// the connection on every IsLeader call and steps down on any error (a lost
// connection loses the lock on the server too).
//
// It implements gocron's Elector (gocron.WithDistributedElector). It is safe
// for concurrent use; calls are serialized. Leadership is a hint, not a
// fence: a leader may be cut off while a job it started still runs, so jobs
// must still let the database decide who wins a piece of work (a unique key
// on the job and its scheduled time). The connection string must reach
// PostgreSQL directly or through a pooler in session mode: a transaction
// pooler (PgBouncer's default) breaks session advisory locks.
type Elector struct {
	connString string
	key        int64
	logger     *slog.Logger
	timeout    time.Duration

	mu      sync.Mutex
	conn    *pgx.Conn // nil until connected, and after any error
	leader  bool
	failing bool // the last call failed: log only the first failure of a run
	closed  bool
}

// NewElector returns an elector for the advisory lock key on the database
// connString names. Every process that shares the scheduled jobs uses the
// same key; different keys elect independently. It does not connect until
// the first IsLeader. A nil logger discards.
func NewElector(connString string, key int64, logger *slog.Logger) *Elector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{
		connString: connString,
		key:        key,
		logger:     logger.With("lock_key", key),
		timeout:    electorTimeout,
	}
}

// IsLeader returns nil when this process holds the lock, or just acquired it
// with pg_try_advisory_lock; ErrNotLeader when another session holds it; and
// another error when the database cannot be reached or the connection failed,
// in which case the elector has closed its connection (stepping down) and
// reconnects on a later call. Each call takes at most a few seconds.
func (e *Elector) IsLeader(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrElectorClosed
	}
	callCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	held, err := e.elect(callCtx)
	if err != nil {
		e.stepDown(ctx, err)
		return fmt.Errorf("postgres: elect leader (lock %d): %w", e.key, err)
	}
	if e.failing {
		e.failing = false
		e.logger.InfoContext(ctx, "leader election: database reachable again")
	}
	if held != e.leader {
		e.leader = held
		if held {
			e.logger.InfoContext(ctx, "leader election: this process is the leader")
		} else {
			e.logger.WarnContext(ctx, "leader election: the session lost the lock")
		}
	}
	if !held {
		return ErrNotLeader
	}
	return nil
}

// elect connects when needed and tries the lock.
func (e *Elector) elect(ctx context.Context) (bool, error) {
	if e.conn == nil {
		cfg, err := pgx.ParseConfig(e.connString)
		if err != nil {
			return false, err
		}
		requirePrimary(&cfg.Config)
		for k, v := range electorParams {
			if _, set := cfg.RuntimeParams[k]; !set {
				cfg.RuntimeParams[k] = v
			}
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return false, err
		}
		e.conn = conn
	}
	// Asking again while holding the lock stacks it in the session, which is
	// harmless: Close releases every level, and so does the session's end.
	var held bool
	err := e.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, e.key).Scan(&held)
	return held, err
}

// stepDown closes the connection after an error: whatever state the session
// is in, closing it ends the lock on the server (if the server still has it,
// as soon as it sees the connection go).
func (e *Elector) stepDown(ctx context.Context, cause error) {
	if e.conn != nil {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = e.conn.Close(closeCtx)
		cancel()
		e.conn = nil
	}
	switch {
	case ctx.Err() != nil && e.leader:
		e.logger.InfoContext(ctx, "leader election: stepping down, the call was canceled", "error", cause)
	case ctx.Err() != nil:
		// The caller gave up (a scheduler shutting down): nothing to report.
	case e.leader:
		e.logger.WarnContext(ctx, "leader election: stepping down", "error", cause)
	case !e.failing:
		e.logger.WarnContext(ctx, "leader election: cannot reach the database", "error", cause)
	}
	e.leader = false
	e.failing = ctx.Err() == nil
}

// Close releases the lock and the connection. Later IsLeader calls return
// ErrElectorClosed; Close again does nothing.
func (e *Elector) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	var err error
	if e.leader {
		// Closing the session releases the lock too; unlocking first makes
		// the release immediate whatever the server does with the socket.
		_, err = e.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
		e.logger.InfoContext(ctx, "leader election: released leadership")
	}
	e.leader = false
	err = errors.Join(err, e.conn.Close(ctx))
	e.conn = nil
	if err != nil {
		return fmt.Errorf("postgres: close elector (lock %d): %w", e.key, err)
	}
	return nil
}
