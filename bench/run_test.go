package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/testkit"
)

// TestBenchSmall runs the whole benchmark on a small count: every stage is
// measured, the JSON holds one object per stage with positive figures, and
// its path is the last line printed. The batch stages' sizes (5, 10) do
// not divide their counts (32, 45) evenly on purpose: the last batch is
// short.
func TestBenchSmall(t *testing.T) {
	testkit.Services(t)
	path := filepath.Join(t.TempDir(), "json")
	var out bytes.Buffer
	_, err := Run(context.Background(), Options{Count: 200, Decisions: 20, BatchSizes: []int{5, 10}, BatchPayments: 32, EndToEnd: 45, ExportSizes: []int{200, 400}, JSONPath: path,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}, &out)
	require.NoError(t, err, out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, path, lines[len(lines)-1], "the JSON path is printed last")

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var stages []map[string]any
	require.NoError(t, json.Unmarshal(raw, &stages))
	var names []string
	for _, s := range stages {
		name := s["name"].(string)
		names = append(names, name)
		require.Contains(t, out.String(), name, "the table shows every stage")
		for _, k := range []string{"payments_per_second", "baseline_per_second", "ratio", "cpu_seconds_per_1000", "peak_memory_bytes"} {
			v, ok := s[k].(float64)
			require.True(t, ok, "%s has %s", name, k)
			require.Positive(t, v, "%s: %s", name, k)
		}
		for _, k := range []string{"p50_ms", "p99_ms", "cpu_b2bpay_s", "cpu_postgres_s", "cpu_postgres_own_s", "cpu_rabbitmq_s",
			"cpu_b2bpay_s_per_1000", "cpu_postgres_s_per_1000", "cpu_postgres_own_s_per_1000", "cpu_rabbitmq_s_per_1000"} {
			_, ok := s[k].(float64)
			require.True(t, ok, "%s has %s", name, k)
		}
	}
	require.Equal(t, []string{"baseline/publish", "baseline/consume", "baseline/consume-insert-ack", "baseline/copy", "baseline/batch-update", "baseline/intake-work",
		"intake", "intake/same-work", "intake/store", "relay", "decisions", "end-to-end",
		"decisions-batch/5", "decisions-batch/10", "end-to-end-batch/45", "baseline/file-write", "export-write/200", "export-write/400", "export/200", "export/400"}, names)
	require.Equal(t, 200.0, stages[5]["count"], "intake-work takes every message")
	require.Positive(t, stages[5]["p50_ms"], "delivery → ack is measured")
	same := stages[7]
	require.Equal(t, "baseline/intake-work", same["baseline"], "intake against the same work without b2bpay")
	require.InDelta(t, stages[6]["payments_per_second"].(float64)/stages[5]["payments_per_second"].(float64), same["ratio"], 1e-9)
	intake := stages[6]
	require.Positive(t, intake["p50_ms"], "publish → stored is measured")
	require.GreaterOrEqual(t, intake["p99_ms"], intake["p50_ms"])
	require.Equal(t, 200.0, intake["count"])
	require.Contains(t, out.String(), "the servers are shared")
	// The local servers are found (the test runs next to them) and work
	// during intake: both stored and relayed 200 requests.
	require.Positive(t, intake["cpu_postgres_s"], "PostgreSQL's CPU during intake")
	require.Positive(t, intake["cpu_rabbitmq_s"], "RabbitMQ's CPU during intake")
	require.Positive(t, intake["cpu_postgres_own_s"], "the run's own backends during intake")
	require.LessOrEqual(t, intake["cpu_postgres_own_s"], intake["cpu_postgres_s"].(float64)+1e-9, "a part of the whole server (within float rounding)")
	require.Positive(t, intake["wal_bytes"], "intake writes WAL")
	require.InDelta(t, intake["wal_bytes"].(float64)/200, intake["wal_bytes_per_payment"], 1e-6)
	for _, part := range stages[8:10] {
		require.Equal(t, 200.0, part["count"], "%s: intake's halves measured on 200 more requests", part["name"])
		require.Equal(t, "baseline/intake-work", part["baseline"])
		require.Positive(t, part["cpu_postgres_own_s"], "%s works in the database", part["name"])
	}
	require.Positive(t, stages[9]["cpu_rabbitmq_s"], "the relay publishes")
	decisions := stages[10]
	require.Equal(t, 60.0, decisions["count"], "three decisions a payment")
	require.Positive(t, decisions["p50_ms"], "decision → applied is measured")
	require.Contains(t, decisions["latency_of"], "paced at half rate")
	require.Equal(t, "baseline/consume-insert-ack", decisions["baseline"])
	for _, batch := range stages[12:14] {
		require.Equal(t, 96.0, batch["count"], "%s: three approvals of each of the 32 payments", batch["name"])
		require.Equal(t, "baseline/batch-update", batch["baseline"])
		require.Positive(t, batch["p50_ms"], "batch published → result is measured")
		require.GreaterOrEqual(t, batch["p99_ms"], batch["p50_ms"])
	}
	require.Equal(t, 45.0, stages[14]["count"], "the end-to-end stage counts payments")
	require.Equal(t, "baseline/batch-update", stages[14]["baseline"])
	require.Equal(t, "baseline/file-write", stages[15]["baseline"])
	for _, x := range stages[18:20] {
		require.Equal(t, "baseline/batch-update", x["baseline"], "%s: a whole cutoff against the batched UPDATE", x["name"])
		require.InDelta(t, x["payments_per_second"].(float64)/stages[4]["payments_per_second"].(float64), x["ratio"], 1e-9)
	}
	require.Equal(t, 200.0, stages[4]["count"], "the batch update moves every row COPY wrote")
}

