package demo

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/staff"
)

// demoStaff is a member of the demo's staff, signed in through the API.
type demoStaff struct {
	id          string
	token       string
	decisionKey string // hex, from the sign-in answer
	auth        *staff.Authenticator
}

// demoPassword is the demo users' password (the demo database only).
const demoPassword = "demo-password-2026"

// seedStaff gives the demo's people passwords and OTP seeds, and the
// customer a two-authorizer tier above 1,000,000.00 CNY; it adds the
// batch walk-through's gina and frank.
func seedStaff(ctx context.Context, a *server.App) (map[string]*demoStaff, error) {
	if err := a.Store.ApprovalTierSet(ctx, "CUST-SH-001", "CNY", 100000000, 2); err != nil {
		return nil, err
	}
	if err := a.Store.UserCreate(ctx, payment.User{ID: "erin", CustomerID: "CUST-SH-001", Name: "刘洋 (authorizer)",
		Roles: []payment.Role{payment.RoleAuthorizer}, Active: true}); err != nil {
		return nil, err
	}
	// gina applies for the batch walk-through's payments; frank applies
	// and reviews, up to 50,000.00 CNY.
	for _, u := range []payment.User{
		{ID: "gina", CustomerID: "CUST-SH-001", Name: "赵静 (applicant)", Roles: []payment.Role{payment.RoleApplicant}, Active: true},
		{ID: "frank", CustomerID: "CUST-SH-001", Name: "孙磊 (applicant, reviewer)", Roles: []payment.Role{payment.RoleApplicant, payment.RoleReviewer}, Active: true},
	} {
		if err := a.Store.UserCreate(ctx, u); err != nil {
			return nil, err
		}
	}
	if err := a.Store.UserSetLimit(ctx, "frank", "CNY", frankLimit, "demo"); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(demoPassword)
	if err != nil {
		return nil, err
	}
	people := map[string]*demoStaff{}
	for _, id := range []string{"alice", "bob", "carol", "erin", "gina", "frank"} {
		if err := a.Store.UserSetPassword(ctx, id, hash, "demo"); err != nil {
			return nil, err
		}
		seed, _, err := otp.Generate("b2bpay-demo", id)
		if err != nil {
			return nil, err
		}
		if err := a.Store.UserEnrollOTP(ctx, id, a.Sec.Sealer.Seal(seed, postgres.OTPSeedAD(id)), int(a.Sec.Sealer.Version()), "demo"); err != nil {
			return nil, err
		}
		people[id] = &demoStaff{id: id, auth: &staff.Authenticator{Seed: seed}}
	}
	return people, nil
}

// demoStep is one decision of the walk-through and what it should give.
type demoStep struct {
	who     string
	what    string
	p       *payment.Payment
	stage   payment.Stage
	verdict payment.Verdict
	otp     string // "next", "replay", "wrong" or ""
	reason  string
	want    payment.Code // "" for applied
}

