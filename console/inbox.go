package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/staff"
)

// My work: the payments waiting for the person at each stage they hold a
// role for, most urgent first (the API's task list), counts polled live,
// and many approved or rejected with one one-time password.

const (
	// listMax is how many tasks of a stage the inbox shows (and counts:
	// more shows as "200+").
	listMax = 200
	// maxBatchIDs is the most payments one form may send.
	maxBatchIDs = staff.DefaultBatchLimit
)

type stageTab struct {
	Stage  payment.Stage
	Count  int
	More   bool
	Active bool
}

type inboxData struct {
	Stage  payment.Stage
	Tabs   []stageTab
	Tasks  []staff.TaskItem
	More   bool
	Limit  int
	Verify bool
}

// stagesOf are the stages the person may decide: their roles', or all
// three when the console cannot read roles.
func (c *Console) stagesOf(r *http.Request) []payment.Stage {
	all := []payment.Stage{payment.StageConfirmation, payment.StageReview, payment.StageAuthorization}
	if c.cfg.People == nil {
		return all
	}
	u, err := c.cfg.People(r.Context(), sessionFrom(r.Context()).UserID)
	if err != nil {
		return all
	}
	var out []payment.Stage
	for _, s := range all {
		if u.Has(s.Role()) {
			out = append(out, s)
		}
	}
	return out
}

// inbox shows the person's tasks at the chosen stage and every stage's
// count.
func (c *Console) inbox(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	s := sessionFrom(r.Context())
	stages := c.stagesOf(r)
	d := inboxData{Limit: listMax}
	want := payment.Stage(r.URL.Query().Get("stage"))
	var lists = map[payment.Stage][]staff.TaskItem{}
	for _, st := range stages {
		tasks, err := staff.ListTasks(r.Context(), c.base, s.Session, st, listMax+1)
		if err != nil {
			c.apiFail(w, r, err)
			return
		}
		lists[st] = tasks
		d.Tabs = append(d.Tabs, stageTab{Stage: st, Count: min(len(tasks), listMax), More: len(tasks) > listMax})
	}
	if !slices.Contains(stages, want) {
		want = ""
		for _, t := range d.Tabs {
			if t.Count > 0 {
				want = t.Stage
				break
			}
		}
		if want == "" && len(stages) > 0 {
			want = stages[0]
		}
	}
	for i := range d.Tabs {
		d.Tabs[i].Active = d.Tabs[i].Stage == want
	}
	d.Stage = want
	d.Tasks = lists[want]
	if len(d.Tasks) > listMax {
		d.Tasks, d.More = d.Tasks[:listMax], true
	}
	c.render(w, r, http.StatusOK, "inbox", view{Title: l.T("inbox.title"), Nav: "inbox", Data: d})
}