// TestIntakeWork is here, after TestProcReal (proc_test.go): its vhost is
// made by rabbitmqctl, a child process whose CPU (1.5 s) /proc counts in
// this process's cutime and getrusage(RUSAGE_SELF) does not, so
// TestProcReal, run after it, saw the two disagree.
// It runs baseline/intake-work on 137 requests (not a multiple
// of its batch of 50): every table holds its rows (6 a request in all),
// every answer and task was routed to its queue, and the requests' queue
// is empty.
func TestIntakeWork(t *testing.T) {
	pool := testkit.OwnPool(t, 8)
	conn, err := amqp.Dial(testkit.OwnVhost(t))
	require.NoError(t, err)
	defer conn.Close()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	const n = 137
	r, err := IntakeWork(t.Context(), conn, BaselineConfig{Pool: pool, Count: n, Window: 100, Prefetch: 200, Workers: 4,
		Body: func(i int) []byte { return RequestBody("iw", i, loc) }})
	require.NoError(t, err)
	require.Equal(t, "baseline/intake-work", r.Name)
	require.Equal(t, n, r.Count)
	require.Positive(t, r.PerSecond)
	require.Positive(t, r.P50ms)

	total := 0
	for table := range IntakeWorkTables {
		var rows int
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&rows))
		total += rows
	}
	require.Equal(t, n*IntakeWorkRows, total, "rows written = messages × rows per message")
	var linked int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM bench_iw_requests r
		JOIN bench_iw_payments p ON p.id = r.payment_id AND p.request_id = r.request_id
		WHERE (SELECT count(*) FROM bench_iw_timeline t WHERE t.payment_id = p.id) = 2`).Scan(&linked))
	require.Equal(t, n, linked, "each ledger row names its payment, which has two timeline entries")

	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	for q, want := range map[string]int{iwQueue: 0, iwExchange + ".event": n, iwExchange + ".task": n} {
		require.Eventually(t, func() bool {
			st, err := ch.QueueDeclarePassive(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			return err == nil && st.Messages == want
		}, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("%s holds %d messages", q, want))
	}
}