// approvalWalk takes payments through every stage with the staff client's
// own code path (HTTP sign-in, decisions on the queue, results on a reply
// queue), shows the refusals, and checks every hash chain.
func approvalWalk(ctx context.Context, a *server.App, apiURL string, people map[string]*demoStaff, accepted []string) error {
	for _, s := range people {
		var out struct {
			Token       string `json:"token"`
			DecisionKey string `json:"decision_key"`
		}
		if err := staff.Call(ctx, apiURL, http.MethodPost, "/v1/sessions", "", map[string]string{"user": s.id, "password": demoPassword}, &out); err != nil {
			return fmt.Errorf("sign in %s: %w", s.id, err)
		}
		s.token, s.decisionKey = out.Token, out.DecisionKey
	}
	var large, small []*payment.Payment
	for _, id := range accepted {
		p, err := a.Store.PaymentGetByID(ctx, id)
		if err != nil {
			return err
		}
		if p.CustomerID != "CUST-SH-001" || p.ApplicantID != "alice" {
			continue
		}
		if p.RequiredAuthorizers > 1 {
			large = append(large, p)
		} else {
			small = append(small, p)
		}
	}
	if len(large) < 1 || len(small) < 3 {
		return fmt.Errorf("demo: not enough accepted payments to walk through (%d large, %d small)", len(large), len(small))
	}
	p1, p2, p3, p4 := small[0], large[0], small[1], small[2]
	steps := []demoStep{
		{"alice", "applicant confirms P1 with her OTP", p1, payment.StageConfirmation, payment.VerdictApprove, "next", "", ""},
		{"bob", "reviewer approves P1 without his OTP", p1, payment.StageReview, payment.VerdictApprove, "", "", payment.CodeOTPRequired},
		{"bob", "reviewer approves P1 with his OTP", p1, payment.StageReview, payment.VerdictApprove, "next", "", ""},
		{"bob", "reviewer tries to authorize P1", p1, payment.StageAuthorization, payment.VerdictApprove, "", "", payment.CodeWrongRole},
		{"carol", "authorizer with a wrong OTP", p1, payment.StageAuthorization, payment.VerdictApprove, "wrong", "", payment.CodeOTPInvalid},
		{"carol", "authorizer authorizes P1 with her OTP", p1, payment.StageAuthorization, payment.VerdictApprove, "next", "", ""},
		{"alice", "applicant tries to cancel P1 after authorization", p1, "", approval.Cancel, "", "too late", payment.CodeFrozen},
		{"alice", "applicant confirms P2 (1,286,400.50 CNY)", p2, payment.StageConfirmation, payment.VerdictApprove, "next", "", ""},
		{"bob", "reviewer approves P2 with his OTP", p2, payment.StageReview, payment.VerdictApprove, "next", "", ""},
		{"carol", "first of two authorizers authorizes P2", p2, payment.StageAuthorization, payment.VerdictApprove, "next", "", ""},
		{"carol", "the same authorizer a second time", p2, payment.StageAuthorization, payment.VerdictApprove, "replay", "", payment.CodeSeparationOfDuties},
		{"erin", "second authorizer authorizes P2", p2, payment.StageAuthorization, payment.VerdictApprove, "next", "", ""},
		{"alice", "applicant confirms P3", p3, payment.StageConfirmation, payment.VerdictApprove, "next", "", ""},
		{"bob", "reviewer rejects P3", p3, payment.StageReview, payment.VerdictReject, "", "invoice amount does not match the contract", ""},
		{"alice", "applicant cancels P4 before confirming", p4, "", approval.Cancel, "", "ordered twice by mistake", ""},
	}
	fmt.Printf("\napproval walk-through (decisions through %s, results on private reply queues)\n", route.DecisionsQueue)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "WHO\tWHAT\tOUTCOME\tSTATE")
	ok := true
	for _, st := range steps {
		s := people[st.who]
		var code string
		var err error
		switch st.otp {
		case "next":
			code, err = s.auth.Next()
		case "replay":
			code, err = s.auth.Last()
		case "wrong":
			code = "000000"
		}
		if err != nil {
			return err
		}
		d := route.Decision{Schema: route.DecisionSchema, DecisionID: staff.NewDecisionID(), Token: s.token, PaymentID: st.p.ID,
			Stage: st.stage, Verdict: st.verdict, OTP: code, Digest: st.p.Digest(), Reason: st.reason}
		res, err := staff.SendDecision(ctx, a.Conn, staff.Session{Token: s.token, DecisionKey: s.decisionKey, UserID: s.id}, d, 30*time.Second)
		if err != nil {
			return err
		}
		outcome := res.Outcome
		if res.Code != "" {
			outcome += " (" + string(res.Code) + ")"
		}
		state := res.State
		if state == "" {
			p, err := a.Store.PaymentGetByID(ctx, st.p.ID)
			if err != nil {
				return err
			}
			state = p.State
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", st.who, st.what, outcome, state)
		ok = ok && res.Code == st.want && (st.want != "" || res.Outcome == approval.Applied)
	}
	_ = w.Flush()
	if !ok {
		return fmt.Errorf("demo: a decision did not give the expected outcome")
	}
	p, err := a.Store.PaymentGetByID(ctx, p2.ID)
	if err != nil {
		return err
	}
	tl, err := a.Store.PaymentTimeline(ctx, p2.ID)
	if err != nil {
		return err
	}
	fmt.Println()
	server.PrintPayment(os.Stdout, p, tl, a.Config.Location)
	return nil
}

// verifyAll checks every payment's hash chain.
func verifyAll(ctx context.Context, a *server.App) error {
	ids, err := a.Store.PaymentIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		p, err := a.Store.PaymentGetByID(ctx, id)
		if err != nil {
			return err
		}
		tl, err := a.Store.PaymentTimeline(ctx, id)
		if err != nil {
			return err
		}
		if seq, why := payment.VerifyChain(tl, p.HeadHash); seq != 0 {
			return fmt.Errorf("demo: payment %s timeline broken at entry %d: %s", id, seq, why)
		}
	}
	fmt.Printf("\ntimeline hash chains verified for all %d payments\n", len(ids))
	return nil
}
