package pgtest

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/seal"
)

// Key is the MAC key of test stores (postgres.Config.Seal): fixed, so a
// test can seal fixtures the store then checks.
var Key = func() *seal.Key {
	k, err := seal.New([]byte("b2bpay pgtest approval MAC key, tests only"))
	if err != nil {
		panic(err)
	}
	return k
}()

// Approve writes the sealed decisions of every authorized payment a
// fixture set with SQL (postgres.ApproveFixture), so that the export
// claim does not hold it. It returns how many payments it approved.
func Approve(ctx context.Context, pool *pgxpool.Pool, key *seal.Key) (int, error) {
	return postgres.ApproveFixture(ctx, pool, key)
}
