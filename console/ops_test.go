package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
)

// fakeOps is the operations read side with fixed data; calls counts the
// reads that reached it.
type fakeOps struct {
	calls     int
	queuesErr error
}

var (
	opsT0       = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	opsFile     = []byte(`<?xml version="1.0"?><Document>pacs.008</Document>`)
	opsManifest = []byte(`{"count":2}`)
)

func (f *fakeOps) Cutoffs(context.Context) (ops.CutoffsView, error) {
	f.calls++
	return ops.CutoffsView{Specs: []string{"0 10 * * *"}, Zone: "Asia/Shanghai", Calendar: "CN", Now: opsT0, Next: opsT0.Add(24 * time.Hour),
		Runs: []ops.CutoffRunView{
			{CutoffRun: ops.CutoffRun{CutoffAt: opsT0, StartedAt: opsT0, FinishedAt: opsT0.Add(time.Second), Kind: "manual", Runner: "host/42", Batches: 1, Payments: 2}, Result: ops.RunFinished},
			{CutoffRun: ops.CutoffRun{CutoffAt: opsT0.Add(-24 * time.Hour), StartedAt: opsT0.Add(-24 * time.Hour), Kind: "scheduled", Batches: 1, Payments: 1, Unwritten: 1}, Result: ops.RunUnfinished},
		},
		Missed: []time.Time{opsT0.Add(-72 * time.Hour)}, MissedMore: 3, Grace: 5 * time.Minute}, nil
}

func (f *fakeOps) Batches(_ context.Context, n int) ([]ops.BatchView, error) {
	f.calls++
	return []ops.BatchView{{ID: "B-20261207-1", CutoffAt: opsT0, BusinessDate: calendar.DateOf(opsT0, time.UTC), SettlementDate: calendar.DateOf(opsT0, time.UTC),
		FileName: "B-20261207-1.pacs.008.001.08.xml", Manifest: "B-20261207-1.pacs.008.001.08.xml.manifest.json", SHA256: strings.Repeat("ab", 32),
		Payments: 2, Sums: []ops.Amount{{Minor: 257280101, Currency: "CNY"}}, State: ops.BatchWritten,
		States: map[payment.State]int{payment.StateExported: 2}, Bank: "104100000004", Format: "pacs.008.001.08"}}, nil
}

func (f *fakeOps) BatchFile(_ context.Context, id string) (string, []byte, []byte, error) {
	f.calls++
	switch id {
	case "B-20261207-1":
		return "B-20261207-1.pacs.008.001.08.xml", opsFile, opsManifest, nil
	case "B-claimed":
		return "", nil, nil, fmt.Errorf("batch %s: %w", id, ops.ErrNotWritten)
	case "B-broken":
		return "", nil, nil, errors.New("file is not the one written")
	}
	return "", nil, nil, fmt.Errorf("batch %s: %w", id, payment.ErrNotFound)
}

func (f *fakeOps) Reports(context.Context, int) ([]ops.ReportView, error) {
	f.calls++
	return []ops.ReportView{{SHA256: strings.Repeat("cd", 32), FileName: "pacs002-0001.xml", MessageID: "CNAPS-STS-0001", Outcome: "quarantined",
		Reason: "names batch B-nowhere that b2bpay never wrote", ReceivedAt: opsT0}}, nil
}

func (f *fakeOps) DeadLetters(context.Context, int) ([]ops.DeadLetterView, error) {
	f.calls++
	return []ops.DeadLetterView{{Source: ops.DeadRejected, Key: "k-1", Code: "malformed", Reason: "not JSON", ReceivedAt: opsT0,
		Excerpt: `<script>alert(1)</script>…`, BodyBytes: 9000, Clipped: true}}, nil
}

func (f *fakeOps) Queues(context.Context) ([]ops.QueueDepth, error) {
	f.calls++
	if f.queuesErr != nil {
		return nil, f.queuesErr
	}
	return []ops.QueueDepth{{Name: "b2bpay.intake", Messages: 7, Consumers: 2}, {Name: "b2bpay.status.gone", Missing: true}}, nil
}

