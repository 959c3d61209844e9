package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// A person's task list, GET /v1/tasks?stage=…&limit=…&after=…: the payments
// waiting for them at a stage that they may decide (payment.MayDecide, the
// rule the decision applies), most urgent first, a keyset page at a time.

// TaskQuery selects one page of the payments waiting for one person at one
// stage, for Store.TaskCandidates.
type TaskQuery struct {
	// UserID and CustomerID are the person's, from their token.
	UserID, CustomerID string
	Stage              payment.Stage
	// Limit is the page size, 1 to MaxPageSize.
	Limit int
	// After is the position of the previous page's last payment; nil for
	// the first page.
	After *TaskCursor
}

// TaskCursor is a position in a task list, in its order: execution date
// (the cutoff that takes the payment: the first one settling on or after
// it), then updated_at (the expiry: the stage's time to live counts from
// it), then id (UUIDv7: the age).
type TaskCursor struct {
	ExecutionDate time.Time
	UpdatedAt     time.Time
	ID            string
}

// CursorOf is the position of p in a task list.
func CursorOf(p *payment.Payment) TaskCursor {
	return TaskCursor{ExecutionDate: p.ExecutionDate, UpdatedAt: p.UpdatedAt, ID: p.ID}
}

// TaskCandidate is a payment the store found waiting for the person, with
// what a decision of theirs would know of it.
type TaskCandidate struct {
	Payment *payment.Payment
	// Applied are the payment's applied decisions, in order.
	Applied []AppliedDecision
	// Limit is the person's limit in the payment's currency, in minor
	// units; nil when they have none.
	Limit *int64
}

// AppliedDecision is one applied decision of a payment: who, at which
// stage, when.
type AppliedDecision struct {
	ActorID string
	Stage   payment.Stage
	Verdict payment.Verdict
	At      time.Time
}

// Facts are the approval facts of a candidate, as the decision reads them.
func (c TaskCandidate) Facts() payment.ApprovalFacts {
	f := payment.ApprovalFacts{RequiredAuthorizers: c.Payment.RequiredAuthorizers, Limit: c.Limit}
	for _, a := range c.Applied {
		f.Add(a.ActorID, a.Stage)
	}
	return f
}

// The query parameters of GET /v1/tasks.
const paramStage = "stage"

var taskParams = []string{paramStage, paramLimit, paramAfter}

// taskAnswer is the answer of GET /v1/tasks.
type taskAnswer struct {
	Stage payment.Stage `json:"stage"`
	Tasks []taskView    `json:"tasks"`
	// Next is the cursor of the next page, "" after the last one.
	Next string `json:"next"`
}

