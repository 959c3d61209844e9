package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
)

// Options say how much the benchmark measures and where it reports.
type Options struct {
	// Count is the number of messages, rows and requests of the
	// baselines and the intake stage.
	Count int
	// ExportSizes are the numbers of authorized payments exported, one
	// cutoff each.
	ExportSizes []int
	// JSONPath is where the figures are written.
	JSONPath string
	// CPUProfile, when set, is where the stages' CPU profiles go: the
	// intake stage's to CPUProfile.intake, and so on.
	CPUProfile string
	// Decisions is how many payments the decisions stage approves.
	Decisions int
	// BatchSizes are the items per batch decision of the
	// decisions-batch/N stages, one stage each; BatchPayments is how many
	// payments each of them takes through their three decisions.
	BatchSizes    []int
	BatchPayments int
	// EndToEnd is how many payments the end-to-end stage with batch
	// decisions (of the largest of BatchSizes, 1,000 without) takes from
	// publishing to export; 0 skips it. At 1,000,000 it is named
	// end-to-end-1m.
	EndToEnd int
	// IntakeBatch and Concurrency tune serve in the intake stage;
	// DecisionBatch is serve's --decision-batch throughout (20 when 0).
	IntakeBatch, Concurrency, DecisionBatch int
	Log                                     *slog.Logger
}

