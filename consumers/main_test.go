package consumers

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }

// testPool is the database of the tests that run the intake handler
// against the real store, opened by the first test that asks; each seeds
// its own upstream.
func testPool(t testing.TB) *pgxpool.Pool { return testkit.Pool(t) }
