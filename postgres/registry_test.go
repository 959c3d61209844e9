package postgres_test

import (
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/schema"
)

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	first, err := postgres.Migrate(ctx, testPool(t))
	require.NoError(t, err)
	ups, err := fs.Glob(schema.Migrations, "migrations/*.up.sql")
	require.NoError(t, err)
	// The highest number: branches take numbers ahead of a merge (0006
	// before 0005 is in), so the numbers may have a gap.
	var latest uint
	for _, up := range ups {
		n, err := strconv.ParseUint(strings.SplitN(path.Base(up), "_", 2)[0], 10, 32)
		require.NoError(t, err, up)
		latest = max(latest, uint(n))
	}
	require.Equal(t, latest, first, "the latest migration is applied")
	second, err := postgres.Migrate(ctx, testPool(t))
	require.NoError(t, err)
	require.Equal(t, first, second)
}

func TestRegistryCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// setup created one of each kind; read the upstream back both ways.
	byID, err := b.store.UpstreamGetByID(ctx, b.upstream.ID)
	require.NoError(t, err)
	require.Equal(t, b.upstream, byID.Upstream)
	require.Nil(t, byID.SealedKey)
	require.Zero(t, byID.KeyVersion)

	byUser, err := b.store.UpstreamGetByAMQPUser(ctx, b.upstream.AMQPUser)
	require.NoError(t, err)
	require.Equal(t, byID, byUser)

	// An upstream authenticated by HMAC only, serving two customers.
	other := payment.Customer{ID: "cust2-" + b.suffix, Name: "Second " + b.suffix, Active: true}
	require.NoError(t, b.store.CustomerCreate(ctx, other))
	hmacUp := payment.Upstream{ID: "hmac-" + b.suffix, Name: "HMAC " + b.suffix, Active: true,
		Customers: []string{other.ID, b.customer.ID}}
	sealed := []byte{0x01, 0x02, 0x03, 0xff}
	require.NoError(t, b.store.UpstreamCreate(ctx, hmacUp, sealed, 3))
	got, err := b.store.UpstreamGetByID(ctx, hmacUp.ID)
	require.NoError(t, err)
	require.Equal(t, "", got.Upstream.AMQPUser)
	require.Equal(t, sealed, got.SealedKey)
	require.Equal(t, 3, got.KeyVersion)
	require.ElementsMatch(t, hmacUp.Customers, got.Upstream.Customers)
	require.True(t, got.Upstream.Serves(b.customer.ID))
	require.True(t, got.Upstream.Serves(other.ID))

	// Online payment eligibility can be switched.
	require.NoError(t, b.store.CustomerSetOnline(ctx, other.ID, true))
	var online bool
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT online_payment_enabled FROM customers WHERE id = $1`, other.ID).Scan(&online))
	require.True(t, online)

	// A reviewer and authorizer in one person is allowed by the registry.
	require.NoError(t, b.store.UserCreate(ctx, payment.User{ID: "staff-" + b.suffix, CustomerID: b.customer.ID,
		Name: "Staff", Roles: []payment.Role{payment.RoleReviewer, payment.RoleAuthorizer}, Active: true}))
	var roles []string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT roles FROM users WHERE id = $1`, "staff-"+b.suffix).Scan(&roles))
	require.Equal(t, []string{"reviewer", "authorizer"}, roles)
}

func TestRegistryDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	conflict := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		require.Equal(t, payment.CodeConflict, payment.ErrorCode(err), "got %v", err)
	}
	conflict(t, b.store.CustomerCreate(ctx, b.customer))
	conflict(t, b.store.BankCreate(ctx, b.bank))
	conflict(t, b.store.AccountCreate(ctx, b.account))
	conflict(t, b.store.UserCreate(ctx, b.applicant))
	conflict(t, b.store.UpstreamCreate(ctx, b.upstream, nil, 0))

	// Another upstream cannot take an AMQP user that is already taken, and
	// nothing of it is left behind.
	thief := payment.Upstream{ID: "thief-" + b.suffix, Name: "Thief", AMQPUser: b.upstream.AMQPUser, Active: true,
		Customers: []string{b.customer.ID}}
	conflict(t, b.store.UpstreamCreate(ctx, thief, nil, 0))
	_, err := b.store.UpstreamGetByID(ctx, thief.ID)
	require.ErrorIs(t, err, payment.ErrNotFound)

	// The same customer listed twice for one upstream.
	twice := payment.Upstream{ID: "twice-" + b.suffix, Name: "Twice", AMQPUser: "twice-" + b.suffix, Active: true,
		Customers: []string{b.customer.ID, b.customer.ID}}
	conflict(t, b.store.UpstreamCreate(ctx, twice, nil, 0))
	_, err = b.store.UpstreamGetByID(ctx, twice.ID)
	require.ErrorIs(t, err, payment.ErrNotFound)
}

