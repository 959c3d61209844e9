package export_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai even where the system has no zoneinfo

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

// A crash helper (see TestHelperProcess) exits on its own, and goleak has
// nothing to say about a process that is killed.
func TestMain(m *testing.M) {
	testkit.Main(m, testkit.Options{NoLeakCheck: os.Getenv(helperEnv) != ""})
}

// pacs008XSD is the vendored schema every file must satisfy.
const pacs008XSD = "../iso20022/testdata/xsd/pacs.008.001.08.xsd"

// The two debtor banks: one known by its CNAPS code, one by its BIC.
const (
	bankCNAPS = "104100000004"
	bankBIC   = "ICBKCNBJXXX"
)

// specs are the cutoffs of every test schedule, in Shanghai time.
var specs = []string{"0 10 * * *", "0 14 * * *", "30 22 * * *"}

// shanghai is the customers' zone.
func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall-clock time in Shanghai.
func at(year int, month time.Month, day, hour, minute int) time.Time {
	return time.Date(year, month, day, hour, minute, 0, 0, shanghai())
}

// fixture is a database of its own (CutoffClaimBatches claims every
// authorized payment in a database, so tests that claim never share one),
// a store on a pinned clock, and one customer with CNY and USD accounts at
// two banks.
type fixture struct {
	url      string
	pool     *pgxpool.Pool
	store    *postgres.Store
	clock    *testkit.Clock
	upstream payment.Upstream
	customer payment.Customer
	// accounts maps bank id and currency ("104100000004/CNY") to the
	// customer's account number.
	accounts map[string]string
	seq      int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{url: testkit.NewDatabase(t), clock: testkit.NewClock(at(2026, 3, 10, 9, 0)), accounts: map[string]string{}}
	f.pool, f.store = f.newStore(t)

	f.customer = payment.Customer{ID: "CUST-310115000123", Name: "上海浦东精密机械有限公司", OnlinePayment: true, Active: true}
	appl := payment.User{ID: "zhang.wei", CustomerID: f.customer.ID, Name: "Zhang Wei", Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	f.upstream = payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp", Active: true, Customers: []string{f.customer.ID}}
	require.NoError(t, f.store.CustomerCreate(ctx, f.customer))
	for i, bank := range []string{bankCNAPS, bankBIC} {
		require.NoError(t, f.store.BankCreate(ctx, payment.Bank{ID: bank, Name: "Bank " + bank, B2B: true}))
		for j, cur := range []string{"CNY", "USD"} {
			number := fmt.Sprintf("34005871234%d", 2*i+j)
			require.NoError(t, f.store.AccountCreate(ctx, payment.Account{Number: number, BankID: bank, CustomerID: f.customer.ID, Currency: cur, Active: true}))
			f.accounts[bank+"/"+cur] = number
		}
	}
	require.NoError(t, f.store.UserCreate(ctx, appl))
	require.NoError(t, f.store.UpstreamCreate(ctx, f.upstream, nil, 0))
	return f
}

// newStore opens another pool on the fixture's database, as another
// process would, with a store on the fixture's clock.
func (f *fixture) newStore(t *testing.T) (*pgxpool.Pool, *postgres.Store) {
	t.Helper()
	pool, err := postgres.Open(t.Context(), f.url, 8)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := postgres.New(pool, postgres.Config{
		Seal: pgtest.Key,
		Now:  f.clock.Now, Location: shanghai(), EventMessage: route.EventMessage,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return pool, store
}

// submit stores n payments from bank in currency through intake, received
// at the clock's time and executed on exec (YYYY-MM-DD), and returns their
// ids.
func (f *fixture) submit(t *testing.T, bank, currency string, n int, exec string) []string {
	t.Helper()
	var ids []string
	for range n {
		f.seq++
		req := map[string]any{
			"schema_version": 1, "request_id": fmt.Sprintf("req-%05d", f.seq), "order_ref": fmt.Sprintf("PO-2026-%05d", f.seq),
			"customer_id": f.customer.ID, "applicant": "zhang.wei", "bank_id": bank, "debtor_account": f.accounts[bank+"/"+currency],
			"creditor":        map[string]string{"name": "上海华东机电设备有限公司 <&>", "account": "31001520313050012345", "bank_id": "105290036005"},
			"amount":          fmt.Sprintf("%d.%02d", 1000+f.seq*7, f.seq%100),
			"currency":        currency,
			"remittance_info": fmt.Sprintf("采购合同 HT-2026-%04d 货款", f.seq),
			"execution_date":  exec,
		}
		body, err := json.Marshal(req)
		require.NoError(t, err)
		r, err := payment.Decode(body)
		require.NoError(t, err)
		out, err := f.store.IntakeSubmit(t.Context(), intake.Submission{Upstream: f.upstream, Request: r, BodySHA256: sha256.Sum256(body)})
		require.NoError(t, err)
		require.NotNil(t, out.Payment, "refused: %s", out.Answer.Reason)
		ids = append(ids, out.Payment.ID)
	}
	return ids
}

// authorize moves payments to authorized, last changed at t. A test
// fixture: it stands in for the applicant's confirmation, the review and
// the authorization, which the approval tests cover: pgtest.Approve writes
// their decisions, sealed, for the claim to re-check.
func (f *fixture) authorize(t *testing.T, ids []string, at time.Time) {
	t.Helper()
	tag, err := f.pool.Exec(t.Context(), `UPDATE payments SET state = 'authorized', updated_at = $2 WHERE id::text = ANY($1)`, ids, at)
	require.NoError(t, err)
	require.EqualValues(t, len(ids), tag.RowsAffected())
	_, err = pgtest.Approve(t.Context(), f.pool, pgtest.Key) // the sealed decisions the claim re-checks
	require.NoError(t, err)
}

// exporter builds an Exporter writing into dir with the fixture's clock,
// the Shanghai schedule on weekdays and at most three payments a file.
func (f *fixture) exporter(t *testing.T, store export.Store, dir string, mods ...func(*export.Config)) *export.Exporter {
	t.Helper()
	cfg := export.Config{
		Dir: dir, Format: iso20022.Pacs008(), MaxPerFile: 3, Schedule: schedule(t, calendar.Weekdays()),
		Calendar: calendar.Weekdays(), Location: shanghai(), Runner: "test", Now: f.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mods {
		m(&cfg)
	}
	x, err := export.New(store, cfg)
	require.NoError(t, err)
	return x
}

func schedule(t *testing.T, cal *calendar.Calendar) *calendar.Schedule {
	t.Helper()
	s, err := calendar.NewSchedule(shanghai(), cal, specs...)
	require.NoError(t, err)
	return s
}

// states returns each payment's state.
func (f *fixture) states(t *testing.T, ids []string) map[string]payment.State {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT id::text, state FROM payments WHERE id::text = ANY($1)`, ids)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]payment.State{}
	for rows.Next() {
		var id, st string
		require.NoError(t, rows.Scan(&id, &st))
		out[id] = payment.State(st)
	}
	require.NoError(t, rows.Err())
	require.Len(t, out, len(ids))
	return out
}

// requireStates checks every payment is in state want.
func (f *fixture) requireStates(t *testing.T, ids []string, want payment.State) {
	t.Helper()
	for id, st := range f.states(t, ids) {
		require.Equal(t, want, st, "payment %s", id)
	}
}

// batchOf returns, for every payment in a batch, the batch it is live in; the
// query fails the test if a payment were in two (it cannot be: the
// database refuses).
func (f *fixture) batchOf(t *testing.T) map[string]string {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT payment_id::text, batch_id FROM batch_payments WHERE live`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, b string
		require.NoError(t, rows.Scan(&p, &b))
		_, dup := out[p]
		require.False(t, dup, "payment %s is in two batches", p)
		out[p] = b
	}
	require.NoError(t, rows.Err())
	return out
}

// batchStates returns every batch's state.
func (f *fixture) batchStates(t *testing.T) map[string]string {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT id, state FROM batches`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		require.NoError(t, rows.Scan(&id, &st))
		out[id] = st
	}
	require.NoError(t, rows.Err())
	return out
}

// dirNames lists a directory's entries, sorted, but for the exporter's
// temporary directory (export.TempDir, checked to be a directory): what a
// gateway taking every file of dir finds.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.Name() == export.TempDir {
			require.True(t, e.IsDir(), "%s is the temporary directory", e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// tempNames lists the files in dir's temporary directory, sorted.
func tempNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, export.TempDir))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// requireNoTemp checks no temporary file was left behind.
func requireNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(t, dir) {
		require.False(t, strings.HasPrefix(n, ".tmp"), "temporary file %s left in %s", n, dir)
	}
	require.Empty(t, tempNames(t, dir), "temporary files left in %s", filepath.Join(dir, export.TempDir))
}

// validate checks a file against the pacs.008.001.08 XSD with xmllint.
func validate(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("xmllint", "--noout", "--schema", pacs008XSD, path).CombinedOutput()
	require.NoError(t, err, "xmllint: %s", out)
}

// txIDRe finds the transaction ids (payment ids without dashes) in a file.
var txIDRe = regexp.MustCompile(`<TxId>([0-9a-f]{32})</TxId>`)

// paymentsInFile returns the payment ids a file carries, in file order.
func paymentsInFile(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var ids []string
	for _, m := range txIDRe.FindAllSubmatch(raw, -1) {
		h := string(m[1])
		ids = append(ids, h[0:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:])
	}
	return ids
}

// readManifest reads a file's manifest.
func readManifest(t *testing.T, path string) export.Manifest {
	t.Helper()
	raw, err := os.ReadFile(path + ".manifest.json")
	require.NoError(t, err)
	var m export.Manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// requireComplete checks what a finished export leaves: every batch
// written, each with exactly one XSD-valid file (and its manifest) in dir
// that carries exactly the batch's payments and matches its manifest and
// its database record; nothing else in dir; every payment in want in
// exactly one file.
func (f *fixture) requireComplete(t *testing.T, dir string, want []string) {
	t.Helper()
	ctx := t.Context()
	batchOf := f.batchOf(t)
	inFiles := map[string]string{}
	var names []string
	for id, st := range f.batchStates(t) {
		require.Equal(t, "written", st, "batch %s", id)
		b, err := f.store.BatchGet(ctx, id)
		require.NoError(t, err)
		path := filepath.Join(dir, b.FileName)
		names = append(names, b.FileName, b.FileName+".manifest.json")
		validate(t, path)
		sum := fileSHA256(t, path)
		require.Equal(t, b.SHA256, sum, "batch %s: database and file disagree", id)
		m := readManifest(t, path)
		require.Equal(t, export.Manifest{BatchID: b.ID, File: b.FileName, Format: "pacs.008.001.08", Count: b.Count,
			ControlSum: payment.FormatAmount(b.ControlSumMinor, b.Currency), Currency: b.Currency, DebtorBankID: b.DebtorBankID,
			SettlementDate: b.SettlementDate.Format(payment.DateLayout), SHA256: sum, CreatedAt: b.CreatedAt.UTC()}, m)
		ids := paymentsInFile(t, path)
		require.Len(t, ids, b.Count, "batch %s", id)
		var total int64
		for _, p := range ids {
			prev, dup := inFiles[p]
			require.False(t, dup, "payment %s is in %s and %s", p, prev, b.FileName)
			inFiles[p] = b.FileName
			require.Equal(t, id, batchOf[p], "payment %s is in file %s but batch %s", p, b.FileName, batchOf[p])
			q, err := f.store.PaymentGetByID(ctx, p)
			require.NoError(t, err)
			require.Equal(t, b.Currency, q.Currency)
			require.Equal(t, b.DebtorBankID, q.BankID)
			total += q.AmountMinor
		}
		require.Equal(t, b.ControlSumMinor, total, "batch %s control sum", id)
	}
	slices.Sort(names)
	require.Equal(t, names, dirNames(t, dir), "the outbound directory holds exactly one file and manifest per batch")
	requireNoTemp(t, dir)
	require.Len(t, inFiles, len(want))
	for _, p := range want {
		require.Contains(t, inFiles, p, "payment %s is in no file", p)
	}
}
