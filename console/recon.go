package console

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/recon"
)

// Reconciliation reads a settlement date's end-of-day report (the store's
// ReconDay); nil leaves the page off.
type Reconciliation func(ctx context.Context, day time.Time) (recon.Day, error)

func init() {
	funcs["split"] = strings.Fields
	// figures are a row's figures in the order of the page's columns.
	funcs["figures"] = func(r recon.Row) []recon.Figure {
		return []recon.Figure{r.Exported, r.Delivered, r.Acknowledged, r.Settled, r.Returned, r.Unanswered,
			r.NotBooked, r.Short, r.Duplicated, r.Conflict, r.Unmatched}
	}
	for k, v := range reconMessages {
		messages[k] = v
	}
}

// reconMessages are the reconciliation page's texts: key → {Chinese, English}.
var reconMessages = map[string][2]string{
	"ops.title.reconciliation": {"对账", "Reconciliation"},
	"ops.recon.off":            {"此控制台未开启对账页面。", "Reconciliation is not available on this console."},
	"ops.recon.baddate":        {"日期应为 YYYY-MM-DD。", "the date must be YYYY-MM-DD."},
	"ops.recon.date":           {"结算日期", "Settlement date"},
	"ops.recon.show":           {"查看", "Show"},
	"ops.recon.csv":            {"下载 CSV", "Download CSV"},
	"ops.recon.balanced":       {"%s 已平账：每笔导出的付款均已得到答复并由银行入账，每个条目均已匹配。", "%s balanced: every exported payment is answered and booked, every entry matched."},
	"ops.recon.unbalanced":     {"%s 未平账：", "%s NOT balanced:"},
	"ops.recon.empty":          {"该日没有批次，也没有未匹配的条目。", "No batch settles on that day and no entry is unmatched."},
	"ops.recon.exported":       {"已导出", "Exported"},
	"ops.recon.delivered":      {"已送达", "Delivered"},
	"ops.recon.acknowledged":   {"已确认", "Acknowledged"},
	"ops.recon.settled":        {"已结算", "Settled"},
	"ops.recon.returned":       {"已退回", "Returned"},
	"ops.recon.unanswered":     {"未答复", "Unanswered"},
	"ops.recon.notbooked":      {"银行未入账", "Not booked"},
	"ops.recon.short":          {"金额不符", "Short"},
	"ops.recon.duplicated":     {"重复", "Duplicated"},
	"ops.recon.conflict":       {"冲突", "Conflict"},
	"ops.recon.unmatched":      {"未匹配", "Unmatched"},
	"ops.recon.kind.total":     {"合计", "Total"},
	"ops.recon.kind.unmatched": {"无对应付款的条目", "Entries without a payment"},
}

// The reconciliation page of the operations area: the end-of-day report
// of a settlement date (?date=YYYY-MM-DD, today in the console's zone by
// default), per batch and per currency, with its verdict, and the same as
// CSV (/ops/reconciliation.csv?date=).
func (c *Console) routesRecon() {
	c.mux.HandleFunc("GET /ops/reconciliation", c.signedIn(c.operator(c.opsRecon(false))))
	c.mux.HandleFunc("GET /ops/reconciliation.csv", c.signedIn(c.operator(c.opsRecon(true))))
}

// reconData is the page's content.
type reconData struct {
	Date string
	Day  recon.Day
	// Rows are the batches, the unmatched entries and the totals.
	Rows []recon.Row
}

func (c *Console) opsRecon(asCSV bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := langOf(r)
		if c.cfg.Recon == nil {
			c.fail(w, r, http.StatusNotFound, l.T("ops.recon.off"))
			return
		}
		day := c.cfg.Now().In(c.cfg.Location)
		day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		if s := r.URL.Query().Get("date"); s != "" {
			d, err := time.Parse(time.DateOnly, s)
			if err != nil {
				c.fail(w, r, http.StatusBadRequest, l.T("err.input")+l.T("ops.recon.baddate"))
				return
			}
			day = d
		}
		d, err := c.cfg.Recon(r.Context(), day)
		if err != nil {
			c.cfg.Logger.Error("console: operations read", "part", "reconciliation", "path", r.URL.Path, "error", err)
			c.fail(w, r, http.StatusBadGateway, l.T("err.internal"))
			return
		}
		date := day.Format(time.DateOnly)
		if asCSV {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "reconciliation-" + date + ".csv"}))
			if err := recon.WriteCSV(w, d); err != nil {
				c.cfg.Logger.Error("console: reconciliation CSV", "error", err)
			}
			return
		}
		rows := append(append(append([]recon.Row(nil), d.Batches...), d.Unmatched...), d.Totals()...)
		c.render(w, r, http.StatusOK, "ops", c.opsView(r, "reconciliation", &opsData{Tab: "reconciliation",
			Recon: &reconData{Date: date, Day: d, Rows: rows}}))
	}
}
