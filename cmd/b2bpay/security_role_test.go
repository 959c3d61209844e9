package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit"
)

// scratchRoles creates, on the test server, an owner role and an app role
// (b2bpay_owner_<rand>, b2bpay_app_<rand>, both LOGIN, neither superuser)
// and an empty database the owner owns; it returns the database's URL as
// each role, the app role's name, and drops all three at cleanup.
func scratchRoles(t *testing.T) (ownerURL, appURL, appRole string) {
	t.Helper()
	testkit.Services(t)
	ctx := context.Background()
	var b [5]byte
	_, _ = rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	owner, app, db := "b2bpay_owner_"+tag, "b2bpay_app_"+tag, "b2bpay_test_roles_"+tag
	admin, err := pgx.Connect(ctx, pgtest.BaseURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	for _, s := range []string{
		"CREATE ROLE " + owner + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE ROLE " + app + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE DATABASE " + db + " OWNER " + owner,
	} {
		_, err := admin.Exec(ctx, s)
		require.NoError(t, err, s)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pgtest.BaseURL())
		if err != nil {
			t.Logf("drop scratch roles: %v", err)
			return
		}
		defer c.Close(ctx)
		for _, s := range []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "DROP ROLE IF EXISTS " + app, "DROP ROLE IF EXISTS " + owner} {
			if _, err := c.Exec(ctx, s); err != nil {
				t.Logf("%s: %v", s, err)
			}
		}
	})
	as := func(role string) string {
		u, err := url.Parse(pgtest.BaseURL())
		require.NoError(t, err)
		u.User = url.User(role)
		u.Path = "/" + db
		return u.String()
	}
	return as(owner), as(app), app
}

// KeyFile writes a master key to a file only its owner reads.
func keyFile(t *testing.T, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600))
	return path
}