// The servers the benchmark makes its database and vhost on, unless
// B2BPAY_TEST_DATABASE_URL and B2BPAY_TEST_AMQP_URL name others (as for
// the tests).
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// envOr is the environment variable name, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Run runs every measure in order, prints the table and, last, the
// path of the JSON file.
func Run(ctx context.Context, opt Options, w io.Writer) ([]Result, error) {
	if opt.Count <= 0 {
		return nil, errors.New("bench: count must be positive")
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return nil, err
	}
	dbURL, dropDB, err := postgres.NewDatabase(ctx, envOr("B2BPAY_TEST_DATABASE_URL", DefaultDatabaseURL), "b2bpay_test_")
	if err != nil {
		return nil, err
	}
	defer dropDB()
	amqpURL, dropVhost, err := rabbitmq.NewVhost(envOr("B2BPAY_TEST_AMQP_URL", DefaultAMQPURL), "b2bpay-test-")
	if err != nil {
		return nil, err
	}
	defer dropVhost()
	sec, err := server.NewSecurity(secret.NewKey(), 24*time.Hour, nil) // sessions outlive a million-payment run
	if err != nil {
		return nil, err
	}
	a, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, AMQPURL: amqpURL, Location: loc, Logger: opt.Log}, sec)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if err := benchSeed(ctx, a, amqpURL); err != nil {
		return nil, err
	}
	if err := a.OpenBroker(ctx, "b2bpay-bench", 30*time.Second); err != nil {
		return nil, err
	}
	if err := a.Declare(ctx); err != nil {
		return nil, err
	}

	fmt.Fprintf(w, "bench: %d messages per baseline and through intake; export at %v\n", opt.Count, opt.ExportSizes)
	servers := FindServers(dbURL, amqpURL)
	servers.WAL = func() (int64, error) {
		var lsn int64
		err := a.Pool.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&lsn)
		return lsn, err
	}
	defer MeasureServers(MeasureServers(servers))
	fmt.Fprintf(w, "bench: CPU S is this process (b2bpay and the benchmark's clients); PG S and MQ S are the servers' from /proc (%s): "+
		"the servers are shared, other sessions' work during a stage counts too (in WAL B/PAY too); PG OWN S is only the backends of this run's database\n", servers.Note)
	results, err := Baselines(ctx, BaselineConfig{AMQPURL: amqpURL, Pool: a.Pool, Count: opt.Count,
		Body: func(i int) []byte { return RequestBody("bl", i, loc) }})
	if err != nil {
		return nil, err
	}
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	var autovacuum string
	if err := a.Pool.QueryRow(ctx, `SELECT current_setting('autovacuum')`).Scan(&autovacuum); err != nil {
		return nil, err
	}
	if autovacuum != "on" {
		fmt.Fprintln(w, "bench: this PostgreSQL runs with autovacuum off; the benchmark vacuums and analyzes b2bpay's tables every 10 s itself")
		stop := Vacuum(ctx, func(ctx context.Context, sql string) error { _, err := a.Pool.Exec(ctx, sql); return err }, 10*time.Second,
			"payments", "payment_timeline", "intake_requests", "outbox", "decisions", "users", "sessions", "audit_log", "batch_payments")
		defer stop()
	}
	in, err := benchIntake(ctx, a, opt)
	if err != nil {
		return nil, fmt.Errorf("intake stage: %w", err)
	}
	in.Compare(byName["baseline/consume-insert-ack"])
	same := in // intake / baseline/intake-work: the same work without b2bpay
	same.Name = "intake/same-work"
	same.Compare(byName["baseline/intake-work"])
	results = append(results, in, same)
	store, relay, err := benchIntakeParts(ctx, a, opt)
	if err != nil {
		return nil, fmt.Errorf("intake parts: %w", err)
	}
	store.Compare(byName["baseline/intake-work"])
	relay.Compare(byName["baseline/intake-work"])
	results = append(results, store, relay)
	if opt.Decisions > 0 {
		d, e2e, err := benchDecisions(ctx, a, opt, opt.Decisions)
		if err != nil {
			return nil, fmt.Errorf("decisions stage: %w", err)
		}
		d.Compare(byName["baseline/consume-insert-ack"])
		e2e.Compare(byName["baseline/consume-insert-ack"])
		results = append(results, d, e2e)
	}
	for _, size := range opt.BatchSizes {
		if opt.BatchPayments <= 0 {
			break
		}
		r, err := benchBatchDecisions(ctx, a, opt, opt.BatchPayments, size)
		if err != nil {
			return nil, fmt.Errorf("decisions-batch/%d stage: %w", size, err)
		}
		r.Compare(byName["baseline/batch-update"])
		results = append(results, r)
	}
	if opt.EndToEnd > 0 {
		size := 1000
		if len(opt.BatchSizes) > 0 {
			size = slices.Max(opt.BatchSizes)
		}
		r, err := benchEndToEndBatch(ctx, a, opt, opt.EndToEnd, size, w)
		if err != nil {
			return nil, fmt.Errorf("%s stage: %w", EndToEndName(opt.EndToEnd), err)
		}
		r.Compare(byName["baseline/batch-update"])
		results = append(results, r)
	}
	if len(opt.ExportSizes) > 0 {
		writes, err := benchWriter(opt.ExportSizes)
		if err != nil {
			return nil, fmt.Errorf("export writer: %w", err)
		}
		results = append(results, writes...)
	}
	for _, n := range opt.ExportSizes {
		r, err := benchExport(ctx, a, opt, n)
		if err != nil {
			return nil, fmt.Errorf("export stage (%d): %w", n, err)
		}
		r.Compare(byName["baseline/batch-update"])
		results = append(results, r)
	}

	if err := PrintTable(w, results); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(opt.JSONPath), 0o750); err != nil {
		return nil, err
	}
	if err := WriteJSON(opt.JSONPath, results); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, opt.JSONPath)
	return results, nil
}

// benchSeed registers the parties of RequestBody, and the upstream
// "erp" identified by the broker user of amqpURL.
func benchSeed(ctx context.Context, a *server.App, amqpURL string) error {
	u, err := url.Parse(rabbitmq.FirstURL(amqpURL))
	if err != nil {
		return err
	}
	s := a.Store
	return errors.Join(
		s.CustomerCreate(ctx, payment.Customer{ID: CustomerID, Name: CustomerName, OnlinePayment: true, Active: true}),
		s.BankCreate(ctx, payment.Bank{ID: BankID, Name: "中国银行", B2B: true}),
		s.AccountCreate(ctx, payment.Account{Number: DebtorAccount, BankID: BankID, CustomerID: CustomerID, Currency: "CNY", Active: true}),
		s.UserCreate(ctx, payment.User{ID: Applicant, CustomerID: CustomerID, Name: "张伟", Roles: []payment.Role{payment.RoleApplicant}, Active: true}),
		s.UpstreamCreate(ctx, payment.Upstream{ID: Upstream, Name: "ERP", AMQPUser: u.User.Username(), Active: true, Customers: []string{CustomerID}}, nil, 0),
	)
}

