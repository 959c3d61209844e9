package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
)

// The export scenarios take payments through real approvals (the staff
// client, real codes), then run cutoffs with the b2bpay command line and
// serve's scheduler. Their cutoffs are every minute, on a calendar on which
// every day around now is a business day, so they run whatever the day;
// files hold at most two payments, so a cutoff writes several. While the
// payments are approved, serve runs a schedule that fires on no day near
// now: nothing is exported before the scenario says.

const (
	everyMinute = "* * * * *"
	maxPerFile  = 2
	pacs008XSD  = "../iso20022/testdata/xsd/pacs.008.001.08.xsd"
)

func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

// exportSetup writes the scenario's calendar and sets its export
// configuration for every b2bpay process; it returns the cutoff schedule
// serve runs, for the scenario to reckon with.
func (e *env) exportSetup() *calendar.Schedule {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("# faults: every day from a fortnight ago to a fortnight on is a business day\nweekend saturday sunday\n")
	today := time.Now().In(shanghai())
	for d := -15; d <= 15; d++ {
		day := today.AddDate(0, 0, d)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			fmt.Fprintf(&b, "%s workday faults\n", day.Format(payment.DateLayout))
		}
	}
	path := filepath.Join(e.dir, "calendar.txt")
	require.NoError(e.t, os.WriteFile(path, []byte(b.String()), 0o600))
	f, err := os.Open(path)
	require.NoError(e.t, err)
	defer f.Close()
	cal, err := calendar.Load(path, f)
	require.NoError(e.t, err)
	sched, err := calendar.NewSchedule(shanghai(), cal, everyMinute)
	require.NoError(e.t, err)
	e.scenarioEnv = []string{"B2BPAY_CALENDAR=" + path, "B2BPAY_CUTOFFS=" + everyMinute, "B2BPAY_MAX_PER_FILE=" + strconv.Itoa(maxPerFile)}
	return sched
}

// quietCutoffs is a schedule that fires on no day near now: noon on the
// day half a year on.
func quietCutoffs() string {
	d := time.Now().In(shanghai()).AddDate(0, 6, 0)
	return fmt.Sprintf("0 12 %d %d *", d.Day(), int(d.Month()))
}

// approvalServe starts serve for the approvals: its cutoffs never come.
func (e *env) approvalServe() *server {
	e.t.Helper()
	s := e.serveWith("", nil, []string{"B2BPAY_CUTOFFS=" + quietCutoffs()})
	s.ready()
	return s
}

// exporterServe starts serve with the scenario's cutoffs, looked for every
// second.
func (e *env) exporterServe(crashAt string) *server {
	e.t.Helper()
	return e.serveWith(crashAt, []string{"--cutoff-tick", "1s"}, nil)
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// authorizedAt is when each payment (by id) was authorized.
func (e *env) authorizedAt() map[string]time.Time {
	e.t.Helper()
	out := map[string]time.Time{}
	rows, err := e.pool.Query(context.Background(), `SELECT payment_id::text, at FROM payment_timeline WHERE to_state = 'authorized'`)
	require.NoError(e.t, err)
	for rows.Next() {
		var id string
		var at time.Time
		require.NoError(e.t, rows.Scan(&id, &at))
		out[id] = at
	}
	require.NoError(e.t, rows.Err())
	return out
}

// lastAuthorized is the latest authorization of the payments.
func (e *env) lastAuthorized(ps []staffPayment) time.Time {
	e.t.Helper()
	at := e.authorizedAt()
	var last time.Time
	for _, p := range ps {
		a, ok := at[p.id]
		require.True(e.t, ok, "payment %s is authorized", p.requestID)
		if a.After(last) {
			last = a
		}
	}
	return last
}

// nextSecond is the first whole second after t.
func nextSecond(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }

// cutoffRuns are the cutoffs run, in order.
func (e *env) cutoffRuns() []time.Time {
	e.t.Helper()
	var out []time.Time
	rows, err := e.pool.Query(context.Background(), `SELECT cutoff_at FROM cutoff_runs ORDER BY cutoff_at`)
	require.NoError(e.t, err)
	for rows.Next() {
		var at time.Time
		require.NoError(e.t, rows.Scan(&at))
		out = append(out, at)
	}
	require.NoError(e.t, rows.Err())
	return out
}

// requireCaughtUp checks the cutoffs run: the first, then every cutoff of
// the schedule after it up to the last one run, none skipped, and none
// due at since left out.
func (e *env) requireCaughtUp(sched *calendar.Schedule, first, since time.Time) []time.Time {
	e.t.Helper()
	runs := e.cutoffRuns()
	require.NotEmpty(e.t, runs)
	require.True(e.t, runs[0].Equal(first), "the first cutoff run is %s, not %s", runs[0], first)
	last := runs[len(runs)-1]
	want := append([]time.Time{first}, sched.Between(first, last)...)
	require.Equal(e.t, instants(want), instants(runs), "every cutoff from the first to the last run, once each")
	require.Empty(e.t, sched.Between(last, since), "every cutoff due when the exporter came back is run")
	return runs
}

func instants(ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.In(shanghai()).Format(time.RFC3339Nano))
	}
	return out
}

