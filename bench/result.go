// Package bench measures b2bpay against the machine it runs on: baselines
// (what RabbitMQ and PostgreSQL do here with b2bpay-sized messages and
// rows, without b2bpay) and b2bpay's own stages, reported side by side as
// one table and as JSON. Run is `b2bpay bench`: the baselines, then the
// stages (intake, decisions, end to end, the export writer, cutoffs) on a
// database and a vhost of their own, with b2bpay built as serve builds it
// (package server).
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// Result is the measure of one stage (or baseline).
type Result struct {
	// Name names the stage: "baseline/publish", "intake", "export/10000"…
	Name string `json:"name"`
	// Count is how many payments (messages, rows) the stage handled.
	Count int `json:"count"`
	// PerSecond is payments handled per second of wall-clock time.
	PerSecond float64 `json:"payments_per_second"`
	// Baseline names the baseline the stage is compared with, and
	// BaselinePerSecond is its rate; a baseline is its own.
	Baseline          string  `json:"baseline"`
	BaselinePerSecond float64 `json:"baseline_per_second"`
	// Ratio is PerSecond / BaselinePerSecond.
	Ratio float64 `json:"ratio"`
	// P50ms and P99ms are latency percentiles in milliseconds; what the
	// latency spans is in LatencyOf.
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	LatencyOf string  `json:"latency_of"`
	// CPUPer1000 is this process's CPU time (user + system) per 1,000
	// payments, in seconds (the same as CPUB2BPayPer1000; kept for
	// earlier readers of the JSON).
	CPUPer1000 float64 `json:"cpu_seconds_per_1000"`
	// CPUB2BPay is this process's CPU time during the stage, in seconds
	// (b2bpay's workers and the benchmark's own publishers and staff);
	// CPUPostgres and CPURabbitMQ are the servers' (every process of the
	// PostgreSQL server, RabbitMQ's beam.smp), read from /proc before and
	// after: the servers are shared, so other sessions' work counts too.
	// 0 for a server not measured (see Servers.Note).
	CPUB2BPay   float64 `json:"cpu_b2bpay_s"`
	CPUPostgres float64 `json:"cpu_postgres_s"`
	CPURabbitMQ float64 `json:"cpu_rabbitmq_s"`
	// CPUPostgresOwn is the part of CPUPostgres spent by the backends
	// connected to the benchmark's database (Servers.Own): a lower bound
	// other sessions do not inflate, as CPUPostgres is an upper bound.
	CPUPostgresOwn float64 `json:"cpu_postgres_own_s"`
	// WALBytes is how far PostgreSQL's WAL moved during the stage (the
	// whole server's: other sessions' writes count too); 0 when not read.
	WALBytes int64 `json:"wal_bytes"`
	// WALBytesPerPayment is WALBytes per payment (message, row) of Count.
	WALBytesPerPayment float64 `json:"wal_bytes_per_payment"`
	// The same per 1,000 payments (messages, rows) of Count.
	CPUB2BPayPer1000      float64 `json:"cpu_b2bpay_s_per_1000"`
	CPUPostgresPer1000    float64 `json:"cpu_postgres_s_per_1000"`
	CPUPostgresOwnPer1000 float64 `json:"cpu_postgres_own_s_per_1000"`
	CPURabbitMQPer1000    float64 `json:"cpu_rabbitmq_s_per_1000"`
	// PeakMemory is the largest Go heap (objects and stacks) seen while
	// the stage ran, in bytes.
	PeakMemory uint64 `json:"peak_memory_bytes"`
	// Seconds is the stage's wall-clock time.
	Seconds float64 `json:"seconds"`
}

// Compare sets r's baseline and ratio from b.
func (r *Result) Compare(b Result) {
	r.Baseline, r.BaselinePerSecond = b.Name, b.PerSecond
	if b.PerSecond > 0 {
		r.Ratio = r.PerSecond / b.PerSecond
	}
}

// PrintTable writes results as one aligned table: CPU S is b2bpay's
// process, PG S PostgreSQL's (the whole server), PG OWN S its backends of
// the benchmark's database, MQ S RabbitMQ's, each also per 1,000; WAL
// B/PAY the WAL bytes written per payment.
func PrintTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tCOUNT\tPAYMENTS/S\tBASELINE/S\tRATIO\tP50 MS\tP99 MS\tCPU S/1000\tPG S/1000\tPG OWN S/1000\tMQ S/1000\tCPU S\tPG S\tPG OWN S\tMQ S\tWAL B/PAY\tPEAK MEMORY\tLATENCY OF")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%s\t%s\n", r.Name, r.Count, r.PerSecond,
			r.BaselinePerSecond, r.Ratio, r.P50ms, r.P99ms, r.CPUB2BPayPer1000, r.CPUPostgresPer1000, r.CPUPostgresOwnPer1000, r.CPURabbitMQPer1000,
			r.CPUB2BPay, r.CPUPostgres, r.CPUPostgresOwn, r.CPURabbitMQ, r.WALBytesPerPayment, mib(r.PeakMemory), r.LatencyOf)
	}
	return tw.Flush()
}

// WriteJSON writes results to path as a JSON array, one object per stage.
func WriteJSON(path string, rs []Result) error {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
