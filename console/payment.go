package console

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/staff"
)

// The payment page: its content and the digest that will be approved, who
// applied, confirmed, reviewed and authorized it and when ("1 of 2"), the
// cutoff it will make and its settlement date, its timeline with the
// chain check, and approve / reject with a reason when it waits for the
// person.

type step struct {
	By string
	At time.Time
}

type paymentData struct {
	P          staff.PaymentView
	Timeline   []staff.TimelineEntry
	Applied    step
	Confirmed  *step
	Reviewed   *step
	Authorized []step
	Done, Need int
	Cutoff     time.Time
	Settlement time.Time
	Planned    bool
	Checked    bool
	Problems   []string
	Stage      payment.Stage // the stage the person may decide now, "" when none
	NeedsOTP   bool
}

// loadPayment reads a payment and its timeline through the API (another
// customer's payment is not found) and what the page shows of it.
func (c *Console) loadPayment(r *http.Request, id string) (paymentData, error) {
	s := sessionFrom(r.Context())
	p, timeline, err := staff.PaymentDetail(r.Context(), c.base, s.Session, id)
	if err != nil {
		return paymentData{}, err
	}
	d := paymentData{P: p, Timeline: timeline, Applied: step{By: p.ApplicantID, At: p.CreatedAt}, Need: max(p.RequiredAuthorizers, 1)}
	for _, e := range timeline {
		st := step{By: e.Actor.ID, At: e.At}
		switch e.Action {
		case payment.ActionConfirm:
			d.Confirmed = &st
		case payment.ActionApprove:
			d.Reviewed = &st
		case payment.ActionAuthorize, payment.ActionAuthorizePartial:
			d.Authorized = append(d.Authorized, st)
		}
	}
	d.Done = len(d.Authorized)
	switch p.State {
	case payment.StateAwaitingConfirmation, payment.StateAwaitingReview, payment.StateAwaitingAuthorization, payment.StateAuthorized:
		if c.cfg.Plan != nil {
			if exec, err := time.ParseInLocation(payment.DateLayout, p.ExecutionDate, c.cfg.Location); err == nil {
				d.Cutoff, d.Settlement, d.Planned = c.cfg.Plan(exec, c.cfg.Now())
			}
		}
	}
	if c.cfg.Verify != nil {
		problems, err := c.cfg.Verify(r.Context(), p.ID)
		if err != nil {
			c.cfg.Logger.Error("console: verify", "payment_id", p.ID, "error", err)
		} else {
			d.Checked, d.Problems = true, problems
		}
	}
	for _, st := range c.stagesOf(r) {
		if p.State == st.State() && !slices.ContainsFunc(d.Authorized, func(a step) bool { return a.By == s.UserID }) {
			d.Stage = st
			d.NeedsOTP = payment.NeedsOTP(st, payment.VerdictApprove)
		}
	}
	return d, nil
}

// paymentPage shows one payment.
func (c *Console) paymentPage(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	d, err := c.loadPayment(r, r.PathValue("id"))
	if err != nil {
		c.apiFail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "payment", view{Title: l.T("pay.title") + " " + d.P.OrderRef, Nav: "query", Data: d})
}

// paymentDecide sends the person's decision on the content whose digest
// the page showed them, waits for its result and shows the payment again
// with the outcome in plain words.
func (c *Console) paymentDecide(w http.ResponseWriter, r *http.Request) {
	l := langOf(r)
	s := sessionFrom(r.Context())
	id := r.PathValue("id")
	stage := payment.Stage(r.PostFormValue("stage"))
	verdict := payment.Verdict(r.PostFormValue("verdict"))
	digest := r.PostFormValue("digest")
	if !stage.Valid() || (verdict != payment.VerdictApprove && verdict != payment.VerdictReject) || digest == "" {
		c.fail(w, r, http.StatusBadRequest, l.T("err.input")+"stage, verdict, digest")
		return
	}
	reason := clip(strings.TrimSpace(r.PostFormValue("reason")), 256)
	if verdict == payment.VerdictReject && reason == "" {
		c.showDecided(w, r, id, http.StatusBadRequest, "", l.Code(string(payment.CodeReasonRequired)))
		return
	}
	client := &staff.Client{API: c.base, Conn: c.cfg.Broker, Session: s.Session, Out: io.Discard}
	res, err := client.DecideShown(r.Context(), id, stage, digest, staff.Choice{Verdict: verdict, Reason: reason,
		OTP: strings.TrimSpace(r.PostFormValue("otp")), Wait: c.cfg.DecisionWait})
	if err != nil {
		c.cfg.Logger.Error("console: decision", "user_id", s.UserID, "payment_id", id, "error", err)
		c.showDecided(w, r, id, http.StatusGatewayTimeout, "", l.Code("timeout"))
		return
	}
	if res.Outcome == approval.Applied {
		c.showDecided(w, r, id, http.StatusOK, l.T("pay.applied.ok")+l.State(res.State), "")
		return
	}
	c.showDecided(w, r, id, http.StatusUnprocessableEntity, "", l.T("pay.refused")+l.Code(string(res.Code))+" "+refusalDetail(res))
}

// refusalDetail is the worker's own words on a refusal (who decided it
// already, which limit), kept short.
func refusalDetail(res approval.Result) string {
	if res.Reason == "" {
		return ""
	}
	return "(" + clip(res.Reason, 200) + ")"
}

func (c *Console) showDecided(w http.ResponseWriter, r *http.Request, id string, status int, note, problem string) {
	l := langOf(r)
	d, err := c.loadPayment(r, id)
	if err != nil {
		c.apiFail(w, r, err)
		return
	}
	c.render(w, r, status, "payment", view{Title: l.T("pay.title") + " " + d.P.OrderRef, Nav: "query", Note: note, Error: problem, Data: d})
}