// requireNothingSkipped checks every payment against the cutoffs run: an
// authorized payment belongs to the first cutoff run after its
// authorization, in a batch of that cutoff; one that no cutoff run came
// after yet is still authorized. It returns each payment's state.
func (e *env) requireNothingSkipped(ps []staffPayment, runs []time.Time) map[string]payment.State {
	e.t.Helper()
	authorized := e.authorizedAt()
	cutoffOf := map[string]time.Time{}
	rows, err := e.pool.Query(context.Background(), `SELECT bp.payment_id::text, r.cutoff_at FROM batch_payments bp
		JOIN batches b ON b.id = bp.batch_id JOIN cutoff_runs r ON r.id = b.cutoff_run_id`)
	require.NoError(e.t, err)
	for rows.Next() {
		var id string
		var at time.Time
		require.NoError(e.t, rows.Scan(&id, &at))
		cutoffOf[id] = at
	}
	require.NoError(e.t, rows.Err())
	states := map[string]payment.State{}
	for _, p := range ps {
		a := authorized[p.id]
		i := slices.IndexFunc(runs, func(r time.Time) bool { return r.After(a) })
		st := payment.State(e.state(p.id))
		states[p.id] = st
		if i < 0 {
			require.Equal(e.t, payment.StateAuthorized, st, "%s: no cutoff run after its authorization yet", p.requestID)
			require.NotContains(e.t, cutoffOf, p.id)
			continue
		}
		require.Equal(e.t, payment.StateExported, st, "%s, authorized %s, makes cutoff %s", p.requestID, a, runs[i])
		require.Contains(e.t, cutoffOf, p.id, "%s is in a batch", p.requestID)
		require.True(e.t, cutoffOf[p.id].Equal(runs[i]), "%s, authorized %s, is in the batch of cutoff %s, not of %s",
			p.requestID, a, cutoffOf[p.id], runs[i])
		require.Equal(e.t, 1, e.count(`SELECT count(*) FROM payment_timeline WHERE payment_id = $1 AND action = 'export'`, p.id),
			"%s is exported once", p.requestID)
	}
	return states
}

// pacs008 is what the export scenarios read of a file.
type pacs008 struct {
	MsgID         string `xml:"FIToFICstmrCdtTrf>GrpHdr>MsgId"`
	NbOfTxs       int    `xml:"FIToFICstmrCdtTrf>GrpHdr>NbOfTxs"`
	CtrlSum       string `xml:"FIToFICstmrCdtTrf>GrpHdr>CtrlSum"`
	SettlementDay string `xml:"FIToFICstmrCdtTrf>GrpHdr>IntrBkSttlmDt"`
	Txs           []struct {
		InstrID    string `xml:"PmtId>InstrId"`
		EndToEndID string `xml:"PmtId>EndToEndId"`
		TxID       string `xml:"PmtId>TxId"`
		Amount     string `xml:"IntrBkSttlmAmt"`
	} `xml:"FIToFICstmrCdtTrf>CdtTrfTxInf"`
}

