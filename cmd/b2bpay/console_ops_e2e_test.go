package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit/browser"
)

// TestConsoleOperationsInChromium: serve with the export's settings (the
// cn calendar, a cutoff at 10:00 Shanghai) and the console's operations
// area; two authorized payments, a manual cutoff run writes their file;
// an operator sees the run on the overview and the batch on the batches
// page in chromium, and the file and manifest downloaded through a
// console session are the bytes on disk. A reviewer gets 403 and no link.
func TestConsoleOperationsInChromium(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	outbound := t.TempDir()
	ec, err := server.LoadExport(server.ExportSettings{Outbound: outbound, Inbound: t.TempDir(), Cutoffs: "0 10 * * *",
		Calendar: "cn", MaxPerFile: 100}, shanghai())
	require.NoError(t, err)
	e.halt()
	e.ops, err = e.app.Operations(ec)
	require.NoError(t, err)
	e.start()

	today := time.Now().In(shanghai()).Format(payment.DateLayout)
	ids := e.authorized(t, time.Now().Add(-time.Hour), today, "ops-1", "ops-2")
	var out bytes.Buffer
	require.NoError(t, e.app.CutoffRun(ctx, &out, ec, time.Time{}, false))
	require.Contains(t, out.String(), ": 2 payments in 1 files\n")
	for _, id := range ids {
		require.Equal(t, payment.StateExported, e.payment(t, id).State)
	}
	bs, err := e.app.Store.BatchList(ctx, 10)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	batch := bs[0]

	e.person(t, "olga", "C1", payment.RoleOperator)
	e.person(t, "rita", "C1", payment.RoleReviewer)
	base := "http://" + e.consoleAddr
	b := browser.New(t)

	// The operator: the overview shows the run, the batches page the batch.
	signInAs(t, b, base, "olga")
	require.True(t, b.Exists("header nav a[href='/ops']"), "the operations link for an operator")
	b.Click("header nav a[href='/ops']")
	require.Equal(t, "运营概览", b.Text("h1"))
	require.Contains(t, b.Text("#ops-specs"), "0 10 * * *")
	require.NotEmpty(t, b.Text("#ops-next"))
	runs := b.Text("#ops-runs tbody tr:first-child")
	require.Contains(t, runs, "手动")
	require.Contains(t, runs, "完成")
	require.Contains(t, b.Text("#ops-queues"), "b2bpay.intake")
	require.Regexp(t, `^\d+$`, b.Text("#ops-pending"))
	b.Shot("20-ops-overview")

	b.Click("#ops-link-batches")
	require.Equal(t, "批次与文件", b.Text("h1"))
	row := b.Text("#batch-" + batch.ID)
	require.Contains(t, row, batch.FileName)
	require.Contains(t, row, "2,572,801.00 CNY", "the sum of both, grouped")
	require.Contains(t, row, "文件已写出")
	require.Contains(t, row, "已出文件 2")
	require.True(t, b.Exists("#batch-"+batch.ID+" a.dl-file[href='/ops/batches/"+batch.ID+"/file']"))
	b.Shot("21-ops-batches")

	// A payment authorized after that cutoff: its page names the cutoff
	// that will take it and the settlement date, a business day (today is
	// maybe a Sunday or a holiday) on or after its execution date, at 10:00.
	late := e.authorized(t, time.Now(), today, "ops-3")[0]
	b.Go(base + "/payments/" + late)
	settles := b.Text("#payment-settlement")
	d, err := calendar.ParseDate(settles)
	require.NoError(t, err)
	require.True(t, calendar.China().IsBusinessDay(d), "settles on a business day: %s", settles)
	require.False(t, settles < today, "settles on or after the execution date %s: %s", today, settles)
	require.Equal(t, settles+" 10:00:00", b.Text("#payment-cutoff"))
	// The fixture moved it to authorized without its decisions or
	// timeline entries: the chain check on the page says so.
	require.Contains(t, b.Text("#chain"), "state_mismatch")
	b.Shot("22-payment-cutoff")
	// The end-of-day reconciliation of the batch's settlement date: its two
	// payments exported and not answered yet, so the day does not balance.
	b.Go(base + "/ops/reconciliation?date=" + batch.SettlementDate.Format(payment.DateLayout))
	require.Contains(t, b.Text("#recon-table"), batch.ID)
	require.Contains(t, b.Text("#recon-verdict"), batch.SettlementDate.Format(payment.DateLayout))
	b.Shot("23-ops-reconciliation")
	b.Go(base + "/ops/batches")
	b.Click("#ops-tab-reports")
	require.True(t, b.Exists("#ops-no-reports"))
	b.Click("#ops-tab-deadletters")
	require.True(t, b.Exists("#ops-no-deadletters") || b.Exists("#ops-deadletters"))
	require.Empty(t, b.Errors(), "no console errors or CSP violations")

	// The download through a console session: the bytes on disk.
	olga := e.consoleClient(t, "olga")
	onDisk, err := os.ReadFile(filepath.Join(outbound, batch.FileName))
	require.NoError(t, err)
	resp, got := olga.get("/ops/batches/" + batch.ID + "/file")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/xml", resp.Header.Get("Content-Type"))
	require.Equal(t, "attachment; filename="+batch.FileName, resp.Header.Get("Content-Disposition"))
	require.Equal(t, string(onDisk), got)
	manifest, err := os.ReadFile(filepath.Join(outbound, batch.FileName+".manifest.json"))
	require.NoError(t, err)
	resp, got = olga.get("/ops/batches/" + batch.ID + "/manifest")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, string(manifest), got)
	resp, _ = olga.get("/ops/batches/no-such-batch/file")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A reviewer: no link, 403 on every operations URL.
	signOut(b)
	signInAs(t, b, base, "rita")
	require.False(t, b.Exists("header nav a[href='/ops']"), "no operations link for a reviewer")
	b.Go(base + "/ops")
	require.Contains(t, b.Text("#error"), "您没有访问此页面的权限")
	rita := e.consoleClient(t, "rita")
	for _, u := range []string{"/ops", "/ops/batches", "/ops/reports", "/ops/dead-letters",
		"/ops/batches/" + batch.ID + "/file", "/ops/batches/" + batch.ID + "/manifest"} {
		resp, page := rita.get(u)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, u)
		require.Empty(t, resp.Header.Get("Content-Disposition"), u)
		require.NotContains(t, page, batch.FileName, u)
	}
}
