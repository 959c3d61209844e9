package console

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
)

// Operations is the operations area's read side; *ops.Service implements
// it.
type Operations interface {
	Cutoffs(ctx context.Context) (ops.CutoffsView, error)
	Batches(ctx context.Context, n int) ([]ops.BatchView, error)
	BatchFile(ctx context.Context, id string) (name string, body, manifest []byte, err error)
	Reports(ctx context.Context, n int) ([]ops.ReportView, error)
	DeadLetters(ctx context.Context, n int) ([]ops.DeadLetterView, error)
	Queues(ctx context.Context) ([]ops.QueueDepth, error)
	Outbox(ctx context.Context) (ops.OutboxView, error)
}

var _ Operations = (*ops.Service)(nil)

// The operations area (role operator, checked on every request): an
// overview (cutoffs, queues, outbox), the batches and their files, the
// status reports, the dead letters. Everything shown comes from
// Operations; nothing here writes.

// batchIDRe is what a batch id may look like; anything else is refused
// before the service sees it (which looks it up, never uses it as a path).
var batchIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)

func (c *Console) routesOps() {
	c.mux.HandleFunc("GET /ops", c.signedIn(c.operator(c.opsOverview)))
	c.mux.HandleFunc("GET /ops/batches", c.signedIn(c.operator(c.opsBatches)))
	c.mux.HandleFunc("GET /ops/batches/{id}/file", c.signedIn(c.operator(c.opsDownload(false))))
	c.mux.HandleFunc("GET /ops/batches/{id}/manifest", c.signedIn(c.operator(c.opsDownload(true))))
	c.mux.HandleFunc("GET /ops/reports", c.signedIn(c.operator(c.opsReports)))
	c.mux.HandleFunc("GET /ops/dead-letters", c.signedIn(c.operator(c.opsDeadLetters)))
	c.routesRecon()
}

// operator lets only the bank's operations staff through: anyone else
// gets 403 whatever the URL.
func (c *Console) operator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.mayOps(r) {
			c.cfg.Logger.Warn("console: operations page refused", "path", r.URL.Path, "user", sessionFrom(r.Context()).UserID)
			c.fail(w, r, http.StatusForbidden, langOf(r).T("err.role"))
			return
		}
		next(w, r)
	}
}

// opsData is what every operations page gets: which tab it is and its
// content.
type opsData struct {
	Tab string
	// Overview
	Cutoffs   ops.CutoffsView
	Queues    []ops.QueueDepth
	Outbox    ops.OutboxView
	CutoffErr string
	QueuesErr string
	OutboxErr string
	// Lists
	Batches     []ops.BatchView
	Reports     []ops.ReportView
	DeadLetters []ops.DeadLetterView
	Limit       int
	// Reconciliation
	Recon *reconData
}

// Age is a duration to the second, for the outbox's oldest message.
func (opsData) Age(d time.Duration) string { return d.Round(time.Second).String() }

// Sorted lists a batch's payment states in a fixed order with their counts.
func (opsData) Sorted(m map[payment.State]int) []stateCount {
	var out []stateCount
	for _, s := range payment.States {
		if n := m[s]; n > 0 {
			out = append(out, stateCount{State: s, N: n})
		}
	}
	return out
}

type stateCount struct {
	State payment.State
	N     int
}

func (c *Console) opsView(r *http.Request, tab string, d *opsData) view {
	return view{Title: langOf(r).T("ops.title." + tab), Nav: "ops", Data: d}
}

// opsOverview shows the cutoffs, the queues and the outbox; a part that
// cannot be read says so and the others are still shown.
func (c *Console) opsOverview(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	d := &opsData{Tab: "overview"}
	ctx := r.Context()
	var err error
	if d.Cutoffs, err = c.cfg.Ops.Cutoffs(ctx); err != nil {
		d.CutoffErr = c.opsPartFailed(r, "cutoffs", err, l)
	}
	if d.Queues, err = c.cfg.Ops.Queues(ctx); err != nil {
		d.QueuesErr = c.opsPartFailed(r, "queues", err, l)
	}
	if d.Outbox, err = c.cfg.Ops.Outbox(ctx); err != nil {
		d.OutboxErr = c.opsPartFailed(r, "outbox", err, l)
	}
	c.render(w, r, http.StatusOK, "ops", c.opsView(r, "overview", d))
}

