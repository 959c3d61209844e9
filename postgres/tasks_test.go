package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
)

// tasks returns every page of user's task list at stage, limit at a time,
// and requires that the store offers only what payment.MayDecide allows:
// the SQL and the rule of the decision agree on every row.
func (b *bundle) tasks(t *testing.T, user payment.User, stage payment.Stage, limit int) []httpapi.TaskCandidate {
	t.Helper()
	var out []httpapi.TaskCandidate
	q := httpapi.TaskQuery{UserID: user.ID, CustomerID: user.CustomerID, Stage: stage, Limit: limit}
	for range 1000 {
		person, page, err := b.store.TaskCandidates(t.Context(), q)
		require.NoError(t, err)
		require.Equal(t, user.ID, person.ID)
		for _, c := range page {
			require.NoError(t, c.Payment.MayDecide(person, stage, payment.VerdictApprove, c.Facts()), "the store offered %s", c.Payment.ID)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after := httpapi.CursorOf(page[len(page)-1].Payment)
		q.After = &after
	}
	t.Fatal("the task list never ended")
	return nil
}

// taskIDs are the payment ids of user's task list at stage, in order.
func (b *bundle) taskIDs(t *testing.T, user payment.User, stage payment.Stage) []string {
	t.Helper()
	var ids []string
	for _, c := range b.tasks(t, user, stage, 2) { // pages of two: the keyset is used too
		ids = append(ids, c.Payment.ID)
	}
	return ids
}

// confirmed submits a payment and has its applicant confirm it, a new OTP
// step later.
func (a *approvals) confirmed(t *testing.T, mods ...func(*payment.Request)) *payment.Payment {
	t.Helper()
	a.clock.Advance(31 * time.Second)
	p := a.submitPayment(t, mods...)
	a.applied(t, a.confirmation(t, p))
	return a.payment(t, p.ID)
}

// reviewedBy has reviewer approve p, a new OTP step later.
func (a *approvals) reviewedBy(t *testing.T, p *payment.Payment, reviewer payment.User) *payment.Payment {
	t.Helper()
	a.clock.Advance(31 * time.Second)
	a.applied(t, a.decision(p, reviewer, payment.StageReview, payment.VerdictApprove))
	return a.payment(t, p.ID)
}

func amount(s string) func(*payment.Request) { return func(r *payment.Request) { r.Amount = s } }
func executing(d string) func(*payment.Request) {
	return func(r *payment.Request) { r.ExecutionDate = d }
}

// TestTaskCandidatesConfirmationAndReview: the applicant sees their own
// payments awaiting confirmation; a reviewer sees the payments of their
// customer awaiting review, except those over their limit and those they
// applied for themselves; another customer's payments and a stage whose
// role they lack give nothing.
func TestTaskCandidatesConfirmationAndReview(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	other := setupApprovalsOn(t, a.pool, baseTime)
	otherReviewer := other.newUser(t, payment.RoleReviewer)
	otherP := other.confirmed(t)

	reviewer := a.newUser(t, payment.RoleReviewer)
	require.NoError(t, a.store.UserSetLimit(ctx, reviewer.ID, "CNY", 2_000_000_00, "test"))
	// An applicant who also reviews: never their own payment.
	both := a.newUser(t, payment.RoleApplicant, payment.RoleReviewer)
	bothSeed := a.otp.enroll(t, a.bundle, both.ID, nil)

	p1 := a.confirmed(t, executing("2026-03-13"))
	p2 := a.confirmed(t, executing("2026-03-12"))
	big := a.confirmed(t, amount("2500000.00"), executing("2026-03-11"))
	a.clock.Advance(31 * time.Second)
	own := a.submitPayment(t, func(r *payment.Request) { r.Applicant = both.ID })
	c := a.decision(own, both, payment.StageConfirmation, payment.VerdictApprove)
	c.OTP, _ = code(t, a.bundle, bothSeed, 0)
	a.applied(t, c)
	waiting := a.submitPayment(t)
	// Moved to review with SQL, without a confirmation row: still their own.
	forced := a.submitPayment(t, func(r *payment.Request) { r.Applicant = both.ID; r.ExecutionDate = "2026-03-30" })
	a.forceState(t, forced.ID, payment.StateAwaitingReview)

	// Review, most urgent first: execution date, then updated_at, then id.
	require.Equal(t, []string{p2.ID, own.ID, p1.ID, forced.ID}, a.taskIDs(t, reviewer, payment.StageReview), "over the limit: left out")
	require.Equal(t, []string{big.ID, p2.ID, p1.ID}, a.taskIDs(t, both, payment.StageReview), "their own application: left out")
	require.Equal(t, []string{otherP.ID}, other.taskIDs(t, otherReviewer, payment.StageReview), "another customer's: never")
	require.Empty(t, a.taskIDs(t, reviewer, payment.StageAuthorization), "without the authorizer role")
	require.Empty(t, a.taskIDs(t, reviewer, payment.StageConfirmation), "without the applicant role")

	// Confirmation: the applicant's own payments only.
	require.Equal(t, []string{waiting.ID}, a.taskIDs(t, a.applicant, payment.StageConfirmation))
	require.Empty(t, a.taskIDs(t, both, payment.StageConfirmation))

	// What a row carries: the applied decisions, the person's limit.
	got := a.tasks(t, reviewer, payment.StageReview, 10)
	require.Len(t, got, 4)
	require.Equal(t, p2.Digest(), got[0].Payment.Digest())
	require.Len(t, got[0].Applied, 1)
	require.Equal(t, httpapi.AppliedDecision{ActorID: a.applicant.ID, Stage: payment.StageConfirmation, Verdict: payment.VerdictApprove,
		At: got[0].Applied[0].At}, got[0].Applied[0])
	require.WithinDuration(t, p2.UpdatedAt, got[0].Applied[0].At, time.Second)
	require.NotNil(t, got[0].Limit)
	require.EqualValues(t, 2_000_000_00, *got[0].Limit)

	// A disabled person has no tasks.
	_, err := a.pool.Exec(ctx, `UPDATE users SET active = false WHERE id = $1`, reviewer.ID)
	require.NoError(t, err)
	require.Empty(t, a.taskIDs(t, reviewer, payment.StageReview))
}

// TestTaskCandidatesAuthorization: the reviewer never sees what they
// reviewed; an authorizer over their limit does not see it; with a tier of
// two, the first authorizer no longer sees the payment they authorized,
// and the second sees it with the first authorization.
func TestTaskCandidatesAuthorization(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	require.NoError(t, a.store.ApprovalTierSet(ctx, a.customer.ID, "CNY", 1_000_000_00, 2))
	// A person with both roles reviews: never their authorization.
	checker := a.newUser(t, payment.RoleReviewer, payment.RoleAuthorizer)
	a1, seed1 := a.authorizer(t)
	a2, _ := a.authorizer(t)
	small, _ := a.authorizer(t)
	require.NoError(t, a.store.UserSetLimit(ctx, small.ID, "CNY", 1_000_00, "test"))

	one := a.reviewedBy(t, a.confirmed(t, amount("500.00")), checker)
	two := a.reviewedBy(t, a.confirmed(t, amount("1286400.50")), checker)
	require.Equal(t, 2, two.RequiredAuthorizers)

	require.Empty(t, a.taskIDs(t, checker, payment.StageAuthorization), "the reviewer")
	require.Equal(t, []string{one.ID, two.ID}, a.taskIDs(t, a1, payment.StageAuthorization))
	require.Equal(t, []string{one.ID}, a.taskIDs(t, small, payment.StageAuthorization), "over the limit: left out")
	require.Empty(t, a.taskIDs(t, checker, payment.StageReview), "nothing left at review")

	// The first of two authorizations.
	a.clock.Advance(31 * time.Second)
	res := a.applied(t, a.authorization(t, two, a1, seed1))
	require.Equal(t, payment.StateAwaitingAuthorization, res.State)
	require.Equal(t, []string{one.ID}, a.taskIDs(t, a1, payment.StageAuthorization), "already authorized by them")
	got := a.tasks(t, a2, payment.StageAuthorization, 10)
	require.Len(t, got, 2)
	require.Equal(t, two.ID, got[1].Payment.ID)
	f := got[1].Facts()
	require.Equal(t, 1, f.Authorizations)
	require.Equal(t, 2, f.RequiredAuthorizers)
	require.Equal(t, []string{a.applicant.ID, checker.ID, a1.ID}, f.Acted)
}

// forceWaiting submits n payments executing on date and moves them to
// awaiting review at updated, behind the domain's back (the ordering and
// paging tests are not about the approval).
func (b *bundle) forceWaiting(t *testing.T, date string, updated time.Time, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		p := b.submitPayment(t, executing(date))
		_, err := b.pool.Exec(t.Context(), `UPDATE payments SET state = 'awaiting_review', updated_at = $2 WHERE id = $1`, p.ID, updated)
		require.NoError(t, err)
		ids = append(ids, p.ID)
	}
	return ids
}