func (f *fakeOps) Outbox(context.Context) (ops.OutboxView, error) {
	f.calls++
	return ops.OutboxView{Pending: 12, OldestAge: 93 * time.Second, Failing: 1, FailingShown: []ops.OutboxMessage{{ID: 1, MessageID: "m-1",
		Exchange: "b2bpay.status", RoutingKey: "erp", Attempts: 4, LastError: "unroutable", CreatedAt: opsT0}}}, nil
}

// newOpsRig is the rig with the operations area on: olga is an operator,
// rita a reviewer.
func newOpsRig(t *testing.T) (*rig, *fakeOps) {
	r := &rig{t: t, api: &fakeAPI{}, now: time.Now()}
	f := &fakeOps{}
	people := map[string]payment.User{
		"olga": {ID: "olga", CustomerID: "C1", Roles: []payment.Role{payment.RoleOperator}, Active: true},
		"rita": {ID: "rita", CustomerID: "C1", Roles: []payment.Role{payment.RoleReviewer}, Active: true},
	}
	c, err := New(Config{API: r.api, CookieKey: make([]byte, 32), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return r.now }, Ops: f, Location: time.FixedZone("CST", 8*3600),
		People: func(_ context.Context, id string) (payment.User, error) {
			u, ok := people[id]
			if !ok {
				return payment.User{}, payment.ErrNotFound
			}
			return u, nil
		}})
	require.NoError(t, err)
	r.c = c
	return r, f
}

var opsURLs = []string{"/ops", "/ops/batches", "/ops/reports", "/ops/dead-letters",
	"/ops/batches/B-20261207-1/file", "/ops/batches/B-20261207-1/manifest"}

