package recon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/recon"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }

// camt054XSD is the vendored schema every notification written must pass.
const camt054XSD = "../iso20022/testdata/xsd/camt.054.001.08.xsd"

const bank = "104100000004"

func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

// fixture is a database of its own with one customer, payments exported
// through the real export path, and an importer whose log is kept.
type fixture struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	clock    *testkit.Clock
	upstream payment.Upstream
	customer payment.Customer
	dir      string
	seq      int
	logs     *syncBuffer
	im       *recon.Importer
	alerts   map[recon.Class]int
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{clock: testkit.NewClock(time.Date(2026, 3, 10, 9, 0, 0, 0, shanghai())), dir: t.TempDir(),
		logs: &syncBuffer{}, alerts: map[recon.Class]int{}}
	var err error
	f.pool, err = postgres.Open(ctx, testkit.NewDatabase(t), 8)
	require.NoError(t, err)
	t.Cleanup(f.pool.Close)
	f.store, err = postgres.New(f.pool, postgres.Config{Seal: pgtest.Key, Now: f.clock.Now, Location: shanghai(),
		EventMessage: route.EventMessage, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	f.customer = payment.Customer{ID: "CUST-310115000123", Name: "上海浦东精密机械有限公司", OnlinePayment: true, Active: true}
	f.upstream = payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp", Active: true, Customers: []string{f.customer.ID}}
	require.NoError(t, f.store.CustomerCreate(ctx, f.customer))
	require.NoError(t, f.store.BankCreate(ctx, payment.Bank{ID: bank, Name: "Bank", B2B: true}))
	for i, ccy := range []string{"CNY", "USD"} {
		require.NoError(t, f.store.AccountCreate(ctx, payment.Account{Number: fmt.Sprintf("3400587123%d", i), BankID: bank,
			CustomerID: f.customer.ID, Currency: ccy, Active: true}))
	}
	require.NoError(t, f.store.UserCreate(ctx, payment.User{ID: "zhang.wei", CustomerID: f.customer.ID, Name: "Zhang Wei",
		Roles: []payment.Role{payment.RoleApplicant}, Active: true}))
	require.NoError(t, f.store.UpstreamCreate(ctx, f.upstream, nil, 0))
	f.im = &recon.Importer{Store: f.store, Log: slog.New(slog.NewTextHandler(f.logs, nil)),
		Mismatch: func(c recon.Class) { f.alerts[c]++ }}
	return f
}

// exported submits n payments in currency, authorizes them and runs a
// cutoff through the real exporter; it returns the payments, in order,
// and the settlement date.
func (f *fixture) exported(t *testing.T, currency string, n int) ([]*payment.Payment, time.Time) {
	t.Helper()
	ctx := t.Context()
	var ids []string
	for range n {
		f.seq++
		acct := "34005871230"
		if currency == "USD" {
			acct = "34005871231"
		}
		body, err := json.Marshal(map[string]any{
			"schema_version": 1, "request_id": fmt.Sprintf("req-%05d", f.seq), "order_ref": fmt.Sprintf("PO-2026-%05d", f.seq),
			"customer_id": f.customer.ID, "applicant": "zhang.wei", "bank_id": bank, "debtor_account": acct,
			"creditor":       map[string]string{"name": "上海华东机电设备有限公司", "account": "31001520313050012345", "bank_id": "105290036005"},
			"amount":         fmt.Sprintf("%d.%02d", 1000+f.seq*7, f.seq%100),
			"currency":       currency,
			"execution_date": "2026-03-10",
		})
		require.NoError(t, err)
		r, err := payment.Decode(body)
		require.NoError(t, err)
		out, err := f.store.IntakeSubmit(ctx, intake.Submission{Upstream: f.upstream, Request: r, BodySHA256: sha256.Sum256(body)})
		require.NoError(t, err)
		require.NotNil(t, out.Payment, "refused: %s", out.Answer.Reason)
		ids = append(ids, out.Payment.ID)
	}
	_, err := f.pool.Exec(ctx, `UPDATE payments SET state = 'authorized', updated_at = $2 WHERE id::text = ANY($1)`, ids, f.clock.Now())
	require.NoError(t, err)
	_, err = pgtest.Approve(ctx, f.pool, pgtest.Key)
	require.NoError(t, err)
	sched, err := calendar.NewSchedule(shanghai(), calendar.Weekdays(), "0 10 * * *", "0 14 * * *")
	require.NoError(t, err)
	x, err := export.New(f.store, export.Config{Dir: f.dir, Format: iso20022.Pacs008(), MaxPerFile: 100, Schedule: sched,
		Calendar: calendar.Weekdays(), Location: shanghai(), Runner: "test", Now: f.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	res, err := x.RunManual(ctx, f.clock.Now())
	require.NoError(t, err)
	require.Equal(t, n, res.Payments)
	var ps []*payment.Payment
	for _, id := range ids {
		p, err := f.store.PaymentGetByID(ctx, id)
		require.NoError(t, err)
		require.Equal(t, payment.StateExported, p.State)
		ps = append(ps, p)
	}
	return ps, res.SettlementDate.Time(time.UTC)
}

// settle is the entry a bank books for p's settlement on day.
func settle(p *payment.Payment, day time.Time) iso20022.NotificationEntry {
	return iso20022.NotificationEntry{EndToEndID: p.OrderRef, AmountMinor: p.AmountMinor, Currency: p.Currency,
		Status: "BOOK", BookingDate: day}
}

// writeCamt writes a camt.054 of entries, checks it against the XSD with
// xmllint, and returns its path.
func writeCamt(t *testing.T, dir, msgID string, entries ...iso20022.NotificationEntry) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, iso20022.WriteNotification(&buf, iso20022.Notification{MessageID: msgID,
		CreatedAt: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), Account: "SETTLEMENT-1", Entries: entries}))
	path := filepath.Join(dir, msgID+".xml")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	xmllint, err := exec.LookPath("xmllint")
	require.NoError(t, err, "xmllint (libxml2-utils) is needed")
	out, err := exec.Command(xmllint, "--noout", "--schema", camt054XSD, path).CombinedOutput()
	require.NoError(t, err, "xmllint: %s", out)
	return path
}

func (f *fixture) state(t *testing.T, id string) payment.State {
	t.Helper()
	p, err := f.store.PaymentGetByID(t.Context(), id)
	require.NoError(t, err)
	return p.State
}

// exportEntry is a pacs.002 entry as the status report store takes it.
type exportEntry = export.ReportEntry
