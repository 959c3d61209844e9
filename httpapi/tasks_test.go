package httpapi_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

// taskPage is the answer of GET /v1/tasks.
type taskPage struct {
	Stage string `json:"stage"`
	Tasks []struct {
		Payment paymentJSON `json:"payment"`
		Applied struct {
			By string `json:"by"`
			At string `json:"at"`
		} `json:"applied"`
		Confirmed *struct {
			By string `json:"by"`
			At string `json:"at"`
		} `json:"confirmed"`
		Reviewed *struct {
			By string `json:"by"`
		} `json:"reviewed"`
		Authorized []struct {
			By string `json:"by"`
		} `json:"authorized"`
		Authorizations *struct {
			Done     int `json:"done"`
			Required int `json:"required"`
		} `json:"authorizations"`
		ExpiresAt string `json:"expires_at"`
	} `json:"tasks"`
	Next *string `json:"next"`
}

func (p taskPage) ids() []string {
	out := []string{}
	for _, x := range p.Tasks {
		out = append(out, x.Payment.ID)
	}
	return out
}

// staffOf registers a person of tn with roles and signs them in.
func (b *bundle) staffOf(t *testing.T, tn tenant, roles ...payment.Role) (payment.User, string) {
	t.Helper()
	u := payment.User{ID: "staff-" + testkit.RandomHex(5), CustomerID: tn.customer.ID, Name: "Staff", Roles: roles, Active: true}
	require.NoError(t, b.store.UserCreate(t.Context(), u))
	return u, b.auth.issue(u.ID, tn.customer.ID)
}

// applied records an applied decision of p by actor at stage, at when, as
// the decision worker leaves it (the rows the task list reads).
func applied(t *testing.T, p *payment.Payment, actor string, stage payment.Stage, at time.Time) {
	t.Helper()
	_, err := testkit.Pool(t).Exec(t.Context(), `INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, result, decided_at)
		VALUES ($1, $2, $3, 'approve', $4, 'applied', '{}', $5)`, "dec-"+testkit.RandomHex(8), p.ID, string(stage), actor, at)
	require.NoError(t, err)
}

// tasks asks for GET /v1/tasks?query with token and returns the page.
func (b *bundle) tasks(t *testing.T, token, query string) taskPage {
	t.Helper()
	a := b.do(t, http.MethodGet, "/v1/tasks?"+query, token, "")
	require.Equal(t, http.StatusOK, a.status, "query %s: %s", query, a.body)
	var p taskPage
	a.decode(t, &p)
	require.NotNil(t, p.Tasks, "never null")
	require.NotNil(t, p.Next, "always there, empty on the last page")
	return p
}

func TestTaskListOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reviewer, token := b.staffOf(t, b.mine, payment.RoleReviewer)
	p1 := b.submit(t, b.mine, func(r *payment.Request) { r.ExecutionDate = "2026-03-13" })
	b.clock.Advance(time.Minute)
	p2 := b.submit(t, b.mine)
	b.clock.Advance(time.Minute)
	p3 := b.submit(t, b.mine)
	theirs := b.submit(t, b.other)
	for _, p := range []*payment.Payment{p1, p2, p3, theirs} {
		b.forceState(t, p.ID, payment.StateAwaitingReview)
	}
	applied(t, p2, b.mine.applicant.ID, payment.StageConfirmation, baseTime.Add(90*time.Second))

	// Most urgent first: p2 and p3 execute on the 12th, p1 on the 13th.
	all := b.tasks(t, token, "stage=review")
	require.Equal(t, "review", all.Stage)
	require.Equal(t, []string{p2.ID, p3.ID, p1.ID}, all.ids())
	require.Empty(t, *all.Next, "not a full page")
	first := all.Tasks[0]
	require.Equal(t, p2.Digest(), first.Payment.Digest)
	require.Equal(t, "1286400.50", first.Payment.Amount)
	require.Equal(t, b.mine.applicant.ID, first.Applied.By)
	require.Equal(t, "2026-03-10T10:01:00+08:00", first.Applied.At, "in the customer's zone")
	require.NotNil(t, first.Confirmed)
	require.Equal(t, b.mine.applicant.ID, first.Confirmed.By)
	require.Equal(t, "2026-03-10T10:01:30+08:00", first.Confirmed.At)
	require.Nil(t, first.Reviewed)
	require.Nil(t, first.Authorizations, "only at authorization")
	require.Empty(t, first.ExpiresAt, "no time to live configured")

	// Pages of one, following next: the same payments, once each.
	var seen []string
	query := "stage=review&limit=1"
	for range 10 {
		p := b.tasks(t, token, query)
		seen = append(seen, p.ids()...)
		if *p.Next == "" {
			break
		}
		query = "stage=review&limit=1&after=" + url.QueryEscape(*p.Next)
	}
	require.Equal(t, all.ids(), seen)

	// The other customer's reviewer sees theirs only; ours sees nothing at
	// authorization (no role) and, once they reviewed p2, not p2.
	_, otherToken := b.staffOf(t, b.other, payment.RoleReviewer)
	require.Equal(t, []string{theirs.ID}, b.tasks(t, otherToken, "stage=review").ids())
	require.Empty(t, b.tasks(t, token, "stage=authorization").ids())
	applied(t, p2, reviewer.ID, payment.StageReview, baseTime.Add(time.Hour))
	require.Equal(t, []string{p3.ID, p1.ID}, b.tasks(t, token, "stage=review").ids())
}

