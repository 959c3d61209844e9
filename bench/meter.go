package bench

import (
	"context"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Meter measures one stage: wall-clock time, this process's CPU time, the
// CPU time of the PostgreSQL and RabbitMQ servers (when MeasureServers
// named them) and the peak Go heap, sampled every few milliseconds.
type Meter struct {
	start   time.Time
	cpu     time.Duration
	servers *Servers
	before  ServerSample // the servers' CPU at the start
	stop    chan struct{}
	done    sync.WaitGroup
	peak    uint64
	samples []metrics.Sample
}

// memoryMetrics are summed into the sampled memory: heap objects (live and
// not yet swept) and goroutine stacks.
var memoryMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes"}

// Start collects garbage (so the stage starts from what is live) and
// starts measuring.
func Start() *Meter {
	runtime.GC()
	m := &Meter{stop: make(chan struct{}), samples: make([]metrics.Sample, len(memoryMetrics))}
	for i, name := range memoryMetrics {
		m.samples[i].Name = name
	}
	m.sample()
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	if m.servers = measured.Load(); m.servers != nil {
		m.before = m.servers.Sample()
	}
	m.cpu, m.start = cpuTime(), time.Now()
	return m
}

func (m *Meter) sample() {
	metrics.Read(m.samples)
	var total uint64
	for _, s := range m.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			total += s.Value.Uint64()
		}
	}
	if total > m.peak {
		m.peak = total
	}
}

// Stop ends the measure of count payments and returns the result named
// name, without latencies.
func (m *Meter) Stop(name string, count int) Result {
	wall, cpu := time.Since(m.start), cpuTime()-m.cpu
	var pg, own, mq float64
	var wal int64
	if m.servers != nil {
		after := m.servers.Sample()
		// A server not read at one end (a process gone) counts nothing.
		pg = delta(m.before.Postgres, after.Postgres, m.before.pgRead && after.pgRead)
		mq = delta(m.before.RabbitMQ, after.RabbitMQ, m.before.mqRead && after.mqRead)
		own = m.servers.Own(m.before, after)
		if m.before.walRead && after.walRead && after.WAL >= m.before.WAL {
			wal = after.WAL - m.before.WAL
		}
	}
	close(m.stop)
	m.done.Wait()
	m.sample()
	r := Result{Name: name, Count: count, Seconds: wall.Seconds(), PeakMemory: m.peak,
		CPUB2BPay: cpu.Seconds(), CPUPostgres: pg, CPUPostgresOwn: own, CPURabbitMQ: mq, WALBytes: wal}
	if count > 0 {
		r.PerSecond = float64(count) / wall.Seconds()
	}
	r.per1000()
	return r
}

// delta is after - before, or 0 when either end was not read or time
// ran backwards (a server restarted).
func delta(before, after float64, read bool) float64 {
	if !read || after < before {
		return 0
	}
	return after - before
}

// per1000 sets r's CPU seconds per 1,000 payments from its totals.
func (r *Result) per1000() {
	if r.Count <= 0 {
		return
	}
	k := 1000 / float64(r.Count)
	r.CPUPer1000, r.CPUB2BPayPer1000 = r.CPUB2BPay*k, r.CPUB2BPay*k
	r.CPUPostgresPer1000, r.CPURabbitMQPer1000 = r.CPUPostgres*k, r.CPURabbitMQ*k
	r.CPUPostgresOwnPer1000 = r.CPUPostgresOwn * k
	r.WALBytesPerPayment = float64(r.WALBytes) / float64(r.Count)
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SetLatencies sets r's p50 and p99 from ds, and what they span.
func (r *Result) SetLatencies(of string, ds []time.Duration) {
	r.LatencyOf = of
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r.P50ms = ms(percentile(s, 0.50))
	r.P99ms = ms(percentile(s, 0.99))
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Chain is the measure of count payments taken through parts one after
// the other: their wall-clock and CPU times (b2bpay's and the servers')
// added, the largest peak.
// What happened between the parts is not counted.
func Chain(name string, count int, parts ...Result) Result {
	r := Result{Name: name, Count: count, LatencyOf: "-"}
	for _, p := range parts {
		r.Seconds += p.Seconds
		r.CPUB2BPay += p.CPUB2BPay
		r.CPUPostgres += p.CPUPostgres
		r.CPUPostgresOwn += p.CPUPostgresOwn
		r.WALBytes += p.WALBytes
		r.CPURabbitMQ += p.CPURabbitMQ
		r.PeakMemory = max(r.PeakMemory, p.PeakMemory)
	}
	if count > 0 && r.Seconds > 0 {
		r.PerSecond = float64(count) / r.Seconds
	}
	r.per1000()
	return r
}

// Vacuum runs VACUUM (ANALYZE) on tables every period until stop is
// called, as autovacuum would on a server where it is on: a server with
// autovacuum off (as on the development machine) keeps every dead row and
// its first, empty-table statistics, and long runs slow down for that
// alone. Its cost counts in whatever is measured meanwhile, as
// autovacuum's would.
func Vacuum(ctx context.Context, exec func(ctx context.Context, sql string) error, period time.Duration, tables ...string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, table := range tables {
					if ctx.Err() != nil {
						return
					}
					_ = exec(ctx, "VACUUM (ANALYZE) "+table) // best effort, as autovacuum is
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
