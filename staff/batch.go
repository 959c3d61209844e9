package staff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// Selection is which payments of a stage a batch takes: every waiting task
// (All), the payments named (IDs), or waiting tasks in queue order while
// each currency's total stays within MaxTotal (an amount such as
// "500000.00"). Limit bounds the count (the default cap, 500, when 0).
type Selection struct {
	All      bool
	IDs      []string
	MaxTotal string
	Limit    int
}

// DefaultBatchLimit is the most payments a batch takes unless told: the
// customers' default cap.
const DefaultBatchLimit = 500

// Candidate is a payment offered for a batch, its content checked against
// its digest, and the task it came with (nil for one fetched by id).
type Candidate struct {
	Task route.Task
	from *amqp.Delivery
}

// Item is the candidate as a batch item.
func (c Candidate) Item() (approval.BatchItem, error) {
	amount, err := payment.ParseAmount(c.Task.Amount, c.Task.Currency)
	return approval.BatchItem{PaymentID: c.Task.PaymentID, Digest: c.Task.Digest, Currency: c.Task.Currency, AmountMinor: amount}, err
}

// Candidates finds the payments a batch may take. The client takes them
// from the stage's task queue, or by id through the payment API; another
// source (a task list over HTTP) can be put in its place.
type Candidates func(ctx context.Context, c *Client, stage payment.Stage, sel Selection) ([]Candidate, func(approval.BatchResult), error)

// ListCandidates is the default Candidates: by id through the payment API
// (TaskOfPayment), else the person's own task list (ListTasks: only the
// payments they may decide, most urgent first, each digest checked), up
// to the selection's limit, in list order while each currency's total
// stays within MaxTotal. The task queues are left as they are: a task
// whose payment a batch moved is skipped as moot by whoever takes it.
func ListCandidates(ctx context.Context, c *Client, stage payment.Stage, sel Selection) ([]Candidate, func(approval.BatchResult), error) {
	if len(sel.IDs) > 0 {
		return QueueCandidates(ctx, c, stage, sel)
	}
	limit := sel.Limit
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	max := limit
	if sel.MaxTotal != "" {
		max = 0 // read the whole list: a later, smaller payment may still fit
	}
	tasks, err := ListTasks(ctx, c.API, c.Session, stage, max)
	if err != nil {
		return nil, nil, err
	}
	var out []Candidate
	sums := map[string]int64{}
	for _, it := range tasks {
		if len(out) == limit {
			break
		}
		v := it.Payment
		if sel.MaxTotal != "" {
			ceiling, err := payment.ParseAmount(sel.MaxTotal, v.Currency)
			if err != nil {
				return nil, nil, fmt.Errorf("--max-total %q in %s: %w", sel.MaxTotal, v.Currency, err)
			}
			amount, err := payment.ParseAmount(v.Amount, v.Currency)
			if err != nil {
				return nil, nil, err
			}
			if sums[v.Currency]+amount > ceiling {
				continue
			}
			sums[v.Currency] += amount
		}
		out = append(out, Candidate{Task: route.Task{Schema: route.TaskSchema, Stage: stage, PaymentID: v.ID, CustomerID: v.CustomerID,
			Applicant: v.ApplicantID, OrderRef: v.OrderRef, Amount: v.Amount, Currency: v.Currency, BankID: v.Debtor.BankID,
			Debtor: v.Debtor.Account, Creditor: v.Creditor, Remittance: v.RemittanceInfo, Execution: v.ExecutionDate, Digest: v.Digest}})
	}
	return out, func(approval.BatchResult) {}, nil
}

// QueueCandidates takes candidates by id through the payment API
// (TaskOfPayment), else the waiting tasks of the stage's queue
// (TakeTasks).
func QueueCandidates(ctx context.Context, c *Client, stage payment.Stage, sel Selection) ([]Candidate, func(approval.BatchResult), error) {
	if len(sel.IDs) > 0 {
		var out []Candidate
		for _, id := range sel.IDs {
			t, err := c.TaskOfPayment(ctx, id, stage)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, Candidate{Task: t})
		}
		return out, func(approval.BatchResult) {}, nil
	}
	return c.TakeTasks(ctx, stage, sel)
}

// ErrNotWaiting: the payment is not waiting for the stage.
var ErrNotWaiting = errors.New("not waiting for")