// taskView is one payment of a task list.
type taskView struct {
	Payment paymentView `json:"payment"`
	// Applied is the applicant's request, Confirmed and Reviewed the
	// decisions of those stages (absent until made), Authorized the
	// authorizations given so far.
	Applied    actView   `json:"applied"`
	Confirmed  *actView  `json:"confirmed,omitempty"`
	Reviewed   *actView  `json:"reviewed,omitempty"`
	Authorized []actView `json:"authorized"`
	// Authorizations is, at authorization, how many are done and how many
	// the payment's tier requires ("1 of 2").
	Authorizations *authorizationsView `json:"authorizations,omitempty"`
	// ExpiresAt is when the payment expires if nobody decides it (when
	// the API knows the stage's time to live).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type actView struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

type authorizationsView struct {
	Done     int `json:"done"`
	Required int `json:"required"`
}

// taskList answers GET /v1/tasks.
func (a *api) taskList(w http.ResponseWriter, r *http.Request) {
	who := principalFrom(r.Context())
	q, err := parseTaskQuery(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q.UserID, q.CustomerID = who.UserID, who.CustomerID
	person, cands, err := a.store.TaskCandidates(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ans := taskAnswer{Stage: q.Stage, Tasks: []taskView{}}
	for _, c := range cands {
		// The store's SQL selects what this rule allows; the rule itself,
		// the decision's, has the last word.
		if c.Payment.MayDecide(person, q.Stage, payment.VerdictApprove, c.Facts()) != nil {
			continue
		}
		ans.Tasks = append(ans.Tasks, a.viewTask(c, q.Stage))
	}
	if len(cands) > 0 && len(cands) == q.Limit {
		// A full page: there may be more. The last page may come back empty.
		ans.Next = encodeTaskCursor(q.Stage, CursorOf(cands[len(cands)-1].Payment))
	}
	writeJSON(w, http.StatusOK, ans)
}

// viewTask renders a candidate with its times in the API's zone.
func (a *api) viewTask(c TaskCandidate, s payment.Stage) taskView {
	loc := a.cfg.Location
	p := c.Payment
	v := taskView{Payment: viewPayment(p, loc), Applied: actView{By: p.ApplicantID, At: p.CreatedAt.In(loc)}, Authorized: []actView{}}
	for _, d := range c.Applied {
		act := actView{By: d.ActorID, At: d.At.In(loc)}
		switch {
		case d.Verdict != payment.VerdictApprove:
		case d.Stage == payment.StageConfirmation:
			v.Confirmed = &act
		case d.Stage == payment.StageReview:
			v.Reviewed = &act
		case d.Stage == payment.StageAuthorization:
			v.Authorized = append(v.Authorized, act)
		}
	}
	if s == payment.StageAuthorization {
		v.Authorizations = &authorizationsView{Done: len(v.Authorized), Required: max(p.RequiredAuthorizers, 1)}
	}
	if ttl, ok := a.cfg.TTLs[p.State]; ok && ttl > 0 {
		at := p.UpdatedAt.Add(ttl).In(loc)
		v.ExpiresAt = &at
	}
	return v
}

// parseTaskQuery reads the query of GET /v1/tasks: stage (required),
// limit and after, each once, nothing else.
func parseTaskQuery(raw string) (TaskQuery, error) {
	values, err := queryValues(raw, taskParams)
	if err != nil {
		return TaskQuery{}, err
	}
	q := TaskQuery{Stage: payment.Stage(values.Get(paramStage)), Limit: DefaultPageSize}
	switch {
	case q.Stage == "":
		return TaskQuery{}, payment.FieldErrorf(payment.CodeInvalidInput, paramStage, "is required: confirmation, review or authorization")
	case !q.Stage.Valid():
		return TaskQuery{}, payment.FieldErrorf(payment.CodeInvalidInput, paramStage, "%q is not a stage; stages are confirmation, review, authorization",
			payment.Clip(printable(string(q.Stage)), 64))
	}
	if v := values.Get(paramLimit); v != "" {
		if q.Limit, err = parseLimit(v); err != nil {
			return TaskQuery{}, err
		}
	}
	if v := values.Get(paramAfter); v != "" {
		c, err := decodeTaskCursor(q.Stage, v)
		if err != nil {
			return TaskQuery{}, err
		}
		q.After = &c
	}
	return q, nil
}

// taskCursorVersion starts every cursor, so the form can change.
const taskCursorVersion = "t1"

// encodeTaskCursor makes the opaque cursor of a position in the list of a
// stage: base64url of "t1|stage|date|updated_at (µs since the epoch)|id".
func encodeTaskCursor(s payment.Stage, c TaskCursor) string {
	raw := strings.Join([]string{taskCursorVersion, string(s), c.ExecutionDate.Format(payment.DateLayout),
		strconv.FormatInt(c.UpdatedAt.UnixMicro(), 10), c.ID}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeTaskCursor reads a cursor that encodeTaskCursor made for the list
// of stage s; anything else is the client's mistake.
func decodeTaskCursor(s payment.Stage, v string) (TaskCursor, error) {
	bad := func(why string) (TaskCursor, error) {
		return TaskCursor{}, payment.FieldErrorf(payment.CodeInvalidInput, paramAfter, "is not a cursor of this list (%s): pass the \"next\" of the previous page as it came", why)
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(v) > 200 {
		return bad("not in its encoding")
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 5 || parts[0] != taskCursorVersion {
		return bad("not in its form")
	}
	if payment.Stage(parts[1]) != s {
		return bad("it belongs to another stage's list")
	}
	date, err := time.Parse(payment.DateLayout, parts[2])
	if err != nil {
		return bad("its date")
	}
	micros, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || micros < 0 {
		return bad("its time")
	}
	if checkPaymentID(paramAfter, parts[4]) != nil {
		return bad("its payment id")
	}
	return TaskCursor{ExecutionDate: date, UpdatedAt: time.UnixMicro(micros).UTC(), ID: parts[4]}, nil
}