// TestTaskCandidatesOrder: execution date first (the cutoff that takes the
// payment), then updated_at (its expiry), then id (its age).
func TestTaskCandidatesOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reviewer := b.newUser(t, payment.RoleReviewer)
	t0 := baseTime.Add(-time.Hour)
	late := b.forceWaiting(t, "2026-03-20", t0, 1)
	old := b.forceWaiting(t, "2026-03-12", t0.Add(-time.Hour), 1)
	fresh := b.forceWaiting(t, "2026-03-12", t0.Add(time.Minute), 1)
	same := b.forceWaiting(t, "2026-03-12", t0, 3)
	slices.Sort(same)
	want := append(append(append(old, same...), fresh...), late...)
	require.Equal(t, want, b.taskIDs(t, reviewer, payment.StageReview))
}

// TestTaskCandidatesPagesWhileInserting: paging through a list while new
// payments arrive (more urgent and less urgent than the page reached)
// returns every payment that was there at the start exactly once, never
// one twice, always in order.
func TestTaskCandidatesPagesWhileInserting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reviewer := b.newUser(t, payment.RoleReviewer)
	t0 := baseTime.Add(-time.Hour)
	var start []string
	for i, d := range []string{"2026-03-11", "2026-03-12", "2026-03-13"} {
		start = append(start, b.forceWaiting(t, d, t0.Add(time.Duration(i)*time.Second), 8)...)
		start = append(start, b.forceWaiting(t, d, t0.Add(time.Minute), 4)...)
	}
	seen := map[string]int{}
	var keys []httpapi.TaskCursor
	q := httpapi.TaskQuery{UserID: reviewer.ID, CustomerID: b.customer.ID, Stage: payment.StageReview, Limit: 5}
	for page := 0; ; page++ {
		_, got, err := b.store.TaskCandidates(t.Context(), q)
		require.NoError(t, err)
		for _, c := range got {
			seen[c.Payment.ID]++
			keys = append(keys, httpapi.CursorOf(c.Payment))
		}
		if len(got) < q.Limit {
			break
		}
		// New work arrives between pages: before and after the cursor.
		b.forceWaiting(t, "2026-03-11", t0.Add(-time.Minute), 1)
		b.forceWaiting(t, "2026-03-13", t0.Add(2*time.Minute), 1)
		after := httpapi.CursorOf(got[len(got)-1].Payment)
		q.After = &after
		require.Less(t, page, 100)
	}
	for _, id := range start {
		require.Equal(t, 1, seen[id], "payment %s", id)
	}
	for id, n := range seen {
		require.Equal(t, 1, n, "payment %s seen twice", id)
	}
	require.True(t, slices.IsSortedFunc(keys, func(x, y httpapi.TaskCursor) int {
		if c := x.ExecutionDate.Compare(y.ExecutionDate); c != 0 {
			return c
		}
		if c := x.UpdatedAt.Compare(y.UpdatedAt); c != 0 {
			return c
		}
		return compareStrings(x.ID, y.ID)
	}))
}