// requests are the run's requests as the upstream publishes them.
// applicant names the i-th request's applicant; nil: Applicant.
func requests(run string, n int, user string, loc *time.Location, applicant func(i int) string) []amqp.Publishing {
	out := make([]amqp.Publishing, n)
	for i := range out {
		who := Applicant
		if applicant != nil {
			who = applicant(i)
		}
		out[i] = amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", UserId: user,
			MessageId: RequestID(run, i), Timestamp: time.Now(), Body: RequestBodyBy(run, i, who, loc)}
	}
	return out
}

// benchIntake publishes Count requests, then runs serve and measures until
// every one is stored and answered; then, with serve running, publishes a
// smaller paced run at half that rate to measure publish → stored.
func benchIntake(ctx context.Context, a *server.App, opt Options) (Result, error) {
	u, _ := url.Parse(rabbitmq.FirstURL(a.Config.AMQPURL))
	open := func() (*amqp.Channel, error) { return a.Conn.Channel(ctx) }
	if _, _, err := Publish(open, route.RequestsExchange, route.RequestKey,
		requests("in", opt.Count, u.User.Username(), a.Config.Location, nil), 1000, 0); err != nil {
		return Result{}, fmt.Errorf("publish requests: %w", err)
	}

	stopProfile, err := profileStage(opt, "intake")
	if err != nil {
		return Result{}, err
	}
	m := Start()
	halt, done := benchServe(ctx, a, opt)
	if err := waitIntake(ctx, a, opt.Count, RequestID("in", opt.Count-1), true, done); err != nil {
		_ = halt()
		return Result{}, err
	}
	r := m.Stop("intake", opt.Count)
	stopProfile()

	// Latency: a paced run at half the measured rate, so the queue stays
	// short and publish → stored is b2bpay's own time.
	n := min(opt.Count, 2000)
	pace := time.Duration(float64(time.Second) / (r.PerSecond / 2))
	sent, _, err := Publish(open, route.RequestsExchange, route.RequestKey,
		requests("lat", n, u.User.Username(), a.Config.Location, nil), 1000, pace)
	if err != nil {
		_ = halt()
		return r, fmt.Errorf("publish paced requests: %w", err)
	}
	if err := waitIntake(ctx, a, opt.Count+n, RequestID("lat", n-1), true, done); err != nil {
		_ = halt()
		return r, err
	}
	if err := halt(); err != nil {
		return r, err
	}
	rows, err := a.Pool.Query(ctx, `SELECT request_id, received_at FROM intake_requests WHERE request_id LIKE 'erp-lat-%'`)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	var lat []time.Duration
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return r, err
		}
		i, err := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
		if err != nil || i >= len(sent) {
			return r, fmt.Errorf("unexpected request id %q", id)
		}
		lat = append(lat, at.Sub(sent[i]))
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	if len(lat) != n {
		return r, fmt.Errorf("%d of %d paced requests stored", len(lat), n)
	}
	r.SetLatencies("publish → stored (paced at half rate)", lat)
	return r, nil
}

// profileStage starts the CPU profile of a stage, when asked for; stop
// ends it.
func profileStage(opt Options, stage string) (stop func(), err error) {
	if opt.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(opt.CPUProfile + "." + stage)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); _ = f.Close() }) }, nil
}

