package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecurityMetricsApart: /metrics is not on the API port that clients
// reach (there it is a 404 like any unknown route), but on its own
// address. That a scrape is cheap is TestSecurityMetricsCheap (server).
func TestSecurityMetricsApart(t *testing.T) {
	e := newEnv(t)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, _ := get("http://" + e.apiAddr + "/metrics")
	require.Equal(t, http.StatusNotFound, status, "no metrics on the API port")
	status, body := get("http://" + e.metricsAddr + "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "b2bpay_outbox_pending")
}
