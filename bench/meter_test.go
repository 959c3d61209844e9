package bench

import (
	"os"
	"testing"
	"time"
)

func TestChain(t *testing.T) {
	r := Chain("end-to-end", 100,
		Result{Count: 100, Seconds: 1, CPUB2BPay: 0.2, CPUPostgres: 1, CPURabbitMQ: 0.5, WALBytes: 1000, PeakMemory: 10},
		Result{Count: 300, Seconds: 3, CPUB2BPay: 0.3, CPUPostgres: 2, CPURabbitMQ: 0.25, WALBytes: 3000, PeakMemory: 30},
		Result{Count: 100, Seconds: 1, CPUB2BPay: 0.4, CPUPostgres: 0.5, PeakMemory: 20})
	if r.Seconds != 5 || r.PerSecond != 20 || r.PeakMemory != 30 {
		t.Fatalf("seconds %v, per second %v, peak %v", r.Seconds, r.PerSecond, r.PeakMemory)
	}
	// CPU: 0.2 + 0.3 + 0.4 = 0.9 s for 100 payments: 9 s per 1,000.
	if r.CPUPer1000 < 8.999 || r.CPUPer1000 > 9.001 || r.CPUB2BPayPer1000 != r.CPUPer1000 {
		t.Fatalf("CPU per 1,000: %v, %v", r.CPUPer1000, r.CPUB2BPayPer1000)
	}
	// The servers' seconds add up too: 3.5 s of PostgreSQL, 0.75 s of RabbitMQ.
	if r.CPUPostgres != 3.5 || r.CPUPostgresPer1000 != 35 || r.CPURabbitMQ != 0.75 || r.CPURabbitMQPer1000 != 7.5 {
		t.Fatalf("servers: %+v", r)
	}
	if r.WALBytes != 4000 || r.WALBytesPerPayment != 40 {
		t.Fatalf("WAL: %d bytes, %v a payment", r.WALBytes, r.WALBytesPerPayment)
	}
}

// TestMeterServers: a meter with servers to measure reports their CPU
// time during the stage, here this process's own /proc tree standing in.
func TestMeterServers(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	self := &Servers{proc: Proc{Root: "/proc", Tick: ClockTicks()}, postgres: []int{os.Getpid()}}
	defer MeasureServers(MeasureServers(self))
	m := Start()
	for t0 := cpuTime(); cpuTime()-t0 < 200*time.Millisecond; {
	}
	r := m.Stop("spin", 500)
	if r.CPUB2BPay < 0.19 || r.CPUPostgres < 0.14 || r.CPUPostgres > r.CPUB2BPay+0.05 || r.CPURabbitMQ != 0 {
		t.Fatalf("b2bpay %v s, postgres %v s, rabbitmq %v s", r.CPUB2BPay, r.CPUPostgres, r.CPURabbitMQ)
	}
	if r.CPUPostgresPer1000 != r.CPUPostgres*2 {
		t.Fatalf("per 1,000: %v", r.CPUPostgresPer1000)
	}
}