// counts answers the live counts of the inbox: {"review": 12, ...}, with
// "200+" past the shown maximum.
func (c *Console) counts(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	out := map[string]string{}
	for _, st := range c.stagesOf(r) {
		tasks, err := staff.ListTasks(r.Context(), c.base, s.Session, st, listMax+1)
		if err != nil {
			var ae *staff.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				http.Error(w, "sign in again", http.StatusUnauthorized)
				return
			}
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		n := fmt.Sprint(min(len(tasks), listMax))
		if len(tasks) > listMax {
			n += "+"
		}
		out[string(st)] = n
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

type batchData struct {
	Stage      payment.Stage
	Verdict    payment.Verdict
	Cands      []staff.Candidate
	IDs        []string
	Count      int
	Totals     []approval.Total
	Digest     string
	NeedsOTP   bool
	Reason     string
	Authorized map[string]string
}

// batchForm reads the stage, verdict and payment ids of a batch form.
func batchForm(r *http.Request) (payment.Stage, payment.Verdict, []string, error) {
	stage := payment.Stage(r.PostFormValue("stage"))
	verdict := payment.Verdict(r.PostFormValue("verdict"))
	if !stage.Valid() {
		return "", "", nil, errors.New("stage")
	}
	if verdict != payment.VerdictApprove && verdict != payment.VerdictReject {
		return "", "", nil, errors.New("verdict")
	}
	var ids []string
	for _, id := range r.PostForm["id"] {
		id = strings.TrimSpace(id)
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > maxBatchIDs {
		return "", "", nil, fmt.Errorf("at most %d payments", maxBatchIDs)
	}
	return stage, verdict, ids, nil
}

// prepare reads each payment named through the API, as the task of the
// stage would show it (its digest checked against its content), and sums
// the batch.
func (c *Console) prepare(r *http.Request, stage payment.Stage, verdict payment.Verdict, ids []string) (batchData, error) {
	s := sessionFrom(r.Context())
	client := &staff.Client{API: c.base, Conn: c.cfg.Broker, Session: s.Session, Out: io.Discard}
	cands, _, err := staff.QueueCandidates(r.Context(), client, stage, staff.Selection{IDs: ids})
	if err != nil {
		return batchData{}, err
	}
	items := make([]approval.BatchItem, len(cands))
	for i, cand := range cands {
		if items[i], err = cand.Item(); err != nil {
			return batchData{}, err
		}
	}
	count, totals, digest, err := approval.Summarize(stage, verdict, items)
	if err != nil {
		return batchData{}, err
	}
	return batchData{Stage: stage, Verdict: verdict, Cands: cands, IDs: ids, Count: count, Totals: totals, Digest: digest,
		NeedsOTP: payment.NeedsOTP(stage, verdict)}, nil
}

// batchPreview shows what the person is about to sign: each payment, the
// count, the totals per currency and the batch digest beside the OTP
// field.
func (c *Console) batchPreview(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	stage, verdict, ids, err := batchForm(r)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, l.T("err.input")+err.Error())
		return
	}
	if len(ids) == 0 {
		c.fail(w, r, http.StatusBadRequest, l.T("batch.none"))
		return
	}
	d, err := c.prepare(r, stage, verdict, ids)
	if err != nil {
		c.apiFail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "batch", view{Title: l.T("batch.title"), Nav: "inbox", Data: d})
}

// batchDecide sends the batch decision, but only when the payments still
// sum to the batch digest the person was shown: they never sign what the
// page did not show them.
func (c *Console) batchDecide(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	s := sessionFrom(r.Context())
	stage, verdict, ids, err := batchForm(r)
	if err != nil || len(ids) == 0 {
		c.fail(w, r, http.StatusBadRequest, l.T("batch.none"))
		return
	}
	d, err := c.prepare(r, stage, verdict, ids)
	if err != nil {
		c.apiFail(w, r, err)
		return
	}
	d.Reason = clip(strings.TrimSpace(r.PostFormValue("reason")), 256)
	if !tokenEqual(r.PostFormValue("digest"), d.Digest) {
		c.render(w, r, http.StatusConflict, "batch", view{Title: l.T("batch.title"), Nav: "inbox", Error: l.T("batch.changed"), Data: d})
		return
	}
	if verdict == payment.VerdictReject && d.Reason == "" {
		c.render(w, r, http.StatusBadRequest, "batch", view{Title: l.T("batch.title"), Nav: "inbox", Error: l.Code(string(payment.CodeReasonRequired)), Data: d})
		return
	}
	items := make([]approval.BatchItem, len(d.Cands))
	for i, cand := range d.Cands {
		items[i], _ = cand.Item()
	}
	bd := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: staff.NewDecisionID(), Token: s.Token, Stage: stage,
		Verdict: verdict, Reason: d.Reason, OTP: strings.TrimSpace(r.PostFormValue("otp")), Items: items, Count: d.Count,
		Totals: d.Totals, BatchDigest: d.Digest}
	client := &staff.Client{API: c.base, Conn: c.cfg.Broker, Session: s.Session, Out: io.Discard}
	res, err := staff.SendBatch(r.Context(), client, bd, c.cfg.DecisionWait)
	if err != nil {
		c.cfg.Logger.Error("console: batch decision", "user_id", s.UserID, "decision_id", bd.DecisionID, "error", err)
		c.fail(w, r, http.StatusGatewayTimeout, l.Code("timeout"))
		return
	}
	c.render(w, r, http.StatusOK, "result", view{Title: l.T("batch.result"), Nav: "inbox", Data: resultData{Batch: res, Cands: d.Cands}})
}

type resultData struct {
	Batch approval.BatchResult
	Cands []staff.Candidate
}

// Task is the candidate of a payment id, for the result page.
func (d resultData) Task(id string) route.Task {
	for _, c := range d.Cands {
		if c.Task.PaymentID == id {
			return c.Task
		}
	}
	return route.Task{PaymentID: id}
}

// apiFail shows an API error in the person's words: a session the API no
// longer knows goes back to sign-in; a payment of another customer is
// simply not found.
func (c *Console) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	l := langOf(r)
	var ae *staff.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		c.setCookie(w, "session", "", timeZero, -1)
		c.toLogin(w, r, "revoked")
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		c.fail(w, r, http.StatusNotFound, l.T("err.notfound"))
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		c.fail(w, r, http.StatusBadRequest, l.T("err.input")+ae.Message)
	case errors.Is(err, staff.ErrNotWaiting):
		c.fail(w, r, http.StatusConflict, l.T("pay.notyours"))
	default:
		c.cfg.Logger.Error("console: API call", "path", r.URL.Path, "error", err)
		c.fail(w, r, http.StatusBadGateway, l.T("err.internal"))
	}
}
