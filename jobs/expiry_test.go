package jobs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/jobs"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

// expiryFixture is the real store on a database of its own, with one
// customer's registry to submit payments for.
type expiryFixture struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	clock *testkit.Clock
	up    payment.Upstream
	req   map[string]any
}

func newExpiryFixture(t *testing.T) *expiryFixture {
	t.Helper()
	ctx := t.Context()
	pool := testkit.OwnPool(t, 8)
	clk := &testkit.Clock{}
	store, err := postgres.New(pool, postgres.Config{
		Seal: pgtest.Key,
		Now:  clk.Now, EventMessage: route.EventMessage, TaskMessage: route.TaskMessage,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)

	cust := payment.Customer{ID: "cust-1", Name: "Customer", OnlinePayment: true, Active: true}
	bank := payment.Bank{ID: "104100000004", Name: "Bank", B2B: true}
	acct := payment.Account{Number: "340058712345", BankID: bank.ID, CustomerID: cust.ID, Currency: "CNY", Active: true}
	appl := payment.User{ID: "zhang.wei", CustomerID: cust.ID, Name: "Applicant", Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	up := payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp", Active: true, Customers: []string{cust.ID}}
	require.NoError(t, store.CustomerCreate(ctx, cust))
	require.NoError(t, store.BankCreate(ctx, bank))
	require.NoError(t, store.AccountCreate(ctx, acct))
	require.NoError(t, store.UserCreate(ctx, appl))
	require.NoError(t, store.UpstreamCreate(ctx, up, nil, 0))
	return &expiryFixture{
		pool: pool, store: store, clock: clk, up: up,
		req: map[string]any{
			"schema_version": 1, "customer_id": cust.ID, "applicant": appl.ID, "bank_id": bank.ID,
			"debtor_account": acct.Number, "amount": "100.00", "currency": "CNY",
			"creditor": map[string]string{"name": "上海华东机电设备有限公司", "account": "31001520313050012345", "bank_id": "105290036005"},
		},
	}
}

// submit stores n payments awaiting confirmation, received now.
func (f *expiryFixture) submit(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		f.req["request_id"] = "req-" + rand.Text()[:12]
		f.req["order_ref"] = "PO-" + rand.Text()[:12]
		f.req["execution_date"] = f.clock.Now().AddDate(0, 0, 1).Format(payment.DateLayout)
		body, err := json.Marshal(f.req)
		require.NoError(t, err)
		r, err := payment.Decode(body)
		require.NoError(t, err)
		out, err := f.store.IntakeSubmit(t.Context(), intake.Submission{Upstream: f.up, Request: r, BodySHA256: sha256.Sum256(body)})
		require.NoError(t, err)
		require.NotNil(t, out.Payment, "refused: %s", out.Answer.Reason)
		ids = append(ids, out.Payment.ID)
	}
	return ids
}

// move puts payments in a state, last changed at, behind the domain's back.
func (f *expiryFixture) move(t *testing.T, ids []string, st payment.State, at time.Time) {
	t.Helper()
	_, err := f.pool.Exec(t.Context(), `UPDATE payments SET state = $2, updated_at = $3 WHERE id::text = ANY($1)`, ids, string(st), at)
	require.NoError(t, err)
	if st == payment.StateAuthorized {
		// The sealed decisions the export claim re-checks.
		_, err = pgtest.Approve(t.Context(), f.pool, pgtest.Key)
		require.NoError(t, err)
	}
}

// states returns the state of each payment.
func (f *expiryFixture) states(t *testing.T, ids []string) map[payment.State]int {
	t.Helper()
	out := map[payment.State]int{}
	for _, id := range ids {
		p, err := f.store.PaymentGetByID(t.Context(), id)
		require.NoError(t, err)
		out[p.State]++
	}
	return out
}

// expireEntries counts the expire entries of the payments' timelines.
func (f *expiryFixture) expireEntries(t *testing.T, ids []string) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(t.Context(), `SELECT count(*) FROM payment_timeline
		WHERE action = 'expire' AND actor_kind = 'system' AND actor_id = 'expiry' AND payment_id::text = ANY($1)`, ids).Scan(&n))
	return n
}

func TestDefaultTTLs(t *testing.T) {
	t.Parallel()
	require.Equal(t, map[payment.State]time.Duration{
		payment.StateAwaitingConfirmation:  24 * time.Hour,
		payment.StateAwaitingReview:        72 * time.Hour,
		payment.StateAwaitingAuthorization: 72 * time.Hour,
	}, jobs.DefaultTTLs)
	for st := range jobs.DefaultTTLs {
		_, waits := payment.StageOf(st)
		require.True(t, waits, "%s is a waiting state", st)
	}
}

