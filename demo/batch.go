package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/staff"
)

// batchSize is how many payments the demo's reviewer and authorizer clear
// with one one-time password each.
const batchSize = 200

// frankLimit is the limit of frank, the applicant who also reviews, in
// CNY minor units (50,000.00 CNY).
const frankLimit = 5000000

// batchWalk shows batch decisions with the staff library (items read
// through the API, the count, totals and batch digest shown before the
// code, one signed message, one result): gina's 200 payments (and two
// more) confirmed by her, then reviewed by bob and authorized by carol,
// one OTP each; then a batch of frank's at review with one payment over
// his limit, one already decided, one he applied for himself and one he
// may approve: each item's outcome as expected, or the demo fails.
func batchWalk(ctx context.Context, a *server.App, apiURL string, people map[string]*demoStaff, erp *producers.Client,
	subs []*producers.Answers) error {
	run := time.Now().In(a.Config.Location)
	fmt.Printf("\nbatch decisions (%s, one message and one OTP per batch, each item checked as a decision alone)\n", route.DecisionBatchSchema)
	// gina's 200 payments, then A (over frank's limit) and D (gina's),
	// and C, frank's own.
	var reqs []payment.Request
	for i := range batchSize + 2 {
		amount := fmt.Sprintf("%d.%02d", 2000+i*53, i%100)
		if i == batchSize {
			amount = "80000.00"
		}
		reqs = append(reqs, batchRequest(run, i, "gina", amount))
	}
	reqs = append(reqs, batchRequest(run, batchSize+2, "frank", "3200.00"))
	ids, err := publishAndWait(ctx, erp, subs, reqs)
	if err != nil {
		return err
	}
	cleared, over, other, own := ids[:batchSize], ids[batchSize], ids[batchSize+1], ids[batchSize+2]

	client := func(who string) *staff.Client {
		s := people[who]
		return &staff.Client{API: apiURL, Conn: a.Conn, Out: os.Stdout,
			Session: staff.Session{Token: s.token, DecisionKey: s.decisionKey, UserID: who, CustomerID: "CUST-SH-001"}}
	}
	type step struct {
		who   string
		stage payment.Stage
		ids   []string
	}
	var shown []staff.Candidate // the candidates of bob's batch, for frank's
	for _, st := range []step{
		{"gina", payment.StageConfirmation, append(append([]string(nil), cleared...), over, other)},
		{"frank", payment.StageConfirmation, []string{own}},
		{"bob", payment.StageReview, cleared},
		{"carol", payment.StageAuthorization, cleared},
	} {
		c := client(st.who)
		cands, _, err := staff.QueueCandidates(ctx, c, st.stage, staff.Selection{IDs: st.ids})
		if err != nil {
			return err
		}
		if st.who == "bob" {
			shown = cands
		}
		res, took, err := sendBatch(ctx, c, people[st.who], st.stage, cands, 2)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(resultText(res)), "\n")
		fmt.Printf("%s (%s, %d ms)\n", lines[len(lines)-1], st.who, took.Milliseconds())
		if res.Applied != len(st.ids) {
			return fmt.Errorf("demo: %s's %s batch applied %d of %d", st.who, st.stage, res.Applied, len(st.ids))
		}
	}

	// frank's batch at review: the payment bob's batch took (shown to him
	// before it was decided), one over his limit, his own, and one more.
	c := client("frank")
	var cands []staff.Candidate
	for _, id := range []string{over, own, other} {
		t, err := c.TaskOfPayment(ctx, id, payment.StageReview)
		if err != nil {
			return err
		}
		cands = append(cands, staff.Candidate{Task: t})
	}
	cands = append(cands, shown[0])
	want := map[string]payment.Code{over: payment.CodeOverLimit, own: payment.CodeSeparationOfDuties, other: "",
		shown[0].Task.PaymentID: payment.CodeAlreadyDecided}
	what := map[string]string{over: "over frank's limit of 50,000.00 CNY", own: "frank applied for it himself",
		other: "gina's, within his limit", shown[0].Task.PaymentID: "already decided (bob's batch, then carol's)"}
	res, _, err := sendBatch(ctx, c, people["frank"], payment.StageReview, cands, len(cands))
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ITEM\tPAYMENT\tOUTCOME\tSTATE")
	ok := res.Count == len(cands)
	for _, it := range res.Items {
		outcome := it.Outcome
		if it.Code != "" {
			outcome += " (" + string(it.Code) + ")"
		}
		state := it.State
		if p, err := a.Store.PaymentGetByID(ctx, it.PaymentID); err == nil {
			state = p.State
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", what[it.PaymentID], it.PaymentID, outcome, state)
		code, known := want[it.PaymentID]
		ok = ok && known && it.Code == code && (code != "" || it.Outcome == approval.Applied)
	}
	_ = w.Flush()
	fmt.Printf("batch %s: %s, %d applied, %d refused of %d: a refused item does not stop the others\n",
		res.DecisionID, res.Outcome, res.Applied, res.Refused, res.Count)
	if !ok {
		return fmt.Errorf("demo: an item of frank's batch did not get the expected outcome")
	}
	return nil
}

