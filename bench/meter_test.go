package bench

import "testing"

func TestChain(t *testing.T) {
	r := Chain("end-to-end", 100,
		Result{Count: 100, Seconds: 1, CPUPer1000: 2, PeakMemory: 10},
		Result{Count: 300, Seconds: 3, CPUPer1000: 1, PeakMemory: 30},
		Result{Count: 100, Seconds: 1, CPUPer1000: 4, PeakMemory: 20})
	if r.Seconds != 5 || r.PerSecond != 20 || r.PeakMemory != 30 {
		t.Fatalf("seconds %v, per second %v, peak %v", r.Seconds, r.PerSecond, r.PeakMemory)
	}
	// CPU: 0.2 + 0.3 + 0.4 = 0.9 s for 100 payments: 9 s per 1,000.
	if r.CPUPer1000 < 8.999 || r.CPUPer1000 > 9.001 {
		t.Fatalf("CPU per 1,000: %v", r.CPUPer1000)
	}
}