// TestTaskListAuthorizationTier: at authorization each task says how many
// authorizations it has of how many its tier needs, who confirmed and
// reviewed it, and when it expires.
func TestTaskListAuthorizationTier(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(httpapi.New(b.store, b.auth, httpapi.Config{Location: shanghai,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TTLs:   map[payment.State]time.Duration{payment.StateAwaitingAuthorization: 72 * time.Hour}}))
	t.Cleanup(srv.Close)
	b.srv = srv
	reviewer, _ := b.staffOf(t, b.mine, payment.RoleReviewer)
	first, _ := b.staffOf(t, b.mine, payment.RoleAuthorizer)
	_, token := b.staffOf(t, b.mine, payment.RoleAuthorizer)
	p := b.submit(t, b.mine)
	_, err := testkit.Pool(t).Exec(t.Context(), `UPDATE payments SET state = 'awaiting_authorization', required_authorizers = 2 WHERE id = $1`, p.ID)
	require.NoError(t, err)
	applied(t, p, b.mine.applicant.ID, payment.StageConfirmation, baseTime.Add(time.Minute))
	applied(t, p, reviewer.ID, payment.StageReview, baseTime.Add(2*time.Minute))
	applied(t, p, first.ID, payment.StageAuthorization, baseTime.Add(3*time.Minute))

	got := b.tasks(t, token, "stage=authorization")
	require.Equal(t, []string{p.ID}, got.ids())
	task := got.Tasks[0]
	require.Equal(t, reviewer.ID, task.Reviewed.By)
	require.Len(t, task.Authorized, 1)
	require.Equal(t, first.ID, task.Authorized[0].By)
	require.NotNil(t, task.Authorizations)
	require.Equal(t, 1, task.Authorizations.Done)
	require.Equal(t, 2, task.Authorizations.Required)
	require.Equal(t, "2026-03-13T10:00:00+08:00", task.ExpiresAt, "updated_at + 72 h")
	// The first authorizer: already authorized it.
	require.Empty(t, b.tasks(t, b.auth.issue(first.ID, b.mine.customer.ID), "stage=authorization").ids())
}

func TestTaskListBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, token := b.staffOf(t, b.mine, payment.RoleReviewer)
	p := b.submit(t, b.mine)
	b.forceState(t, p.ID, payment.StateAwaitingReview)
	b.forceState(t, b.submit(t, b.mine).ID, payment.StateAwaitingReview)
	next := *b.tasks(t, token, "stage=review&limit=1").Next
	require.NotEmpty(t, next)
	forged := base64.RawURLEncoding.EncodeToString([]byte("t1|review|2026-03-12|0|'; DROP TABLE payments; --"))
	for query, field := range map[string]string{
		"":                                         "stage",
		"stage=":                                   "stage",
		"stage=audit":                              "stage",
		"stage=review&stage=review":                "stage",
		"stage=review&state=awaiting_review":       "state",
		"stage=review&limit=0":                     "limit",
		"stage=review&limit=501":                   "limit",
		"stage=review&limit=ten":                   "limit",
		"stage=review&after=" + p.ID:               "after",
		"stage=review&after=%00":                   "after",
		"stage=review&after=" + forged:             "after",
		"stage=authorization&after=" + next:        "after", // another stage's cursor
		"stage=review&after=" + next + "x":         "after",
		"stage=review&after=" + next[:len(next)-2]: "after",
	} {
		a := b.do(t, http.MethodGet, "/v1/tasks?"+query, token, "")
		msg := a.requireError(t, http.StatusBadRequest, "invalid_input")
		require.Contains(t, msg, field, "query %q", query)
	}
	// Without a token, or with one that is not valid.
	b.do(t, http.MethodGet, "/v1/tasks?stage=review", "", "").requireError(t, http.StatusUnauthorized, "token_invalid")
	b.do(t, http.MethodGet, "/v1/tasks?stage=review", "forged", "").requireError(t, http.StatusUnauthorized, "token_invalid")
	b.do(t, http.MethodPost, "/v1/tasks?stage=review", token, "").requireError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

