package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// probeTimeout bounds the readiness probe's database ping.
const probeTimeout = 2 * time.Second

// listenMetrics serves on addr ("" for none), an address of its own that
// operators' scrapers and Kubernetes reach and the API's clients do not:
// /metrics, /healthz (the process is up) and /readyz (the database
// answers and, when broker is set, the broker connection is open).
func (a *App) listenMetrics(addr string, m *Metrics, broker bool) (*http.Server, string, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { probeAnswer(w, "") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { probeAnswer(w, a.notReady(r.Context(), broker)) })
	return a.serveHTTP("metrics", addr, mux)
}

// notReady is why the process is not ready, "" when it is.
func (a *App) notReady(ctx context.Context, broker bool) string {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := a.Pool.Ping(ctx); err != nil {
		return "database: " + oneLine(err.Error())
	}
	if broker && (a.Conn == nil || !a.Conn.IsOpen()) {
		return "broker: connection not open"
	}
	return ""
}

// probeAnswer writes 200 "ok", or 503 and the reason on one line.
func probeAnswer(w http.ResponseWriter, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + reason))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// oneLine keeps the first line of s, at most 200 bytes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