// benchServe runs serve until halt is called; done reports serve's end.
func benchServe(ctx context.Context, a *server.App, opt Options) (halt func() error, done <-chan error) {
	return benchServeRoles(ctx, a, opt, nil)
}

// benchServeRoles is benchServe running only the given roles (every one
// when nil).
func benchServeRoles(ctx context.Context, a *server.App, opt Options, roles server.Roles) (halt func() error, done <-chan error) {
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- a.Serve(serveCtx, server.ServeOptions{Prefetch: 200, Concurrency: max(opt.Concurrency, 1),
			IntakeBatch: max(opt.IntakeBatch, 1), DecisionBatch: cmp.Or(opt.DecisionBatch, 20), Drain: 10 * time.Second,
			Roles: roles})
	}()
	return func() error {
		stop()
		select {
		case err := <-served:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("serve did not stop within 30 s")
		}
	}, served
}

// waitIntake waits until want requests are stored and, with relayed,
// every outbox message (answers, tasks) is published. last is the request
// id published last:
// until it is stored, each look is one primary-key probe, so the
// benchmark's polling costs the server next to nothing while the stage
// runs (a count of the whole ledger every 20 ms took a quarter of a core).
func waitIntake(ctx context.Context, a *server.App, want int, last string, relayed bool, serveDone <-chan error) error {
	var stored, unsent int
	return poll(ctx, serveDone, time.Now().Add(time.Duration(want)*time.Millisecond*5+time.Minute), func() (bool, error) {
		var seen bool
		if err := a.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM intake_requests WHERE upstream_id = $1 AND request_id = $2)`,
			Upstream, last).Scan(&seen); err != nil || !seen {
			return false, err
		}
		if err := a.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM intake_requests),
			(SELECT count(*) FROM outbox WHERE sent_at IS NULL)`).Scan(&stored, &unsent); err != nil {
			return false, err
		}
		if stored < want || relayed && unsent > 0 {
			return false, nil
		}
		var accepted int
		if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM intake_requests WHERE outcome = 'accepted'`).Scan(&accepted); err != nil {
			return false, err
		}
		if accepted != stored {
			return false, fmt.Errorf("%d of %d requests refused: the benchmark's requests should all be accepted", stored-accepted, stored)
		}
		return true, nil
	}, func() error {
		return fmt.Errorf("%d of %d requests stored, %d messages unsent after the deadline", stored, want, unsent)
	})
}

// poll calls check until it reports done or fails, waiting between calls
// thrice as long as the call took, at least 20 ms (the poll's own cost
// grows with the tables). Past deadline it returns late's error; it stops
// when serve does.
func poll(ctx context.Context, serveDone <-chan error, deadline time.Time, check func() (bool, error), late func() error) error {
	for {
		polled := time.Now()
		done, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return late()
		}
		select {
		case err := <-serveDone:
			return fmt.Errorf("serve stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(20*time.Millisecond, 3*time.Since(polled))):
		}
	}
}

// benchWriter measures the pacs.008 writer alone (files of 10,000, as
// the cutoff writes them) at each size, beside the baseline of writing the
// same bytes from memory.
func benchWriter(sizes []int) ([]Result, error) {
	dir, err := os.MkdirTemp("", "b2bpay-bench-files-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	base, err := FileWrite(dir, min(slices.Max(sizes), 100_000), 10_000)
	if err != nil {
		return nil, err
	}
	base.Compare(base)
	out := []Result{base}
	for _, n := range sizes {
		r, err := ExportWrite(dir, n, 10_000)
		if err != nil {
			return nil, err
		}
		r.Compare(base)
		out = append(out, r)
	}
	return out, nil
}

// benchExport inserts n authorized payments (a fixture shaped like the
// ones intake and the approval make, with their sealed decisions; ids
// ordered by time as intake's UUIDv7 are: the run's millisecond, then the
// payment's number) and measures one cutoff exporting them into pacs.008
// files, re-check included.
func benchExport(ctx context.Context, a *server.App, opt Options, n int) (Result, error) {
	run := fmt.Sprintf("x%d-%x", n, time.Now().UnixNano()&0xffffff) // order refs stay within 35 characters
	if _, err := a.Pool.Exec(ctx, `INSERT INTO payments (id, upstream_id, request_id, order_ref, customer_id, applicant_id,
			bank_id, debtor_account, creditor_name, creditor_account, creditor_bank_id, amount_minor, currency, remittance,
			execution_date, state, version, created_at, updated_at, required_authorizers, head_hash)
		SELECT (substr(lpad(to_hex($9::bigint), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex($9::bigint), 12, '0'), 9, 4)
				|| '-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, $1, 'erp-' || $2 || '-' || g, 'PO-' || $2 || '-' || g, $3, $4, $5, $6, $7,
			'31001520313050012345', '105290036005', 128640050 + g, 'CNY', '采购合同 HT-2026-0215 第二期货款',
			current_date - 1, 'authorized', 5, now() - interval '1 minute', now() - interval '1 minute', 1,
			sha256(convert_to($2 || g, 'UTF8'))
		FROM generate_series(1, $8::int) g`,
		Upstream, run, CustomerID, Applicant, BankID, DebtorAccount, CustomerName, n, time.Now().UnixMilli()); err != nil {
		return Result{}, fmt.Errorf("insert authorized payments: %w", err)
	}
	// Their decisions, sealed with the bench's key: the claim re-checks them.
	if _, err := postgres.ApproveFixture(ctx, a.Pool, a.Store.Seal()); err != nil {
		return Result{}, fmt.Errorf("approve authorized payments: %w", err)
	}
	if _, err := a.Pool.Exec(ctx, `ANALYZE payments`); err != nil {
		return Result{}, err
	}
	x, cleanup, err := benchExporter(a)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	at := nextSecond()
	stopProfile, err := profileStage(opt, fmt.Sprintf("export-%d", n))
	if err != nil {
		return Result{}, err
	}
	m := Start()
	res, err := x.RunCutoff(ctx, at)
	r := m.Stop(fmt.Sprintf("export/%d", n), res.Payments)
	stopProfile()
	r.LatencyOf = "-"
	if err != nil {
		return r, err
	}
	if res.Payments != n {
		return r, fmt.Errorf("cutoff exported %d of %d payments", res.Payments, n)
	}
	return r, nil
}

// benchExporter is an exporter of pacs.008 files of 10,000 payments into
// a directory that cleanup removes.
func benchExporter(a *server.App) (x *export.Exporter, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "b2bpay-bench-export-")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	sched, err := calendar.NewSchedule(a.Config.Location, calendar.Weekdays(), "0 10 * * *")
	if err == nil {
		x, err = export.New(a.Store, export.Config{Dir: dir, Format: iso20022.Pacs008(), MaxPerFile: 10000,
			Schedule: sched, Calendar: calendar.Weekdays(), Location: a.Config.Location, Runner: "bench", Log: a.Log})
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return x, cleanup, nil
}

// nextSecond waits for the next whole second and returns it: batch ids
// name their cutoff's second, so one cutoff a second at most.
func nextSecond() time.Time {
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at))
	return at
}

// BatchSizes reads the items per batch of the decisions-batch stages
// (--batch-sizes): numbers from 1 to approval.MaxBatchItems separated by
// commas; empty, none.
func BatchSizes(list string) ([]int, error) {
	var sizes []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > approval.MaxBatchItems {
			return nil, fmt.Errorf("--batch-sizes: %q is not a number from 1 to %d", s, approval.MaxBatchItems)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// ExportSizes reads the sizes of the export stage as `b2bpay bench`
// takes them: positive numbers separated by commas (--export-sizes); with
// exportMax, 1,000,000 more.
func ExportSizes(list string, exportMax bool) ([]int, error) {
	var sizes []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--export-sizes: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
	}
	if exportMax {
		sizes = append(sizes, 1_000_000)
	}
	return sizes, nil
}