func TestRegistryBadReferences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	ghost := "ghost-" + b.suffix

	badRef := func(t *testing.T, err error, constraint string) {
		t.Helper()
		require.Error(t, err)
		require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err), "got %v", err)
		require.Contains(t, err.Error(), "does not exist")
		require.Contains(t, err.Error(), constraint)
	}

	unknownBank := randomDigits(12)
	badRef(t, b.store.AccountCreate(ctx, payment.Account{Number: "1" + randomDigits(10), BankID: unknownBank,
		CustomerID: b.customer.ID, Currency: "CNY", Active: true}), "accounts_bank_id_fkey")
	badRef(t, b.store.AccountCreate(ctx, payment.Account{Number: "2" + randomDigits(10), BankID: b.bank.ID,
		CustomerID: ghost, Currency: "CNY", Active: true}), "accounts_customer_id_fkey")
	badRef(t, b.store.UserCreate(ctx, payment.User{ID: "u-" + b.suffix, CustomerID: ghost, Name: "Nobody",
		Roles: []payment.Role{payment.RoleApplicant}, Active: true}), "users_customer_id_fkey")

	// An upstream for a customer that does not exist is not created at all.
	up := payment.Upstream{ID: "up-" + b.suffix, Name: "Upstream", AMQPUser: "up-" + b.suffix, Active: true,
		Customers: []string{b.customer.ID, ghost}}
	err := b.store.UpstreamCreate(ctx, up, nil, 0)
	badRef(t, err, "upstream_customers_customer_id_fkey")
	require.Contains(t, err.Error(), ghost)
	_, err = b.store.UpstreamGetByID(ctx, up.ID)
	require.ErrorIs(t, err, payment.ErrNotFound)
}

func TestRegistryInvalidInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// A user with a role that does not exist is refused before SQL...
	err := b.store.UserCreate(ctx, payment.User{ID: "admin-" + b.suffix, CustomerID: b.customer.ID, Name: "Admin",
		Roles: []payment.Role{payment.RoleReviewer, "auditor"}, Active: true})
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)
	require.Contains(t, err.Error(), "auditor")
	// ...and by the database if the code let it through.
	_, err = b.pool.Exec(ctx, `INSERT INTO users (id, customer_id, name, roles) VALUES ($1, $2, 'Admin', $3)`,
		"admin-"+b.suffix, b.customer.ID, []string{"auditor"})
	require.Equal(t, "23514", pgError(t, err).Code)

	err = b.store.UserCreate(ctx, payment.User{ID: "noroles-" + b.suffix, CustomerID: b.customer.ID, Name: "No roles", Active: true})
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)

	require.Equal(t, payment.CodeInvalidField, payment.ErrorCode(b.store.CustomerCreate(ctx, payment.Customer{ID: "has space", Name: "x"})))
	require.Equal(t, payment.CodeInvalidField, payment.ErrorCode(b.store.BankCreate(ctx, payment.Bank{ID: "12345", Name: "x"})))
	require.Equal(t, payment.CodeInvalidAccount, payment.ErrorCode(b.store.AccountCreate(ctx, payment.Account{
		Number: "62-22", BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "CNY"})))
	require.Equal(t, payment.CodeInvalidCurrency, payment.ErrorCode(b.store.AccountCreate(ctx, payment.Account{
		Number: "6222", BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "XXX"})))

	// An empty name breaks a CHECK and comes back as invalid input.
	err = b.store.CustomerCreate(ctx, payment.Customer{ID: "noname-" + b.suffix})
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)

	// An upstream nobody could authenticate (no AMQP user, no key).
	err = b.store.UpstreamCreate(ctx, payment.Upstream{ID: "anon-" + b.suffix, Name: "Anonymous", Active: true}, nil, 0)
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "got %v", err)
}

func TestRegistryNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	_, err := b.store.UpstreamGetByID(ctx, "nope-"+b.suffix)
	require.ErrorIs(t, err, payment.ErrNotFound)
	_, err = b.store.UpstreamGetByAMQPUser(ctx, "nope-"+b.suffix)
	require.ErrorIs(t, err, payment.ErrNotFound)
	require.ErrorIs(t, b.store.CustomerSetOnline(ctx, "nope-"+b.suffix, true), payment.ErrNotFound)
	_, err = b.store.PaymentGetByID(ctx, uuid.NewString())
	require.ErrorIs(t, err, payment.ErrNotFound)
	_, err = b.store.PaymentGetByRequest(ctx, b.upstream.ID, "nope")
	require.ErrorIs(t, err, payment.ErrNotFound)
	// An id that is not even a UUID names no payment either.
	_, err = b.store.PaymentGetByID(ctx, "not-a-uuid")
	require.ErrorIs(t, err, payment.ErrNotFound)
	tl, err := b.store.PaymentTimeline(ctx, uuid.NewString())
	require.NoError(t, err)
	require.Empty(t, tl)
}
