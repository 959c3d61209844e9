package postgres

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AppendOnlyTables are the tables the application role may only read and
// insert into: history. Their owner (the migration role) alone could
// change them, and the MACs catch what it changes.
var AppendOnlyTables = []string{"payment_timeline", "audit_log", "decisions", "decision_batches", "key_versions", "recon_files", "recon_entries"}

// roleName is what GrantApp accepts as a role name: a plain PostgreSQL
// identifier.
var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// GrantApp gives role, the role serve connects as, what it needs and no
// more, on every table of the public schema: SELECT, INSERT, UPDATE and
// DELETE on the ordinary tables, SELECT and INSERT only on
// AppendOnlyTables, SELECT only on schema_migrations, and the use of the
// sequences. It first revokes everything the role had on them, so running
// it again after a migration is harmless and adds the new tables. It never
// grants TRUNCATE, REFERENCES or TRIGGER, and the role owns nothing, so it
// can neither ALTER a table nor disable its triggers. It must run as the
// tables' owner (the role that ran the migrations) or a superuser.
func GrantApp(ctx context.Context, pool *pgxpool.Pool, role string) error {
	if !roleName.MatchString(role) {
		return fmt.Errorf("postgres: app role %q: want a lower-case identifier (letters, digits, _)", role)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var owner, super bool
	if err := tx.QueryRow(ctx, `SELECT r.rolsuper,
			EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND pg_has_role($1, t.tableowner, 'MEMBER'))
		FROM pg_roles r WHERE r.rolname = $1`, role).Scan(&super, &owner); err != nil {
		if err == pgx.ErrNoRows {
			return fmt.Errorf("postgres: app role %q does not exist: create it first (CREATE ROLE %s LOGIN PASSWORD '…')", role, role)
		}
		return fmt.Errorf("postgres: app role %q: %w", role, err)
	}
	if super || owner {
		return fmt.Errorf("postgres: app role %q is a superuser or owns b2bpay's tables: serve needs a role of its own that owns nothing", role)
	}
	rows, err := tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		return fmt.Errorf("postgres: grant: list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: grant: list tables: %w", err)
	}
	appendOnly := map[string]bool{}
	for _, t := range AppendOnlyTables {
		appendOnly[t] = true
	}
	r := pgx.Identifier{role}.Sanitize()
	stmts := []string{
		"GRANT USAGE ON SCHEMA public TO " + r,
		"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + r,
		"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM " + r,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + r,
	}
	for _, t := range tables {
		privs := "SELECT, INSERT, UPDATE, DELETE"
		switch {
		case t == "schema_migrations":
			privs = "SELECT"
		case appendOnly[t]:
			privs = "SELECT, INSERT"
		}
		stmts = append(stmts, "GRANT "+privs+" ON "+pgx.Identifier{"public", t}.Sanitize()+" TO "+r)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgres: grant: %s: %w", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	return nil
}

// Role is who the pool connects as, and whether that role could rewrite
// history: a superuser, or the owner of b2bpay's tables (or a member of
// the owner's role), can TRUNCATE, ALTER and disable the append-only
// triggers.
type Role struct {
	Name      string
	Superuser bool
	// Owns names a b2bpay table the role owns (directly or through a role
	// it belongs to); empty when it owns none.
	Owns string
}

// Privileged reports whether the role can rewrite history.
func (r Role) Privileged() bool { return r.Superuser || r.Owns != "" }

// CurrentRole reports who the pool connects as.
func CurrentRole(ctx context.Context, pool *pgxpool.Pool) (Role, error) {
	var r Role
	err := pool.QueryRow(ctx, `SELECT current_user::text, r.rolsuper,
			COALESCE((SELECT t.tablename::text FROM pg_tables t WHERE t.schemaname = 'public'
				AND t.tablename IN ('payment_timeline', 'decisions', 'audit_log', 'payments')
				AND pg_has_role(current_user, t.tableowner, 'MEMBER') ORDER BY t.tablename LIMIT 1), '')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&r.Name, &r.Superuser, &r.Owns)
	if err != nil {
		return Role{}, fmt.Errorf("postgres: current role: %w", err)
	}
	return r, nil
}