// TaskOfPayment reads a payment through the API as the task of a stage
// would show it, and checks that it waits for that stage and that its
// digest is its content's.
func (c *Client) TaskOfPayment(ctx context.Context, id string, stage payment.Stage) (route.Task, error) {
	var got struct {
		Payment PaymentView `json:"payment"`
	}
	if err := Call(ctx, c.API, http.MethodGet, "/v1/payments/"+id, c.Session.Token, nil, &got); err != nil {
		return route.Task{}, fmt.Errorf("payment %s: %w", id, err)
	}
	p := got.Payment
	if p.State != stage.State() {
		return route.Task{}, fmt.Errorf("payment %s is %s: %w %s", id, p.State, ErrNotWaiting, stage)
	}
	t := route.Task{Schema: route.TaskSchema, Stage: stage, PaymentID: p.ID, CustomerID: p.CustomerID, Applicant: p.ApplicantID,
		OrderRef: p.OrderRef, Amount: p.Amount, Currency: p.Currency, BankID: p.Debtor.BankID, Debtor: p.Debtor.Account,
		Creditor: p.Creditor, Remittance: p.RemittanceInfo, Execution: p.ExecutionDate, Digest: p.Digest}
	if err := CheckTaskDigest(t); err != nil {
		return route.Task{}, fmt.Errorf("payment %s: %w", id, err)
	}
	return t, nil
}

// TakeTasks takes the waiting tasks of a stage from the customer's queue
// (unacknowledged: nobody else takes them meanwhile), up to the selection's
// limit and total, each checked against its digest and against the
// payment now (the API): tasks nobody needs any more are acknowledged and
// skipped. settle, called with the batch's result, acknowledges the tasks
// applied or moot and hands the others back; a task not taken into the
// batch is handed back at once.
func (c *Client) TakeTasks(ctx context.Context, stage payment.Stage, sel Selection) ([]Candidate, func(approval.BatchResult), error) {
	limit := sel.Limit
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	ch, err := c.Conn.Channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []Candidate
	sums := map[string]int64{}
	seen := map[string]bool{}
	release := func() { _ = ch.Close() } // unacknowledged tasks go back to the queue
	for len(out) < limit {
		d, ok, err := ch.Get(route.TaskQueue(c.Session.CustomerID, stage), false)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("take a task: %w", err)
		}
		if !ok {
			break
		}
		var t route.Task
		if json.Unmarshal(d.Body, &t) != nil || t.Schema != route.TaskSchema || seen[t.PaymentID] {
			_ = d.Ack(false) // unreadable, or the same payment twice
			continue
		}
		if err := CheckTaskDigest(t); err != nil {
			fmt.Fprintf(os.Stderr, "task of payment %s: %v\n", t.PaymentID, err)
			_ = d.Nack(false, true)
			continue
		}
		now, err := c.TaskOfPayment(ctx, t.PaymentID, stage)
		var ae *APIError
		switch {
		case errors.Is(err, ErrNotWaiting), errors.As(err, &ae) && ae.Code == string(payment.CodeNotFound), err == nil && now.Digest != t.Digest:
			_ = d.Ack(false) // moot: decided, cancelled, expired or changed
			continue
		case err != nil:
			release()
			return nil, nil, err
		}
		if sel.MaxTotal != "" {
			max, err := payment.ParseAmount(sel.MaxTotal, t.Currency)
			if err != nil {
				release()
				return nil, nil, fmt.Errorf("--max-total %q in %s: %w", sel.MaxTotal, t.Currency, err)
			}
			amount, _ := payment.ParseAmount(t.Amount, t.Currency)
			if sums[t.Currency]+amount > max {
				_ = d.Nack(false, true)
				continue
			}
			sums[t.Currency] += amount
		}
		seen[t.PaymentID] = true
		out = append(out, Candidate{Task: t, from: &d})
	}
	settle := func(res approval.BatchResult) {
		done := map[string]bool{}
		for _, r := range res.Items {
			done[r.PaymentID] = r.Outcome == approval.Applied || Moot(r.Code)
		}
		for _, cand := range out {
			if done[cand.Task.PaymentID] {
				_ = cand.from.Ack(false)
			}
		}
		release()
	}
	return out, settle, nil
}

// BatchChoice is what the person decides of a batch, and how to ask.
type BatchChoice struct {
	Choice
	AllOrNothing bool
}

// Batch decides many payments at one stage with one one-time password:
// it finds the candidates (find, ListCandidates when nil), shows each,
// then the count, the totals per currency and the batch digest before it
// asks for the code, sends one signed batch decision and returns its
// result. ok is false when there was nothing to decide.
func (c *Client) Batch(ctx context.Context, stage payment.Stage, sel Selection, choice BatchChoice, find Candidates) (res approval.BatchResult, ok bool, err error) {
	if !stage.Valid() {
		return res, false, fmt.Errorf("--stage %q: want confirmation, review or authorization", stage)
	}
	if find == nil {
		find = ListCandidates
	}
	cands, settle, err := find(ctx, c, stage, sel)
	if err != nil {
		return res, false, err
	}
	sent := false
	defer func() {
		if !sent {
			settle(approval.BatchResult{})
		}
	}()
	if len(cands) == 0 {
		fmt.Fprintf(c.Out, "no %s task is waiting for %s\n", stage, c.Session.CustomerID)
		return res, false, nil
	}
	items := make([]approval.BatchItem, len(cands))
	for i, cand := range cands {
		if items[i], err = cand.Item(); err != nil {
			return res, false, err
		}
	}
	verdict, reason, err := settleVerdict(choice.Choice, fmt.Sprintf("approve or reject these %d payments? ", len(items)))
	if err != nil {
		return res, false, err
	}
	count, totals, digest, err := approval.Summarize(stage, verdict, items)
	if err != nil {
		return res, false, err
	}
	ShowBatch(c.Out, stage, verdict, cands, count, totals, digest)
	code := choice.OTP
	if payment.NeedsOTP(stage, verdict) && code == "" {
		if code, err = ask(choice.Choice)(fmt.Sprintf("one-time password for %s of %d payments, batch digest %s: ", verdict, count, digest)); err != nil {
			return res, false, err
		}
		code = strings.TrimSpace(code)
	}
	bd := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: NewDecisionID(), Token: c.Session.Token, Stage: stage,
		Verdict: verdict, Reason: reason, OTP: code, AllOrNothing: choice.AllOrNothing, Items: items, Count: count, Totals: totals, BatchDigest: digest}
	res, err = SendBatch(ctx, c, bd, choice.Wait)
	if err != nil {
		return res, true, err
	}
	sent = true
	settle(res)
	return res, true, nil
}