// sendBatch approves the candidates at a stage in one batch decision with
// the person's next code, showing what the client shows before it asks
// for the code (the first `show` payments of it, then the count, totals
// and batch digest); it returns the result and how long it took.
func sendBatch(ctx context.Context, c *staff.Client, s *demoStaff, stage payment.Stage, cands []staff.Candidate, show int) (approval.BatchResult, time.Duration, error) {
	items := make([]approval.BatchItem, len(cands))
	for i, cand := range cands {
		var err error
		if items[i], err = cand.Item(); err != nil {
			return approval.BatchResult{}, 0, err
		}
	}
	count, totals, digest, err := approval.Summarize(stage, payment.VerdictApprove, items)
	if err != nil {
		return approval.BatchResult{}, 0, err
	}
	var shown bytes.Buffer
	staff.ShowBatch(&shown, stage, payment.VerdictApprove, cands, count, totals, digest)
	lines := strings.Split(strings.TrimRight(shown.String(), "\n"), "\n")
	head := 2 + 2*min(show, len(cands)) // a blank line, the title, two lines a payment
	tail := lines[2+2*len(cands):]
	fmt.Println(strings.Join(lines[1:head], "\n"))
	if len(cands) > show {
		fmt.Printf("  … and %d more payments\n", len(cands)-show)
	}
	fmt.Println(strings.Join(tail, "\n"))
	code, err := s.auth.Next()
	if err != nil {
		return approval.BatchResult{}, 0, err
	}
	fmt.Printf("  one-time password for %s of %d payments, batch digest %s…: (%s's authenticator, one code)\n",
		payment.VerdictApprove, count, digest[:16], c.Session.UserID)
	bd := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: staff.NewDecisionID(), Token: c.Session.Token, Stage: stage,
		Verdict: payment.VerdictApprove, OTP: code, Items: items, Count: count, Totals: totals, BatchDigest: digest}
	start := time.Now()
	res, err := staff.SendBatch(ctx, c, bd, 60*time.Second)
	return res, time.Since(start), err
}

// resultText is the result as the staff client prints it.
func resultText(res approval.BatchResult) string {
	var b bytes.Buffer
	staff.ShowBatchResult(&b, res)
	return b.String()
}

// batchRequest is a request of the batch walk-through: number i, by
// applicant, for amount CNY.
func batchRequest(run time.Time, i int, applicant, amount string) payment.Request {
	stamp := run.Format("150405")
	return payment.Request{
		SchemaVersion: 1, RequestID: fmt.Sprintf("bat-%s-%03d", stamp, i), OrderRef: fmt.Sprintf("BO-%s-%03d", stamp, i),
		CustomerID: "CUST-SH-001", Applicant: applicant, BankID: "104100000004", DebtorAccount: "6217000010001234567",
		Creditor: payment.Creditor{Name: "苏州精工零部件有限公司", Account: "755912345610801", BankID: "308584000013"},
		Amount:   amount, Currency: "CNY", Remittance: fmt.Sprintf("月结 PO-%03d", i), ExecutionDate: run.Format(payment.DateLayout),
	}
}

// publishAndWait publishes the requests and returns their payments' ids,
// in order, once each is answered as accepted.
func publishAndWait(ctx context.Context, erp *producers.Client, subs []*producers.Answers, reqs []payment.Request) ([]string, error) {
	idx := map[string]int{}
	for i, r := range reqs {
		body, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if err := erp.Publish(ctx, r.RequestID, body); err != nil {
			return nil, fmt.Errorf("publish %s: %w", r.RequestID, err)
		}
		idx[r.RequestID] = i
	}
	ids := make([]string, len(reqs))
	deadline := time.Now().Add(60 * time.Second)
	for {
		found := 0
		for _, s := range subs {
			for _, ev := range s.Events() {
				i, ok := idx[ev.RequestID]
				if !ok {
					continue
				}
				if ev.Kind != payment.EventAccepted && ev.Kind != payment.EventStateChanged {
					return nil, fmt.Errorf("demo: request %s: %s %s", ev.RequestID, ev.Kind, ev.Code)
				}
				if ev.Kind == payment.EventAccepted && ids[i] == "" {
					ids[i] = ev.PaymentID
				}
			}
		}
		for _, id := range ids {
			if id != "" {
				found++
			}
		}
		if found == len(ids) {
			fmt.Printf("published %d more requests (gina's and frank's): %d payments awaiting confirmation\n", len(reqs), len(ids))
			return ids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("demo: %d of %d batch requests answered", found, len(ids))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