func compareStrings(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// TestTaskCandidatesRefusesBadQueries: a stage, limit or cursor no query
// can honour is the caller's mistake.
func TestTaskCandidatesRefusesBadQueries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, q := range []httpapi.TaskQuery{
		{UserID: b.applicant.ID, CustomerID: b.customer.ID, Stage: "audit", Limit: 5},
		{UserID: b.applicant.ID, CustomerID: b.customer.ID, Stage: payment.StageReview, Limit: 0},
		{UserID: b.applicant.ID, CustomerID: b.customer.ID, Stage: payment.StageReview, Limit: httpapi.MaxPageSize + 1},
		{UserID: b.applicant.ID, CustomerID: b.customer.ID, Stage: payment.StageReview, Limit: 5, After: &httpapi.TaskCursor{ID: "{not-a-uuid}"}},
	} {
		_, _, err := b.store.TaskCandidates(t.Context(), q)
		require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err), "%+v: %v", q, err)
	}
}

// TestTaskSQLReadsTheIndexInOrder: each stage's query, on the first page
// and after a cursor, is an index scan of migration 0012's index in the
// list's order, with no sort: a page reads as many rows as it keeps (and
// those the exclusions drop), never every waiting payment of the stage.
func TestTaskSQLReadsTheIndexInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.forceWaiting(t, "2026-03-12", baseTime, 3)
	for _, stage := range payment.Stages {
		for _, after := range []bool{false, true} {
			tx, err := b.pool.Begin(t.Context())
			require.NoError(t, err)
			// A planner that misjudges the rows (here: that finds index reads
			// dear) would read them all and sort; the store's setting keeps it
			// on the index.
			_, err = tx.Exec(t.Context(), `SET LOCAL random_page_cost = 10000`)
			require.NoError(t, err)
			_, err = tx.Exec(t.Context(), postgres.TaskPlanSetting)
			require.NoError(t, err)
			args := []any{b.applicant.ID, b.customer.ID, 50}
			if after {
				args = append(args, baseTime, baseTime, "00000000-0000-7000-8000-000000000000")
			}
			rows, err := tx.Query(t.Context(), "EXPLAIN "+postgres.TaskSQL(stage, after), args...)
			require.NoError(t, err)
			var plan []string
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				plan = append(plan, line)
			}
			require.NoError(t, rows.Err())
			require.NoError(t, tx.Rollback(t.Context()))
			text := strings.Join(plan, "\n")
			index := "payments_tasks"
			if stage == payment.StageConfirmation {
				index = "payments_confirmation_tasks"
			}
			require.Contains(t, text, "Index Scan using "+index+" on payments p", "%s after=%v:\n%s", stage, after, text)
			require.NotContains(t, text, "Sort", "%s after=%v:\n%s", stage, after, text)
		}
	}
}