// ShowBatch writes what the person is asked to sign: each payment, then
// the count, the totals per currency and the batch digest.
func ShowBatch(w io.Writer, stage payment.Stage, verdict payment.Verdict, cands []Candidate, count int, totals []approval.Total, digest string) {
	fmt.Fprintf(w, "\n%s %s of %d payments:\n", stage, verdict, count)
	for _, c := range cands {
		t := c.Task
		line := fmt.Sprintf("  %s  %-12s %18s %s  to %s", t.PaymentID, t.OrderRef, t.Amount, t.Currency, t.Creditor.Name)
		if t.Authorizations != "" {
			line += "  (authorization " + t.Authorizations + ")"
		}
		fmt.Fprintf(w, "%s\n    digest %s\n", line, t.Digest)
	}
	fmt.Fprintf(w, "  count        %d\n", count)
	for _, t := range totals {
		fmt.Fprintf(w, "  total        %s %s\n", payment.FormatAmount(t.AmountMinor, t.Currency), t.Currency)
	}
	fmt.Fprintf(w, "  batch digest %s\n", digest)
}

// ShowBatchResult writes each item's outcome and the sum.
func ShowBatchResult(w io.Writer, res approval.BatchResult) {
	for _, r := range res.Items {
		if r.Outcome == approval.Applied {
			fmt.Fprintf(w, "  applied  %s  now %s\n", r.PaymentID, r.State)
		} else {
			fmt.Fprintf(w, "  refused  %s  %s\n", r.PaymentID, r.Reason)
		}
	}
	fmt.Fprintf(w, "batch %s: %s, %d applied, %d refused of %d\n", res.DecisionID, res.Outcome, res.Applied, res.Refused, res.Count)
}

// SendBatch signs a batch decision with the session's decision key, sends
// it with a reply queue of the person's own and waits for its result.
func SendBatch(ctx context.Context, c *Client, bd route.BatchDecision, wait time.Duration) (approval.BatchResult, error) {
	key, err := decisionKey(c.Session)
	if err != nil {
		return approval.BatchResult{}, err
	}
	bd.Sign(key)
	body, _ := json.Marshal(bd)
	var res approval.BatchResult
	err = roundTrip(ctx, c.Conn, c.Session, bd.DecisionID, body, wait, func(b []byte) bool {
		return json.Unmarshal(b, &res) == nil && res.DecisionID == bd.DecisionID && res.Schema == approval.BatchResultSchema
	})
	return res, err
}

// settleVerdict settles the verdict (the choice, or asked with prompt) and
// the reason a rejection needs.
func settleVerdict(choice Choice, prompt string) (payment.Verdict, string, error) {
	verdict := choice.Verdict
	if verdict == "" {
		answer, err := ask(choice)(prompt)
		if err != nil {
			return "", "", err
		}
		verdict = payment.Verdict(strings.TrimSpace(strings.ToLower(answer)))
	}
	if verdict != payment.VerdictApprove && verdict != payment.VerdictReject {
		return "", "", fmt.Errorf("%q: approve or reject", verdict)
	}
	reason := choice.Reason
	if verdict == payment.VerdictReject && reason == "" {
		r, err := ask(choice)("reason: ")
		if err != nil {
			return "", "", err
		}
		reason = r
	}
	return verdict, reason, nil
}

func ask(choice Choice) func(string) (string, error) {
	if choice.Prompt == nil {
		return func(string) (string, error) { return "", errors.New("nothing to ask the person with") }
	}
	return choice.Prompt
}

// Check refuses a selection that does not name exactly one way to choose.
func (s Selection) Check() error {
	n := 0
	for _, set := range []bool{s.All, len(s.IDs) > 0, s.MaxTotal != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("choose the payments with one of --all, --ids or --max-total")
	}
	return nil
}

// SplitIDs splits a comma-separated list of ids, dropping empty ones.
func SplitIDs(s string) []string {
	var out []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}