// TestExpiry runs its cases on one database, one after the other, each
// with a clock before the one of the case before it, so that no case
// expires another's payments (years from 2001 on: the decoder refuses
// execution dates before 2000).
func TestExpiry(t *testing.T) {
	t.Parallel()
	f := newExpiryFixture(t)

	t.Run("AllDueInBatches", func(t *testing.T) {
		t0 := time.Date(2003, 6, 1, 2, 0, 0, 0, time.UTC)
		f.clock.Set(t0)
		confirmation := f.submit(t, 6)
		review := f.submit(t, 3)
		f.move(t, review, payment.StateAwaitingReview, t0)
		authorization := f.submit(t, 1)
		f.move(t, authorization, payment.StateAwaitingAuthorization, t0.Add(72*time.Hour))
		f.clock.Set(t0.Add(50 * time.Hour))
		young := f.submit(t, 2)
		f.clock.Set(t0.Add(73 * time.Hour)) // confirmation and review due; the young ones and authorization not

		var logs bytes.Buffer
		job := &jobs.Expiry{Store: f.store, TTLs: jobs.DefaultTTLs, Batch: 2, Log: slog.New(slog.NewTextHandler(&logs, nil))}
		n, err := job.RunOnce(t.Context())
		require.NoError(t, err)
		require.Equal(t, 9, n, "every payment due, though the batch is 2")
		require.Contains(t, logs.String(), "count=9")

		require.Equal(t, map[payment.State]int{payment.StateExpired: 6}, f.states(t, confirmation))
		require.Equal(t, map[payment.State]int{payment.StateExpired: 3}, f.states(t, review))
		require.Equal(t, map[payment.State]int{payment.StateAwaitingAuthorization: 1}, f.states(t, authorization))
		require.Equal(t, map[payment.State]int{payment.StateAwaitingConfirmation: 2}, f.states(t, young))
		all := append(append(append(confirmation, review...), authorization...), young...)
		require.Equal(t, 9, f.expireEntries(t, all))

		// Nothing more is due.
		logs.Reset()
		n, err = job.RunOnce(t.Context())
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, logs.String(), "nothing to report")
		require.Equal(t, 9, f.expireEntries(t, all))
	})

	t.Run("ExactlyABatch", func(t *testing.T) {
		t0 := time.Date(2002, 6, 1, 2, 0, 0, 0, time.UTC)
		f.clock.Set(t0)
		ids := f.submit(t, 4)
		f.clock.Set(t0.Add(25 * time.Hour))
		job := &jobs.Expiry{Store: f.store, TTLs: map[payment.State]time.Duration{payment.StateAwaitingConfirmation: 24 * time.Hour}, Batch: 2}
		n, err := job.RunOnce(t.Context())
		require.NoError(t, err)
		require.Equal(t, 4, n)
		require.Equal(t, map[payment.State]int{payment.StateExpired: 4}, f.states(t, ids))
	})

	t.Run("InvalidState", func(t *testing.T) {
		t0 := time.Date(2001, 6, 1, 2, 0, 0, 0, time.UTC)
		f.clock.Set(t0)
		due := f.submit(t, 2)
		authorized := f.submit(t, 1)
		f.move(t, authorized, payment.StateAuthorized, t0)
		f.clock.Set(t0.Add(25 * time.Hour))

		job := &jobs.Expiry{Store: f.store, TTLs: map[payment.State]time.Duration{
			payment.StateAuthorized:           time.Hour,
			payment.StateAwaitingConfirmation: 24 * time.Hour,
			payment.StateRejected:             time.Hour,
		}} // Batch 0: the default
		n, err := job.RunOnce(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "authorized is not a waiting state")
		require.Contains(t, err.Error(), "rejected is not a waiting state")
		require.Equal(t, 2, n, "the valid states are expired all the same")
		require.Equal(t, map[payment.State]int{payment.StateExpired: 2}, f.states(t, due))
		require.Equal(t, map[payment.State]int{payment.StateAuthorized: 1}, f.states(t, authorized))
		require.Zero(t, f.expireEntries(t, authorized))
	})

	t.Run("StoreDown", func(t *testing.T) {
		pool, err := pgxpool.NewWithConfig(t.Context(), f.pool.Config())
		require.NoError(t, err)
		pool.Close()
		down, err := postgres.New(pool, postgres.Config{Seal: pgtest.Key, Now: f.clock.Now, EventMessage: route.EventMessage})
		require.NoError(t, err)
		job := &jobs.Expiry{Store: down, TTLs: jobs.DefaultTTLs}
		n, err := job.RunOnce(t.Context())
		require.Error(t, err)
		require.Zero(t, n)
		for st := range jobs.DefaultTTLs {
			require.Contains(t, err.Error(), "expire "+string(st), "every state is tried and reported")
		}
	})
}
