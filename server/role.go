package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/postgres"
)

// CheckRole refuses to serve as a role that could rewrite history (a
// superuser, or the owner of b2bpay's tables: TRUNCATE, ALTER, DISABLE
// TRIGGER), unless allow is set; then it logs an ERROR with
// alert=db_role_privileged at every start.
func CheckRole(ctx context.Context, pool *pgxpool.Pool, allow bool, log *slog.Logger) error {
	r, err := postgres.CurrentRole(ctx, pool)
	if err != nil {
		return err
	}
	if !r.Privileged() {
		return nil
	}
	why := fmt.Sprintf("owns table %s", r.Owns)
	if r.Superuser {
		why = "is a superuser"
	}
	if !allow {
		return fmt.Errorf("the database role %s %s: as it, serve could truncate, alter or disable the append-only triggers "+
			"of history; connect as a role of its own (`b2bpay migrate --app-role NAME`, run as the owner, grants it what it needs; "+
			"see deploy/README.md), or pass --allow-privileged-db-role (B2BPAY_ALLOW_PRIVILEGED_DB_ROLE=true) for development", r.Name, why)
	}
	log.Error("serving as a database role that could rewrite history", "alert", "db_role_privileged", "db_role", r.Name,
		"why", why, "fix", "connect as the app role; see deploy/README.md")
	return nil
}
