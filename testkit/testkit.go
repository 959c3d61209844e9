// Package testkit is the one kit of b2bpay's tests: a settable clock, the
// package's database and vhost, opened by the first test that asks for
// them (so a package's pure tests run without any service), and what a
// missing service means.
//
// A test package's TestMain is one line:
//
//	func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }
//
// and a test that needs PostgreSQL calls Pool (or DatabaseURL, or
// NewDatabase for a database of its own), one that needs RabbitMQ calls
// AMQP. In the default test run (make test) a service that does not answer
// fails such a test; with B2BPAY_UNIT=1 (make unit) the test is skipped
// before any connection is tried, so the pure tests run alone, in seconds.
//
// The services are the ones pgtest and rabbitmqtest use:
// B2BPAY_TEST_DATABASE_URL and B2BPAY_TEST_AMQP_URL (and $RABBITMQCTL).
package testkit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
)

// UnitEnv names the variable that selects the unit run: set (to anything
// but ""), every test that asks for PostgreSQL or RabbitMQ is skipped.
const UnitEnv = "B2BPAY_UNIT"

// Unit reports whether this is the unit run (UnitEnv set).
func Unit() bool { return os.Getenv(UnitEnv) != "" }

// Options configures Main.
type Options struct {
	// PoolSize is the most connections of the package's pool (8 when 0).
	PoolSize int32
	// NoLeakCheck turns off the check for leaked goroutines after a
	// passing run (goleak.Find); it is on by default.
	NoLeakCheck bool
	// LeakOptions are passed to goleak, e.g. goroutines a library leaves
	// behind on purpose.
	LeakOptions []goleak.Option
}

// The package's services, opened lazily.
var (
	poolSize int32 = 8

	dbOnce sync.Once
	dbURL  string
	dbPool *pgxpool.Pool
	dbDrop func()
	dbErr  error

	mqOnce    sync.Once
	mqURL     string
	mqCleanup func()
	mqErr     error
)

// Main runs the package's tests, then closes and drops the database and
// deletes the vhost if a test opened them, and, after a passing run, fails
// it if goroutines leaked. It exits the process with the run's code.
func Main(m *testing.M, o Options) {
	os.Exit(run(m, o))
}

func run(m *testing.M, o Options) int {
	if o.PoolSize > 0 {
		poolSize = o.PoolSize
	}
	code := m.Run()
	if dbPool != nil {
		dbPool.Close()
	}
	if dbDrop != nil {
		dbDrop()
	}
	if mqCleanup != nil {
		mqCleanup()
	}
	if code == 0 && !o.NoLeakCheck {
		if err := goleak.Find(o.LeakOptions...); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			return 1
		}
	}
	return code
}

// need fails a test whose service did not answer: outside the unit run
// (where skipInUnit already skipped it) a missing service is a failure,
// never a silent skip.
func need(t testing.TB, service string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	t.Fatalf("this test needs %s: %v (make services starts it; %s=1 skips the tests that need services)", service, err, UnitEnv)
}

// skipInUnit skips the test in the unit run, before any connection.
func skipInUnit(t testing.TB, service string) {
	t.Helper()
	if Unit() {
		t.Skipf("needs %s (%s is set)", service, UnitEnv)
	}
}

// Pool returns the pool of the package's database, a fresh database on
// the test server migrated to the current schema, created by the first
// test that asks and dropped after the run. Tests never share registry
// rows: each seeds its own.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	openDatabase(t)
	return dbPool
}

// DatabaseURL returns the URL of the package's database (see Pool), for a
// test that opens connections of its own.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	openDatabase(t)
	return dbURL
}

func openDatabase(t testing.TB) {
	t.Helper()
	skipInUnit(t, "PostgreSQL")
	dbOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dbURL, dbDrop, dbErr = pgtest.NewDatabase(ctx)
		if dbErr != nil {
			return
		}
		dbPool, dbErr = postgres.Open(ctx, dbURL, poolSize)
	})
	need(t, "PostgreSQL", dbErr)
}

// NewDatabase creates a database for this test alone, migrated to the
// current schema, and drops it when the test ends; it returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	skipInUnit(t, "PostgreSQL")
	url, drop, err := pgtest.NewDatabase(t.Context())
	need(t, "PostgreSQL", err)
	t.Cleanup(drop)
	return url
}

// AMQP returns the amqp URL of the package's vhost, created by the first
// test that asks (rabbitmqctl takes a second or two per call, so a package
// shares one; give each test its own queues with rabbitmqtest.QueueName)
// and deleted after the run.
func AMQP(t testing.TB) string {
	t.Helper()
	skipInUnit(t, "RabbitMQ")
	mqOnce.Do(func() {
		mqURL, mqCleanup, mqErr = rabbitmqtest.NewVhost()
	})
	need(t, "RabbitMQ", mqErr)
	return mqURL
}

// OwnPool is NewDatabase with a pool of at most size connections on it,
// closed when the test ends (before the database is dropped).
func OwnPool(t testing.TB, size int32) *pgxpool.Pool {
	t.Helper()
	url := NewDatabase(t)
	pool, err := postgres.Open(t.Context(), url, size)
	need(t, "PostgreSQL", err)
	t.Cleanup(pool.Close)
	return pool
}

// OwnVhost creates a vhost for this test alone (for faults that hit every
// connection in a vhost) and deletes it when the test ends; it returns its
// amqp URL.
func OwnVhost(t testing.TB) string {
	t.Helper()
	skipInUnit(t, "RabbitMQ")
	u, cleanup, err := rabbitmqtest.NewVhost()
	need(t, "RabbitMQ", err)
	t.Cleanup(cleanup)
	return u
}

// Services marks a test that reaches PostgreSQL and RabbitMQ on its own
// (through a program under test rather than the kit): the unit run skips
// it, before anything connects.
func Services(t testing.TB) {
	t.Helper()
	skipInUnit(t, "PostgreSQL and RabbitMQ")
}