// TestSecurityAppRoleCannotRewriteHistory: the migrations run as an owner
// role, `migrate --app-role` grants a second role what serve needs; serve's
// whole path (intake, three decisions, a cutoff, verify) works as that
// role, and that role can neither TRUNCATE, ALTER, DISABLE TRIGGER, DROP
// nor UPDATE or DELETE the timeline, the audit trail, the decisions or the
// key versions.
func TestSecurityAppRoleCannotRewriteHistory(t *testing.T) {
	ctx := context.Background()
	ownerURL, appURL, appRole := scratchRoles(t)
	out, err := runCLI(t, ownerURL, "migrate", "--app-role", appRole)
	require.NoError(t, err, out)

	e := newEnvAt(t, appURL)
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	p := e.submit(t, request("as-app-role"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), p.Digest(), "").Outcome)
	res := e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), p.Digest(), "")
	require.Equal(t, payment.StateAuthorized, res.State, res.Reason)
	cut, err := e.exporter(t, t.TempDir()).RunManual(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, 1, cut.Payments)
	require.Equal(t, payment.StateExported, e.payment(t, p.ID).State)
	out, err = runCLI(t, appURL, "--master-key-file", keyFile(t, e.master), "verify")
	require.NoError(t, err, out)
	_, err = runCLI(t, appURL, "--master-key-file", keyFile(t, e.master), "key", "rotate", "--new-key-file", keyFile(t, secret.NewKey()))
	require.ErrorContains(t, err, "run it with the owner role's database URL")

	counts := func() string {
		return fmt.Sprint(e.count(`SELECT count(*) FROM payment_timeline`), e.count(`SELECT count(*) FROM audit_log`),
			e.count(`SELECT count(*) FROM decisions`), e.count(`SELECT count(*) FROM key_versions`))
	}
	before := counts()
	app := e.app.Pool
	for _, stmt := range []string{
		`TRUNCATE payment_timeline`, `TRUNCATE audit_log`, `TRUNCATE decisions`, `TRUNCATE payments`, `TRUNCATE key_versions`,
		`ALTER TABLE payment_timeline DISABLE TRIGGER payment_timeline_append_only`,
		`ALTER TABLE audit_log DISABLE TRIGGER ALL`,
		`ALTER TABLE decisions DROP COLUMN mac`,
		`DROP TRIGGER payment_timeline_append_only ON payment_timeline`,
		`DROP TABLE payment_timeline`,
		`UPDATE payment_timeline SET note = 'rewritten'`, `DELETE FROM payment_timeline`,
		`UPDATE audit_log SET detail = 'rewritten'`, `DELETE FROM audit_log`,
		`UPDATE decisions SET actor_id = actor_id`, `DELETE FROM decisions`,
		`UPDATE key_versions SET key_check = key_check`, `DELETE FROM key_versions`,
		`CREATE TABLE decoy (id int)`,
		`CREATE OR REPLACE FUNCTION b2bpay_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "the app role ran %q", stmt)
		require.Equal(t, "42501", pgErr.Code, "%s: %v", stmt, err) // insufficient_privilege
	}
	require.Equal(t, before, counts())

	// serve refuses the owner and a superuser, unless allowed (then an
	// ERROR with alert=db_role_privileged), and starts as the app role.
	open := func(u string) *pgxpool.Pool {
		pool, err := pgxpool.New(ctx, u)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	err = server.CheckRole(ctx, open(ownerURL), false, log)
	require.ErrorContains(t, err, "owns table")
	require.ErrorContains(t, err, "--allow-privileged-db-role")
	super, err := url.Parse(appURL)
	require.NoError(t, err)
	base, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	super.User = base.User
	require.ErrorContains(t, server.CheckRole(ctx, open(super.String()), false, log), "is a superuser")
	require.NoError(t, server.CheckRole(ctx, app, false, log))
	require.Empty(t, logs.String())
	require.NoError(t, server.CheckRole(ctx, open(ownerURL), true, log))
	require.Contains(t, logs.String(), "level=ERROR")
	require.Contains(t, logs.String(), "alert=db_role_privileged")

	// The grant refuses a role that owns the tables.
	owner := strings.Replace(appRole, "_app_", "_owner_", 1)
	_, err = runCLI(t, ownerURL, "migrate", "--app-role", owner)
	require.ErrorContains(t, err, "owns b2bpay's tables")

	// A member of the owner's role could SET ROLE to it, even without
	// inheriting its rights: serve refuses it, the grant too.
	superPool := open(super.String())
	_, err = superPool.Exec(ctx, "ALTER ROLE "+appRole+" NOINHERIT")
	require.NoError(t, err)
	_, err = superPool.Exec(ctx, "GRANT "+owner+" TO "+appRole)
	require.NoError(t, err)
	require.ErrorContains(t, server.CheckRole(ctx, open(appURL), false, log), "owns table")
	_, err = runCLI(t, ownerURL, "migrate", "--app-role", appRole)
	require.ErrorContains(t, err, "owns b2bpay's tables")
}

// TestSecurityReassignFromServeRole: a deployment whose serve role ran the
// migrations (and so owns the tables) moves them to an owner role with
// REASSIGN OWNED, as deploy/README.md says; then serve's role is refused
// nothing it needs and can no longer truncate history.
func TestSecurityReassignFromServeRole(t *testing.T) {
	ctx := context.Background()
	ownerURL, appURL, appRole := scratchRoles(t)
	owner := strings.Replace(appRole, "_app_", "_owner_", 1)
	db := "b2bpay_test_roles_" + strings.TrimPrefix(appRole, "b2bpay_app_")
	super, err := url.Parse(appURL)
	require.NoError(t, err)
	base, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	super.User = base.User
	superPool, err := pgxpool.New(ctx, super.String())
	require.NoError(t, err)
	t.Cleanup(superPool.Close)
	_, err = superPool.Exec(ctx, "ALTER DATABASE "+db+" OWNER TO "+appRole)
	require.NoError(t, err)
	out, err := runCLI(t, appURL, "migrate") // the old way: serve's credentials
	require.NoError(t, err, out)
	appPool, err := pgxpool.New(ctx, appURL)
	require.NoError(t, err)
	t.Cleanup(appPool.Close)
	require.ErrorContains(t, server.CheckRole(ctx, appPool, false, slog.New(slog.DiscardHandler)), "owns table")

	_, err = superPool.Exec(ctx, "REASSIGN OWNED BY "+appRole+" TO "+owner)
	require.NoError(t, err)
	out, err = runCLI(t, ownerURL, "migrate", "--app-role", appRole)
	require.NoError(t, err, out)
	require.NoError(t, server.CheckRole(ctx, appPool, false, slog.New(slog.DiscardHandler)))
	_, err = appPool.Exec(ctx, `TRUNCATE payment_timeline`)
	require.ErrorContains(t, err, "permission denied")
	_, err = appPool.Exec(ctx, `INSERT INTO customers (id, name) VALUES ('C9', 'C9')`)
	require.NoError(t, err)
}
