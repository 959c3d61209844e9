package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/recon"
)

// TestReconPage: an operator sees a day's end-of-day report, balanced or
// not, and downloads it as CSV; anyone else is refused; a bad date is a
// clear error.
func TestReconPage(t *testing.T) {
	r, _ := newOpsRig(t)
	var asked time.Time
	day := recon.Day{Batches: []recon.Row{{Kind: "batch", BatchID: "B-20261207-1", Currency: "CNY", State: "written",
		Exported: recon.Figure{Count: 2, SumMinor: 257280101}, Settled: recon.Figure{Count: 2, SumMinor: 257280101}}}}
	r.c.cfg.Recon = func(_ context.Context, d time.Time) (recon.Day, error) {
		asked = d
		out := day
		out.Date = d
		return out, nil
	}
	_, cookies := r.signIn("olga", "good")
	page := text(t, r.do(http.MethodGet, "/ops/reconciliation?date=2026-12-07", nil, cookies))
	require.Equal(t, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), asked)
	for _, want := range []string{`id="ops-tab-reconciliation" aria-current="page"`, "2026-12-07 已平账", "B-20261207-1", "2,572,801.01", "合计", "文件已写出，未送达",
		`href="/ops/reconciliation.csv?date=2026-12-07"`} {
		require.Contains(t, page, want)
	}

	day.Unmatched = []recon.Row{{Kind: "unmatched", Currency: "CNY", Unmatched: recon.Figure{Count: 1, SumMinor: 4200}}}
	page = text(t, r.do(http.MethodGet, "/ops/reconciliation?date=2026-12-07", nil, cookies))
	require.Contains(t, page, "2026-12-07 未平账： 1 未匹配 (CNY 42.00)")
	require.NotContains(t, page, "1 unmatched", "the verdict in the page's language")
	page = text(t, r.do(http.MethodGet, "/ops/reconciliation?date=2026-12-07", nil,
		append(cookies, &http.Cookie{Name: "b2bpay_lang", Value: "en"})))
	require.Contains(t, page, "2026-12-07 NOT balanced: 1 Unmatched (CNY 42.00)")
	require.Contains(t, page, "file written, not delivered")

	resp := r.do(http.MethodGet, "/ops/reconciliation.csv?date=2026-12-07", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "reconciliation-2026-12-07.csv")
	csv := text(t, resp)
	require.True(t, strings.HasPrefix(csv, "date,kind,batch,"), csv)
	require.Contains(t, csv, "2026-12-07,total,,,CNY,,2,2572801.01,")
	require.Contains(t, csv, ",no\n")

	resp = r.do(http.MethodGet, "/ops/reconciliation?date=7.12.2026", nil, cookies)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, text(t, resp), "YYYY-MM-DD")

	_, rita := r.signIn("rita", "good")
	for _, u := range []string{"/ops/reconciliation", "/ops/reconciliation.csv"} {
		resp := r.do(http.MethodGet, u, nil, rita)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, u)
	}
}

// TestBatchStateWords: every state a batch row can hold reads in words in
// both languages; a state without words shows as it is stored.
func TestBatchStateWords(t *testing.T) {
	for _, s := range []string{"claimed", "written", "delivered", "delivery_failed", "acknowledged", "rejected", "superseded"} {
		for _, l := range []Lang{langZH, langEN} {
			words := l.BatchState(s)
			require.NotEqual(t, s, words, "%s in %v", s, l)
			require.NotContains(t, words, "ops.", "%s in %v", s, l)
		}
	}
	require.Equal(t, "file written, not delivered", langEN.BatchState("written"))
	require.Equal(t, "quarantined", langEN.BatchState("quarantined"))
}