// requireFiles checks the outbound directory dir of the database the pool
// q reads: every batch is written, and has its file and manifest, and
// nothing else is there (no temporary file); each file is valid against
// the pacs.008.001.08 XSD, has the SHA-256 its manifest and its batch
// record name, and holds exactly the batch's payments, in order, with
// their amounts; every payment in a batch is in exactly one file. It
// returns the directory's files by name.
func (e *env) requireFiles(q querier, dir string) map[string][]byte {
	e.t.Helper()
	ctx := context.Background()
	type item struct {
		seq                  int
		id, orderRef, amount string
	}
	type batch struct {
		id, file, state, sha, control, settles string
		count                                  int
		items                                  []item
	}
	var bs []*batch
	rows, err := q.Query(ctx, `SELECT id, file_name, state, coalesce(sha256, ''), count, control_sum_minor, currency,
		to_char(settlement_date, 'YYYY-MM-DD') FROM batches ORDER BY id`)
	require.NoError(e.t, err)
	byID := map[string]*batch{}
	for rows.Next() {
		b := &batch{}
		var control int64
		var currency string
		require.NoError(e.t, rows.Scan(&b.id, &b.file, &b.state, &b.sha, &b.count, &control, &currency, &b.settles))
		b.control = payment.FormatAmount(control, currency)
		bs = append(bs, b)
		byID[b.id] = b
	}
	require.NoError(e.t, rows.Err())
	rows, err = q.Query(ctx, `SELECT bp.batch_id, bp.seq, p.id::text, p.order_ref, p.amount_minor, p.currency
		FROM batch_payments bp JOIN payments p ON p.id = bp.payment_id ORDER BY bp.batch_id, bp.seq`)
	require.NoError(e.t, err)
	for rows.Next() {
		var bid, currency string
		var it item
		var amount int64
		require.NoError(e.t, rows.Scan(&bid, &it.seq, &it.id, &it.orderRef, &amount, &currency))
		it.amount = payment.FormatAmount(amount, currency)
		byID[bid].items = append(byID[bid].items, it)
	}
	require.NoError(e.t, rows.Err())

	var want, paths []string
	files := map[string][]byte{}
	inFiles := map[string]int{}
	for _, b := range bs {
		require.Contains(e.t, []string{export.BatchWritten, export.BatchDelivered, export.BatchDeliveryFailed, export.BatchAcknowledged},
			b.state, "batch %s is written (and maybe delivered)", b.id)
		raw, err := os.ReadFile(filepath.Join(dir, b.file))
		require.NoError(e.t, err, "the file of batch %s", b.id)
		sum := sha256.Sum256(raw)
		require.Equal(e.t, b.sha, hex.EncodeToString(sum[:]), "batch %s: the file is the one recorded", b.id)
		var m export.Manifest
		mraw, err := os.ReadFile(filepath.Join(dir, b.file+".manifest.json"))
		require.NoError(e.t, err, "the manifest of batch %s", b.id)
		require.NoError(e.t, json.Unmarshal(mraw, &m))
		require.Equal(e.t, export.Manifest{BatchID: b.id, File: b.file, Format: m.Format, Count: b.count, ControlSum: b.control,
			Currency: m.Currency, DebtorBankID: m.DebtorBankID, SettlementDate: b.settles, SHA256: b.sha, CreatedAt: m.CreatedAt}, m)

		var doc pacs008
		require.NoError(e.t, xml.Unmarshal(raw, &doc), "batch %s", b.id)
		require.Equal(e.t, b.id, doc.MsgID)
		require.Equal(e.t, b.count, doc.NbOfTxs)
		require.Equal(e.t, b.control, doc.CtrlSum)
		require.Equal(e.t, b.settles, doc.SettlementDay)
		require.Len(e.t, doc.Txs, len(b.items), "batch %s: every payment of the batch, no other", b.id)
		require.Equal(e.t, b.count, len(b.items))
		for i, it := range b.items {
			tx := doc.Txs[i]
			require.Equal(e.t, fmt.Sprintf("%s-%06d", b.id, it.seq), tx.InstrID)
			require.Equal(e.t, strings.ReplaceAll(it.id, "-", ""), tx.TxID)
			require.Equal(e.t, it.orderRef, tx.EndToEndID)
			require.Equal(e.t, it.amount, tx.Amount)
			inFiles[tx.TxID]++
		}
		files[b.file], files[b.file+".manifest.json"] = raw, mraw
		want = append(want, b.file, b.file+".manifest.json")
		paths = append(paths, filepath.Join(dir, b.file))
	}
	for id, n := range inFiles {
		require.Equal(e.t, 1, n, "payment %s is in one file", id)
	}
	require.ElementsMatch(e.t, want, dirNames(e.t, dir), "one file and one manifest per batch, nothing else")
	require.Empty(e.t, tempNames(e.t, dir), "no temporary file left")
	if len(paths) > 0 {
		out, err := exec.Command("xmllint", append([]string{"--noout", "--schema", pacs008XSD}, paths...)...).CombinedOutput()
		require.NoError(e.t, err, "xmllint: %s", out)
	}
	return files
}