func TestOpsPagesRefuseAnyoneButOperators(t *testing.T) {
	r, f := newOpsRig(t)
	_, cookies := r.signIn("rita", "good")
	for _, u := range append(opsURLs, "/ops?n=abc", "/ops/batches/..%2f..%2fetc/file") {
		resp := r.do(http.MethodGet, u, nil, cookies)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, u)
		body := text(t, resp)
		require.Contains(t, body, "您没有访问此页面的权限", u)
		require.Empty(t, resp.Header.Get("Content-Disposition"), u)
		require.NotContains(t, body, "pacs.008", u)
	}
	require.Zero(t, f.calls, "the service was never asked")
	inbox := text(t, r.do(http.MethodGet, "/", nil, cookies))
	require.NotContains(t, inbox, `href="/ops"`, "no link for a reviewer")

	// Signed out: the sign-in page, not the data.
	resp := r.do(http.MethodGet, "/ops/batches", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login", resp.Header.Get("Location"))

	// An operator of a console without the operations area is refused too.
	r2, _ := newOpsRig(t)
	r2.c.cfg.Ops = nil
	_, cookies = r2.signIn("olga", "good")
	resp = r2.do(http.MethodGet, "/ops", nil, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestOpsPagesShowAnOperatorTheData(t *testing.T) {
	r, _ := newOpsRig(t)
	_, cookies := r.signIn("olga", "good")

	resp := r.do(http.MethodGet, "/ops", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := text(t, resp)
	require.Contains(t, page, `href="/ops" aria-current="page"`, "the nav link, current")
	for _, want := range []string{"运营概览", "<code>0 10 * * *</code>", "Asia/Shanghai",
		"2026-12-08 10:00:00",                                                 // next cutoff, in the console's zone
		`id="ops-missed"`, "有 1 次计划截止未运行", "2026-12-04 10:00:00", "另有 3 次未列出", // missed, highlighted
		"手动", "完成", "未完成", "1 个文件未写出", "host/42",
		"b2bpay.intake", ">7<", "队列不存在", // queues
		`id="ops-pending">12<`, "1m33s", `class="bad">1<`, "unroutable"} { // outbox
		require.Contains(t, page, want)
	}

	page = text(t, r.do(http.MethodGet, "/ops/batches", nil, cookies))
	for _, want := range []string{"B-20261207-1", "2026-12-07", "B-20261207-1.pacs.008.001.08.xml", "2,572,801.01 CNY", "文件已写出", "已出文件 2",
		`href="/ops/batches/B-20261207-1/file"`, `href="/ops/batches/B-20261207-1/manifest"`, "SHA-256 abababababababab…"} {
		require.Contains(t, page, want)
	}

	page = text(t, r.do(http.MethodGet, "/ops/reports", nil, cookies))
	require.Contains(t, page, "pacs002-0001.xml")
	require.Contains(t, page, "已隔离")
	require.Contains(t, page, "names batch B-nowhere that b2bpay never wrote")

	page = text(t, r.do(http.MethodGet, "/ops/dead-letters", nil, cookies))
	require.Contains(t, page, "无法读取")
	require.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;…", "the excerpt escaped")
	require.NotContains(t, page, "<script>alert")
	require.Contains(t, page, "共 9000 字节 · 已截断")

	// In English.
	lang := r.do(http.MethodGet, "/lang/en?back=/ops", nil, nil)
	page = text(t, r.do(http.MethodGet, "/ops/batches", nil, append(cookies, lang.Cookies()...)))
	require.Contains(t, page, "Batches and files")
	require.Contains(t, page, "file written")
}

func TestOpsOverviewShowsWhatItCanRead(t *testing.T) {
	r, f := newOpsRig(t)
	f.queuesErr = errors.New("broker down")
	_, cookies := r.signIn("olga", "good")
	resp := r.do(http.MethodGet, "/ops", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := text(t, resp)
	require.Contains(t, page, `id="ops-queues-error"`)
	require.NotContains(t, page, "broker down", "the error is logged, not shown")
	require.Contains(t, page, "host/42", "the cutoffs still shown")
	require.Contains(t, page, `id="ops-pending">12<`, "the outbox still shown")
}

func TestOpsDownloadsAndBadInput(t *testing.T) {
	r, _ := newOpsRig(t)
	_, cookies := r.signIn("olga", "good")

	resp := r.do(http.MethodGet, "/ops/batches/B-20261207-1/file", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/xml", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=B-20261207-1.pacs.008.001.08.xml`, resp.Header.Get("Content-Disposition"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, string(opsFile), text(t, resp))

	resp = r.do(http.MethodGet, "/ops/batches/B-20261207-1/manifest", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=B-20261207-1.pacs.008.001.08.xml.manifest.json`, resp.Header.Get("Content-Disposition"))
	require.Equal(t, string(opsManifest), text(t, resp))

	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/ops/batches/B-claimed/file", http.StatusConflict, "该批次的文件尚未写出"},
		{"/ops/batches/B-nowhere/manifest", http.StatusNotFound, "未找到该批次"},
		{"/ops/batches/B-broken/file", http.StatusBadGateway, "无法读取该批次的文件"},
		{"/ops/batches/..%2F..%2Fetc%2Fpasswd/file", http.StatusBadRequest, "批次编号格式不正确"},
		{"/ops/batches/" + strings.Repeat("x", 101) + "/file", http.StatusBadRequest, "批次编号格式不正确"},
		{"/ops/batches?n=abc", http.StatusBadRequest, "n must be a whole number from 1 to 500"},
		{"/ops/reports?n=0", http.StatusBadRequest, "输入有误"},
		{"/ops/dead-letters?n=501", http.StatusBadRequest, "输入有误"},
	} {
		resp := r.do(http.MethodGet, c.path, nil, cookies)
		require.Equal(t, c.status, resp.StatusCode, c.path)
		require.Empty(t, resp.Header.Get("Content-Disposition"), c.path)
		require.Contains(t, text(t, resp), c.says, c.path)
	}
	resp = r.do(http.MethodGet, "/ops/batches?n=1", nil, cookies)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, text(t, resp), "最多显示最新的 1 条")
}