func (c *Console) opsPartFailed(r *http.Request, part string, err error, l Lang) string {
	c.cfg.Logger.Error("console: operations read", "part", part, "path", r.URL.Path, "error", err)
	return l.T("ops.unavailable")
}

// listLimit reads ?n= (1 to ops.MaxLimit; ops.DefaultLimit when absent).
func listLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("n")
	if s == "" {
		return ops.DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > ops.MaxLimit {
		return 0, fmt.Errorf("n must be a whole number from 1 to %d", ops.MaxLimit)
	}
	return n, nil
}

// opsList serves a list page: read fills d with at most n rows.
func (c *Console) opsList(w http.ResponseWriter, r *http.Request, tab string, read func(ctx context.Context, n int, d *opsData) error) {
	l := langOf(r)
	n, err := listLimit(r)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, l.T("err.input")+err.Error())
		return
	}
	d := &opsData{Tab: tab, Limit: n}
	if err := read(r.Context(), n, d); err != nil {
		c.cfg.Logger.Error("console: operations read", "part", tab, "path", r.URL.Path, "error", err)
		c.fail(w, r, http.StatusBadGateway, l.T("err.internal"))
		return
	}
	c.render(w, r, http.StatusOK, "ops", c.opsView(r, tab, d))
}

func (c *Console) opsBatches(w http.ResponseWriter, r *http.Request) {
	c.opsList(w, r, "batches", func(ctx context.Context, n int, d *opsData) (err error) {
		d.Batches, err = c.cfg.Ops.Batches(ctx, n)
		return err
	})
}

func (c *Console) opsReports(w http.ResponseWriter, r *http.Request) {
	c.opsList(w, r, "reports", func(ctx context.Context, n int, d *opsData) (err error) {
		d.Reports, err = c.cfg.Ops.Reports(ctx, n)
		return err
	})
}

func (c *Console) opsDeadLetters(w http.ResponseWriter, r *http.Request) {
	c.opsList(w, r, "deadletters", func(ctx context.Context, n int, d *opsData) (err error) {
		d.DeadLetters, err = c.cfg.Ops.DeadLetters(ctx, n)
		return err
	})
}

// opsDownload sends a written batch's file (or its manifest) as an
// attachment. The id only names the batch; the service reads the file the
// batch recorded and checks its SHA-256.
func (c *Console) opsDownload(manifest bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := langOf(r)
		id := r.PathValue("id")
		if !batchIDRe.MatchString(id) {
			c.fail(w, r, http.StatusBadRequest, l.T("err.input")+l.T("ops.badid"))
			return
		}
		name, body, man, err := c.cfg.Ops.BatchFile(r.Context(), id)
		switch {
		case errors.Is(err, payment.ErrNotFound):
			c.fail(w, r, http.StatusNotFound, l.T("ops.nobatch"))
			return
		case errors.Is(err, ops.ErrNotWritten):
			c.fail(w, r, http.StatusConflict, l.T("ops.notwritten"))
			return
		case err != nil:
			c.cfg.Logger.Error("console: batch file", "batch", id, "error", err)
			c.fail(w, r, http.StatusBadGateway, l.T("ops.filefailed"))
			return
		}
		ctype := "application/octet-stream"
		if strings.HasSuffix(strings.ToLower(name), ".xml") {
			ctype = "application/xml"
		}
		if manifest {
			name, body, ctype = export.ManifestName(name), man, "application/json"
		}
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		c.cfg.Logger.Info("console: batch file downloaded", "batch", id, "file", name, "user", sessionFrom(r.Context()).UserID)
		_, _ = w.Write(body)
	}
}