// querier is a pool or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// dirNames are the names in dir (none when it does not exist) but the
// exporter's temporary directory (export.TempDir, checked to be one): what
// a gateway taking every file of dir finds.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, de := range es {
		if de.Name() == export.TempDir {
			require.True(t, de.IsDir(), "%s is the temporary directory", de.Name())
			continue
		}
		out = append(out, de.Name())
	}
	return out
}

// tempNames are the names in dir's temporary directory.
func tempNames(t *testing.T, dir string) []string {
	t.Helper()
	return dirNames(t, filepath.Join(dir, export.TempDir))
}

var creDtTm = regexp.MustCompile(`<CreDtTm>[^<]*</CreDtTm>`)

// requireSameFiles checks that two runs wrote the same files: byte for
// byte but for the moment of the claim (the group header's CreDtTm, and
// the manifest's created_at and the SHA-256 that covers it).
func requireSameFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	require.Equal(t, slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)))
	for name, w := range want {
		g := got[name]
		if strings.HasSuffix(name, ".manifest.json") {
			var mg, mw export.Manifest
			require.NoError(t, json.Unmarshal(g, &mg))
			require.NoError(t, json.Unmarshal(w, &mw))
			mg.SHA256, mg.CreatedAt, mw.SHA256, mw.CreatedAt = "", time.Time{}, "", time.Time{}
			require.Equal(t, mw, mg, name)
			continue
		}
		require.Equal(t, 1, len(creDtTm.FindAll(g, -1)), name)
		require.Equal(t, string(creDtTm.ReplaceAll(w, nil)), string(creDtTm.ReplaceAll(g, nil)), name)
	}
}

// twin copies the scenario's database, while no b2bpay process of the
// scenario runs, into one that is dropped at the end: the control an
// uninterrupted run works on. It returns the copy's URL.
func (e *env) twin() string {
	e.t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.BaseURL())
	require.NoError(e.t, err)
	defer admin.Close(ctx)
	name := e.dbName + "_twin"
	e.t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.BaseURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	// The template must have no session: the checker's connections close
	// and are opened again when next needed.
	e.pool.Reset()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+e.dbName)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // a closing session is still there
	}
	require.NoError(e.t, err)
	u, err := url.Parse(e.dbURL)
	require.NoError(e.t, err)
	u.Path = "/" + name
	return withParam(u.String(), "application_name", "b2bpay-faults-twin")
}

// cutoffRun runs `b2bpay cutoff run --at at` with more environment.
func (e *env) cutoffRun(at time.Time, environ ...string) (ran, error) {
	return e.run(environ, "", "cutoff", "run", "--at", at.UTC().Format(time.RFC3339Nano))
}

