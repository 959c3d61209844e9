package postgres_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai even where the system has no zoneinfo

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{PoolSize: 32}) }

// testPool is the pool of the one database this package run works in,
// opened by the first test that asks. Tests never share registry rows:
// each seeds its own with a random suffix.
func testPool(t testing.TB) *pgxpool.Pool { return testkit.Pool(t) }

// The kit's random suffixes, under this package's short names.
var (
	randomHex    = testkit.RandomHex
	randomDigits = testkit.RandomDigits
)

// baseTime is the pinned "now" of most tests: 10:00 in Shanghai.
var baseTime = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

// executionDate is a valid execution date at baseTime.
const executionDate = "2026-03-12"

// bundle is what a test works with: a store on a pinned clock and its own
// freshly seeded registry rows.
type bundle struct {
	store     *postgres.Store
	pool      *pgxpool.Pool
	clock     *testkit.Clock
	suffix    string
	customer  payment.Customer
	bank      payment.Bank
	account   payment.Account
	applicant payment.User
	upstream  payment.Upstream
}

func setup(t *testing.T) *bundle { return setupAt(t, baseTime) }

// setupAt seeds a customer enabled for online payment, a B2B bank, a CNY
// account, an applicant and an upstream registered for the customer, with
// the store's clock pinned at now.
func setupAt(t *testing.T, now time.Time) *bundle { return setupOn(t, testPool(t), now) }

// setupOn is setupAt on the database of pool.
func setupOn(t *testing.T, pool *pgxpool.Pool, now time.Time) *bundle {
	t.Helper()
	ctx := t.Context()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	clk := testkit.NewClock(now)
	store, err := postgres.New(pool, postgres.Config{
		Seal:         pgtest.Key,
		Now:          clk.Now,
		Location:     loc,
		EventMessage: route.EventMessage,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)

	sfx := randomHex(5)
	b := &bundle{
		store: store, pool: pool, clock: clk, suffix: sfx,
		customer: payment.Customer{ID: "cust-" + sfx, Name: "Customer " + sfx, OnlinePayment: true, Active: true},
		bank:     payment.Bank{ID: randomDigits(12), Name: "Bank " + sfx, B2B: true},
	}
	b.account = payment.Account{Number: "6222" + randomDigits(12), BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "CNY", Active: true}
	b.applicant = payment.User{ID: "appl-" + sfx, CustomerID: b.customer.ID, Name: "Applicant " + sfx, Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	b.upstream = payment.Upstream{ID: "erp-" + sfx, Name: "ERP " + sfx, AMQPUser: "erp-" + sfx, Active: true, Customers: []string{b.customer.ID}}

	require.NoError(t, store.CustomerCreate(ctx, b.customer))
	require.NoError(t, store.BankCreate(ctx, b.bank))
	require.NoError(t, store.AccountCreate(ctx, b.account))
	require.NoError(t, store.UserCreate(ctx, b.applicant))
	require.NoError(t, store.UpstreamCreate(ctx, b.upstream, nil, 0))
	return b
}

// request is a valid request of the bundle's customer, changed by mods.
func (b *bundle) request(mods ...func(*payment.Request)) payment.Request {
	r := payment.Request{
		SchemaVersion: payment.SchemaVersion,
		RequestID:     "req-" + randomHex(6),
		OrderRef:      "PO-" + randomHex(6),
		CustomerID:    b.customer.ID,
		Applicant:     b.applicant.ID,
		BankID:        b.bank.ID,
		DebtorAccount: b.account.Number,
		Creditor:      payment.Creditor{Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005"},
		Amount:        "1286400.50",
		Currency:      "CNY",
		Remittance:    "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: executionDate,
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// submission encodes r as an upstream would publish it and decodes it as
// intake does, so the submission carries the parsed fields and body hash.
func (b *bundle) submission(t *testing.T, r payment.Request) postgres.Submission {
	t.Helper()
	body, err := json.Marshal(r)
	require.NoError(t, err)
	decoded, err := payment.Decode(body)
	require.NoError(t, err)
	msgID := b.upstream.ID + "/msg-" + randomHex(6)
	return postgres.Submission{
		Upstream:   b.upstream,
		Request:    decoded,
		BodySHA256: sha256.Sum256(body),
		MessageID:  msgID,
		DeadLetter: func(code payment.Code, reason string) outbox.Message {
			return route.DeadLetter(route.Original{Key: msgID, MessageID: msgID, UserID: b.upstream.AMQPUser, Body: body}, code, reason)
		},
	}
}

// outboxRow is an outbox row as the tests inspect it.
type outboxRow struct {
	ID          int64
	MessageID   string
	Exchange    string
	RoutingKey  string
	ContentType string
	Headers     map[string]string
	Body        []byte
	AvailableAt time.Time
	SentAt      *time.Time
	Attempts    int
	LastError   string
}

// outboxRows returns, in id order, the outbox rows of the bundle: every
// message id the tests use starts with the upstream id (a dead letter's
// with dead/ and the upstream id: route.DeadLetter names it so).
func (b *bundle) outboxRows(t *testing.T) []outboxRow {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT id, message_id, exchange, routing_key, content_type, headers,
			body, available_at, sent_at, attempts, last_error
		FROM outbox WHERE starts_with(message_id, $1) OR starts_with(message_id, 'dead/' || $1) ORDER BY id`, b.upstream.ID+"/")
	require.NoError(t, err)
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(t, rows.Scan(&r.ID, &r.MessageID, &r.Exchange, &r.RoutingKey, &r.ContentType, &r.Headers,
			&r.Body, &r.AvailableAt, &r.SentAt, &r.Attempts, &r.LastError))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// byExchange keeps the rows sent to exchange.
func byExchange(rows []outboxRow, exchange string) []outboxRow {
	var out []outboxRow
	for _, r := range rows {
		if r.Exchange == exchange {
			out = append(out, r)
		}
	}
	return out
}

// decodeEvent reads the status event an outbox row carries.
func decodeEvent(t *testing.T, body []byte) payment.Event {
	t.Helper()
	var ev payment.Event
	require.NoError(t, json.Unmarshal(body, &ev))
	return ev
}

// ledgerRow is an intake_requests row.
type ledgerRow struct {
	BodySHA256 []byte
	Outcome    string
	Code       string
	PaymentID  *string
	Answer     payment.Event
}

func (b *bundle) ledger(t *testing.T, requestID string) ledgerRow {
	t.Helper()
	var l ledgerRow
	err := b.pool.QueryRow(t.Context(), `SELECT body_sha256, outcome, code, payment_id::text, answer
		FROM intake_requests WHERE upstream_id = $1 AND request_id = $2`, b.upstream.ID, requestID).
		Scan(&l.BodySHA256, &l.Outcome, &l.Code, &l.PaymentID, &l.Answer)
	require.NoError(t, err)
	return l
}

// countPayments counts the bundle's payments for an order.
func (b *bundle) countPayments(t *testing.T, orderRef string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM payments WHERE upstream_id = $1 AND order_ref = $2`, b.upstream.ID, orderRef).Scan(&n))
	return n
}

// pgError returns the PostgreSQL error in err's chain, failing the test
// when there is none.
func pgError(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	require.Error(t, err)
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "want a PostgreSQL error, got %v", err)
	return pe
}

// requireTime checks two instants are the same, whatever their zones.
func requireTime(t *testing.T, want, got time.Time) {
	t.Helper()
	require.True(t, want.Equal(got), "want %s, got %s", want, got)
}