// refusingStore offers its own candidates instead of what the real store
// finds (the person comes from the real store): the store's SQL going
// wrong.
type refusingStore struct {
	httpapi.Store
	extra []httpapi.TaskCandidate
}

func (s refusingStore) TaskCandidates(ctx context.Context, q httpapi.TaskQuery) (payment.User, []httpapi.TaskCandidate, error) {
	u, _, err := s.Store.TaskCandidates(ctx, q)
	return u, s.extra, err
}

// TestTaskListAppliesTheDecisionRule: whatever the store offers, the API
// lists only what payment.MayDecide allows: the decision's own rule.
func TestTaskListAppliesTheDecisionRule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reviewer, token := b.staffOf(t, b.mine, payment.RoleReviewer)
	ok := b.submit(t, b.mine)
	acted := b.submit(t, b.mine)
	big := b.submit(t, b.mine)
	theirs := b.submit(t, b.other)
	for _, p := range []*payment.Payment{ok, acted, big, theirs} {
		b.forceState(t, p.ID, payment.StateAwaitingReview)
		p.State = payment.StateAwaitingReview
	}
	over := int64(1)
	b.srv = b.serve(t, refusingStore{Store: b.store, extra: []httpapi.TaskCandidate{
		{Payment: acted, Applied: []httpapi.AppliedDecision{{ActorID: reviewer.ID, Stage: payment.StageReview, Verdict: payment.VerdictApprove}}},
		{Payment: theirs},
		{Payment: big, Limit: &over},
		{Payment: ok},
	}})
	require.Equal(t, []string{ok.ID}, b.tasks(t, token, "stage=review").ids())
}

// TestSecurityTaskListKeepsCustomersApart: a person's list holds their
// customer's payments only, on every page, whatever cursor they send: a
// cursor read from another customer's list is only a position in their
// own.
func TestSecurityTaskListKeepsCustomersApart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, mine := b.staffOf(t, b.mine, payment.RoleReviewer)
	_, theirs := b.staffOf(t, b.other, payment.RoleReviewer)
	own := map[string]string{}
	for range 3 {
		for _, tn := range []tenant{b.mine, b.other} {
			p := b.submit(t, tn)
			b.forceState(t, p.ID, payment.StateAwaitingReview)
			own[p.ID] = tn.customer.ID
		}
		b.clock.Advance(time.Minute)
	}
	walk := func(token, customer, after string) int {
		t.Helper()
		n := 0
		for range 10 {
			q := "stage=review&limit=1"
			if after != "" {
				q += "&after=" + url.QueryEscape(after)
			}
			p := b.tasks(t, token, q)
			for _, task := range p.Tasks {
				require.Equal(t, customer, own[task.Payment.ID], "payment %s of another customer listed", task.Payment.ID)
				require.Equal(t, customer, task.Payment.CustomerID)
				n++
			}
			if *p.Next == "" {
				return n
			}
			after = *p.Next
		}
		t.Fatal("the list never ended")
		return n
	}
	require.Equal(t, 3, walk(mine, b.mine.customer.ID, ""))
	require.Equal(t, 3, walk(theirs, b.other.customer.ID, ""))
	// Their first cursor, sent by us: a position in our list, nothing of theirs.
	cursor := *b.tasks(t, theirs, "stage=review&limit=1").Next
	require.NotEmpty(t, cursor)
	require.LessOrEqual(t, walk(mine, b.mine.customer.ID, cursor), 3)
}