// TestExportTwoRunners runs one cutoff with several schedulers at once
// over payments approved for real: b2bpay cutoff run started several
// times at the same moment (and, in the long run, two serve processes
// whose scheduler and elector meet the next cutoff while a cutoff run
// for it starts too). The cutoff record lets one claim: each payment is in
// exactly one batch and one valid file, exported once.
func TestExportTwoRunners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "export-two-runners")
	sched := e.exportSetup()
	n, n2 := size(6, 12), size(0, 6)
	s := e.approvalServe()
	c := e.newCrew(s, n+n2)
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	round1 := c.requests("race", 0, n)
	p.add(msgs(round1)...)
	round1 = e.submit(pub, round1)
	c.approveAll(s, round1)
	s.stop()

	// Every runner is given the same cutoff, the second after the last
	// authorization, and all start at once.
	at := nextSecond(e.lastAuthorized(round1))
	sleepUntil(at)
	runners := size(3, 6)
	results := make([]ran, runners)
	errs := make([]error, runners)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range runners {
		wg.Go(func() {
			<-start
			results[i], errs[i] = e.cutoffRun(at)
		})
	}
	close(start)
	wg.Wait()
	e.injected(runners - 1)
	files := (n + maxPerFile - 1) / maxPerFile
	claimed := fmt.Sprintf(": %d payments in %d files\n", n, files)
	winners := 0
	for i, r := range results {
		require.NoError(t, errs[i])
		require.Zero(t, r.code, "runner %d: %s%s", i, r.stdout, r.stderr)
		if strings.Contains(r.stdout, "was already run") {
			// It claimed nothing (and may have written files of the
			// winner's batches too: the same bytes, reported as recovered).
			require.Contains(t, r.stdout, "was already run: nothing new claimed\n", "runner %d", i)
			require.NotContains(t, r.stdout, claimed, "runner %d", i)
			continue
		}
		winners++
		require.Contains(t, r.stdout, claimed, "runner %d", i)
	}
	require.Equal(t, 1, winners, "exactly one runner claims the cutoff")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM cutoff_runs`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM cutoff_runs WHERE cutoff_at = $1 AND payments = $2 AND batches = $3
		AND finished_at IS NOT NULL`, at, n, files))
	e.requireNothingSkipped(round1, []time.Time{at})
	e.requireFiles(e.pool, filepath.Join(e.dir, "outbound"))
	all := round1

	if long {
		// Round two: two serve processes with the every-minute schedule
		// meet the first cutoff after the new authorizations, and a cutoff
		// run for that cutoff starts the moment it comes.
		s = e.approvalServe()
		round2 := c.requests("race", n, n2)
		p.add(msgs(round2)...)
		round2 = e.submit(pub, round2)
		c.approveAll(s, round2)
		s.stop()
		next := sched.Next(e.lastAuthorized(round2))
		sleepUntil(next.Add(-3 * time.Second))
		a, b := e.exporterServe(""), e.exporterServe("")
		a.ready()
		b.ready()
		sleepUntil(next)
		r, err := e.cutoffRun(next)
		require.NoError(t, err)
		require.Zero(t, r.code, r.stderr)
		e.injected(2)
		all = append(all, round2...)
		waitUntil(t, 30*time.Second, "the second round exported and written", func() bool {
			return e.count(`SELECT count(*) FROM payments WHERE state = 'exported'`) == len(all) &&
				e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`) == 0
		})
		runs := e.requireCaughtUp(sched, at, next)
		e.requireNothingSkipped(all, runs)
		e.requireFiles(e.pool, filepath.Join(e.dir, "outbound"))
		ran := 0
		for _, srv := range []*server{a, b} {
			if strings.Contains(srv.log.String(), `msg="cutoff run"`) {
				ran++
			}
		}
		require.LessOrEqual(t, ran, 1, "the elector lets one serve run cutoffs")
		a.stop()
		b.stop()
	}

	s = e.approvalServe() // its relay sends the events
	var events []string
	for _, sp := range all {
		events = append(events, eventsUpTo(sp.requestID, payment.StateExported)...)
	}
	e.check(p, checkOptions{states: []payment.State{payment.StateExported}, events: events})
	require.Contains(t, e.cli("verify"), fmt.Sprintf("%d payments checked, 0 broken", len(all)))
	s.stop()
}

// TestExportCrashCatchUp kills the exporter in the middle of its work,
// three times, and keeps it down over its schedule: the run that claimed a
// cutoff dies before writing (export-after-claim); the process started
// again dies inside its first file's write (export-during-write: nothing in
// the outbound directory, part of the file in its temporary directory);
// the next one removes that temporary file and dies after its first file
// (export-after-write); the next one finishes. The files are complete and valid, the file written before the
// crash is the one delivered, and they are the files an uninterrupted run
// writes (the same cutoffs run on a copy of the database taken before).
// Every cutoff of the schedule since the first is run, none skipped, and
// each payment is in the first cutoff after its authorization. Quick: the
// first cutoff is a cutoff run one second after the first payments'
// authorization (minute cutoffs cannot be waited for). Long: it is serve's
// own scheduled cutoff, and the exporter stays down over the next one,
// which the restart catches up with the payments authorized in between.
func TestExportCrashCatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "export-crash-catchup")
	sched := e.exportSetup()
	outbound := filepath.Join(e.dir, "outbound")
	nA, nB := size(4, 6), size(2, 3)
	s := e.approvalServe()
	c := e.newCrew(s, nA+nB)
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	groupA, groupB := c.requests("crash", 0, nA), c.requests("crash", nA, nB)
	p.add(msgs(groupA)...)
	p.add(msgs(groupB)...)
	groupA = e.submit(pub, groupA)
	c.approveAll(s, groupA)
	first := nextSecond(e.lastAuthorized(groupA))
	if long {
		first = sched.Next(e.lastAuthorized(groupA))
	}
	sleepUntil(first)
	groupB = e.submit(pub, groupB)
	c.approveAll(s, groupB)
	s.stop()
	twinURL := e.twin()

	// The run that claims the first cutoff dies before it writes a file.
	if long {
		require.True(t, time.Now().Before(sched.Next(first).Add(-2*time.Second)),
			"the exporter starts before the cutoff after the first (the approvals were too slow)")
		e.exporterServe(export.CrashAfterClaim).crashed(30 * time.Second)
	} else {
		r, err := e.cutoffRun(first, crash.EnvVar+"="+export.CrashAfterClaim)
		require.NoError(t, err)
		require.Equal(t, crash.ExitCode, r.code, r.stdout+r.stderr)
		require.Equal(t, 1, strings.Count(r.stderr, "crashing at "+export.CrashAfterClaim), r.stderr)
		e.injected(1)
	}
	claimedA := (nA + maxPerFile - 1) / maxPerFile
	require.Equal(t, instants([]time.Time{first}), instants(e.cutoffRuns()))
	require.Equal(t, claimedA, e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`))
	require.Zero(t, e.count(`SELECT count(*) FROM batches WHERE state <> 'claimed'`))
	require.Empty(t, dirNames(t, outbound), "no file before the crash")
	for _, sp := range groupA {
		require.Equal(t, string(payment.StateExported), e.state(sp.id))
	}
	for _, sp := range groupB {
		require.Equal(t, string(payment.StateAuthorized), e.state(sp.id))
	}

	// Down over the next cutoff (long), then up again: the process dies
	// inside its first file's write (exit 3 at once, as kill -9): part of
	// the file is in the temporary directory, nothing where the gateway
	// takes files.
	if long {
		sleepUntil(sched.Next(first).Add(2 * time.Second))
	}
	e.exporterServe(export.CrashDuringWrite).crashed(30 * time.Second)
	require.Empty(t, dirNames(t, outbound), "no file, whole or partial, in the outbound directory")
	require.Len(t, tempNames(t, outbound), 1, "the partial file is in the temporary directory")
	require.Zero(t, e.count(`SELECT count(*) FROM batches WHERE state <> 'claimed'`))

	// Up again: the temporary file is removed at start, and the process
	// dies once its first file is in place.
	e.exporterServe(export.CrashAfterWrite).crashed(30 * time.Second)
	require.Empty(t, tempNames(t, outbound), "the killed writer's temporary file is removed at start")
	left := dirNames(t, outbound)
	require.Len(t, left, 2, "one file and its manifest: %v", left)
	slices.Sort(left)
	crashedName := left[0]
	require.Equal(t, crashedName+".manifest.json", left[1])
	crashedFile, err := os.ReadFile(filepath.Join(outbound, crashedName))
	require.NoError(t, err)
	require.Zero(t, e.count(`SELECT count(*) FROM batches WHERE state <> 'claimed'`), "the crash came before the file was recorded")
	if long {
		require.Equal(t, 2, len(e.cutoffRuns()), "the cutoff missed while down is run at the restart")
		for _, sp := range groupB {
			require.Equal(t, string(payment.StateExported), e.state(sp.id), "%s makes the cutoff caught up", sp.requestID)
		}
	}

	// Up again: every file written, nothing skipped.
	up := time.Now()
	s = e.exporterServe("")
	s.ready()
	waitUntil(t, 30*time.Second, "every batch written and every cutoff run recorded as finished", func() bool {
		return e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`) == 0 &&
			e.count(`SELECT count(*) FROM cutoff_runs WHERE finished_at IS NULL`) == 0 &&
			len(e.cutoffRuns()) >= 1+len(sched.Between(first, up))
	})
	// Stopped, so that no cutoff runs while the outcome is read; the relay
	// of a serve without cutoffs sends the events.
	s.stop()
	s = e.approvalServe()
	runs := e.requireCaughtUp(sched, first, up)
	all := append(append([]staffPayment(nil), groupA...), groupB...)
	states := e.requireNothingSkipped(all, runs)
	files := e.requireFiles(e.pool, outbound)
	require.Equal(t, crashedFile, files[crashedName], "the file written before the crash is the file delivered")

	// The control: the same cutoffs on the copy, uninterrupted.
	twinOut := filepath.Join(e.dir, "twin-outbound")
	for _, at := range runs {
		r, err := e.cutoffRun(at, "B2BPAY_DATABASE_URL="+twinURL, "B2BPAY_OUTBOUND_DIR="+twinOut)
		require.NoError(t, err)
		require.Zero(t, r.code, r.stdout+r.stderr)
	}
	twin, err := pgx.Connect(context.Background(), twinURL)
	require.NoError(t, err)
	defer twin.Close(context.Background())
	requireSameFiles(t, files, e.requireFiles(twin, twinOut))
	requireSameBatches(t, e.pool, twin)

	var events []string
	for _, sp := range all {
		events = append(events, eventsUpTo(sp.requestID, states[sp.id])...)
	}
	e.check(p, checkOptions{states: []payment.State{payment.StateExported, payment.StateAuthorized}, events: events})
	require.Contains(t, e.cli("verify"), fmt.Sprintf("%d payments checked, 0 broken", len(all)))
	s.stop()
}

// requireSameBatches checks two databases made the same batches of the
// same payments.
func requireSameBatches(t *testing.T, a, b querier) {
	t.Helper()
	read := func(q querier) string {
		rows, err := q.Query(context.Background(), `SELECT b.id, r.cutoff_at, b.count, b.control_sum_minor, b.settlement_date,
				bp.seq, bp.payment_id, bp.debtor_name
			FROM batches b JOIN cutoff_runs r ON r.id = b.cutoff_run_id JOIN batch_payments bp ON bp.batch_id = b.id
			ORDER BY b.id, bp.seq`)
		require.NoError(t, err)
		var out bytes.Buffer
		for rows.Next() {
			vs, err := rows.Values()
			require.NoError(t, err)
			fmt.Fprintln(&out, vs...)
		}
		require.NoError(t, rows.Err())
		return out.String()
	}
	require.Equal(t, read(b), read(a))
}
