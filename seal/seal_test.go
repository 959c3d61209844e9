package seal_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

func newKey(t *testing.T, s string) *seal.Key {
	t.Helper()
	k, err := seal.New([]byte(s + " — a test key of at least 32 bytes"))
	require.NoError(t, err)
	return k
}

func TestNewRefusesShortKeys(t *testing.T) {
	t.Parallel()
	_, err := seal.New(make([]byte, 31))
	require.Error(t, err)
}

// TestMACsAreUnambiguous: fields are length-prefixed, so moving bytes from
// one field to the next changes the MAC; a decision's MAC is never an
// entry's; another key gives another MAC.
func TestMACsAreUnambiguous(t *testing.T) {
	t.Parallel()
	k := newKey(t, "one")
	d := seal.Decision{PaymentID: "p1", Digest: "abc", ActorID: "rita", Stage: payment.StageReview, Verdict: payment.VerdictApprove, RequiredAuthorizers: 1, Seq: 2}
	shifted := d
	shifted.Digest, shifted.ActorID = "abcr", "ita"
	require.NotEqual(t, k.Decision(d), k.Decision(shifted))
	require.Equal(t, k.Decision(d), k.Decision(d), "deterministic")
	require.NotEqual(t, k.Decision(d), newKey(t, "two").Decision(d))
	for _, change := range []func(*seal.Decision){
		func(d *seal.Decision) { d.PaymentID = "p2" },
		func(d *seal.Decision) { d.Digest = "abd" },
		func(d *seal.Decision) { d.ActorID = "alex" },
		func(d *seal.Decision) { d.Stage = payment.StageAuthorization },
		func(d *seal.Decision) { d.Verdict = payment.VerdictReject },
		func(d *seal.Decision) { d.OTPStep = 1 },
		func(d *seal.Decision) { d.RequiredAuthorizers = 2 },
		func(d *seal.Decision) { d.Seq = 3 },
		func(d *seal.Decision) { d.Prev = []byte{0} },
	} {
		c := d
		change(&c)
		require.NotEqual(t, k.Decision(d), k.Decision(c), "%+v", c)
	}
	e := payment.Entry{PaymentID: "p1", Seq: 1, Actor: payment.Actor{Kind: payment.ActorUser, ID: "rita"}, Action: payment.ActionApprove}
	e.Hash = e.ComputeHash()
	require.NotEqual(t, k.Entry("abc", e), k.Entry("abd", e))
	step := e
	step.OTPStep = 7
	require.NotEqual(t, k.Entry("abc", e), k.Entry("abc", step))
}

// fixture is an authorized payment needing two authorizers with its
// timeline and decisions, as the store seals them.
type fixture struct {
	k  *seal.Key
	p  *payment.Payment
	tl []payment.Entry
	ds []seal.Stored
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := newKey(t, "one")
	at := time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC)
	p := &payment.Payment{ID: "0190a1b2-0000-7000-8000-000000000001", OrderRef: "PO-1", CustomerID: "C1", ApplicantID: "ann",
		BankID: "104100000004", DebtorAccount: "6217000010001234567", AmountMinor: 128640050, Currency: "CNY",
		Creditor:      payment.Creditor{Name: "Creditor", Account: "31001520313050012345", BankID: "105290036005"},
		ExecutionDate: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), RequiredAuthorizers: 2}
	f := &fixture{k: k, p: p}
	apply := func(a payment.Action, who payment.Actor, step int64) {
		e, err := p.Apply(a, who, at, "")
		require.NoError(t, err)
		e.OTPStep = step
		k.Seal(p.Digest(), &e)
		f.tl = append(f.tl, e)
	}
	apply(payment.ActionReceive, payment.Actor{Kind: payment.ActorUpstream, ID: "erp"}, 0)
	apply(payment.ActionRequestConfirmation, payment.Actor{Kind: payment.ActorSystem, ID: "intake"}, 0)
	var prev []byte
	for i, d := range []struct {
		stage  payment.Stage
		actor  string
		action payment.Action
		step   int64
	}{
		{payment.StageConfirmation, "ann", payment.ActionConfirm, 100},
		{payment.StageReview, "rita", payment.ActionApprove, 0},
		{payment.StageAuthorization, "alex", payment.ActionAuthorizePartial, 101},
		{payment.StageAuthorization, "bo", payment.ActionAuthorize, 102},
	} {
		sd := seal.Decision{PaymentID: p.ID, Digest: p.Digest(), ActorID: d.actor, Stage: d.stage, Verdict: payment.VerdictApprove,
			OTPStep: d.step, RequiredAuthorizers: 2, Seq: i + 1, Prev: prev}
		mac := k.Decision(sd)
		sd.Prev = nil // read back without it: the chain gives it
		f.ds = append(f.ds, seal.Stored{Decision: sd, MAC: mac})
		prev = mac
		apply(d.action, payment.Actor{Kind: payment.ActorUser, ID: d.actor}, d.step)
	}
	require.Equal(t, payment.StateAuthorized, p.State)
	return f
}

func (f *fixture) check() []string {
	return append(seal.Kinds(f.k.CheckApprovals(f.p, f.ds, seal.UserActors(f.tl)...)), seal.Kinds(f.k.CheckTimeline(f.p, f.tl))...)
}

// TestCheck: an untouched payment checks clean (decisions in any order);
// each change is named.
func TestCheck(t *testing.T) {
	t.Parallel()
	require.Empty(t, newFixture(t).check())
	reversed := newFixture(t)
	for i, j := 0, len(reversed.ds)-1; i < j; i, j = i+1, j-1 {
		reversed.ds[i], reversed.ds[j] = reversed.ds[j], reversed.ds[i]
	}
	require.Empty(t, reversed.check())

	for _, tt := range []struct {
		name   string
		change func(f *fixture)
		want   []string
	}{
		{"Amount", func(f *fixture) { f.p.AmountMinor++ }, []string{seal.ContentChanged, seal.TimelineMACInvalid}},
		{"CreditorAccount", func(f *fixture) { f.p.Creditor.Account = "6222020200112233" }, []string{seal.ContentChanged, seal.TimelineMACInvalid}},
		{"ActorSwapped", func(f *fixture) { f.ds[1].ActorID = "mallory" }, []string{seal.ActorSwapped}},
		{"ReviewDeleted", func(f *fixture) { f.ds = append(f.ds[:1], f.ds[2:]...) }, []string{seal.DecisionMissing}},
		{"LastAuthorizationDeleted", func(f *fixture) { f.ds = f.ds[:3] }, []string{seal.DecisionMissing}},
		{"AuthorizersLowered", func(f *fixture) { f.p.RequiredAuthorizers = 1 }, []string{seal.DecisionMACInvalid}},
		{"DigestColumnRewritten", func(f *fixture) { f.ds[0].Digest = "0000" }, []string{seal.DecisionMACInvalid}},
		{"Unsealed", func(f *fixture) { f.ds[2].MAC = nil }, []string{seal.DecisionMACInvalid}},
		{"VerdictChanged", func(f *fixture) { f.ds[1].Verdict = payment.VerdictReject }, []string{seal.DecisionMACInvalid}},
		{"StateChanged", func(f *fixture) { f.p.State = payment.StateExported }, []string{seal.StateMismatch}},
		{"EntryRewrittenWithPlainHashes", func(f *fixture) {
			var prev []byte
			for i := range f.tl {
				f.tl[i].PrevHash = prev
				if i == 3 {
					f.tl[i].Actor.ID = "mallory"
				}
				f.tl[i].Hash = f.tl[i].ComputeHash()
				prev = f.tl[i].Hash
			}
			f.p.HeadHash = prev
		}, []string{seal.TimelineMACInvalid}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.change(f)
			got := f.check()
			require.Subset(t, got, tt.want)
			if tt.name == "EntryRewrittenWithPlainHashes" {
				seq, why := payment.VerifyChain(f.tl, f.p.HeadHash)
				require.Zero(t, seq, "the plain chain verifies (%s); only the MAC tells", why)
			}
		})
	}
}

// TestCheckNeedsThePath: what the state needs must be there, by distinct
// people.
func TestCheckNeedsThePath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	none := f.k.CheckApprovals(f.p, nil)
	require.Equal(t, []string{seal.DecisionMissing}, seal.Kinds(none))
	require.Len(t, none, 3, "confirmation, review and authorizations are each named")

	waiting := *f.p
	waiting.State = payment.StateAwaitingReview
	require.Empty(t, f.k.CheckApprovals(&waiting, f.ds[:1]))
	waiting.State = payment.StateAwaitingConfirmation
	require.Empty(t, f.k.CheckApprovals(&waiting, nil))
	waiting.State = payment.StateAwaitingAuthorization
	require.Equal(t, []string{seal.DecisionMissing}, seal.Kinds(f.k.CheckApprovals(&waiting, f.ds[:1])))
}

// BenchmarkCheckApprovals is the claim's re-check of one payment with two
// authorizers.
func BenchmarkCheckApprovals(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t)
	b.ReportAllocs()
	for b.Loop() {
		if len(f.k.CheckApprovals(f.p, f.ds)) != 0 {
			b.Fatal("not clean")
		}
	}
}

// TestCheckValidButWrongPath: decisions whose MACs check but that do not
// make the path (one person twice, a rejection on an authorized payment)
// are named too: the check does not trust that only b2bpay made MACs
// right.
func TestCheckValidButWrongPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reseal := func(ds []seal.Stored) []seal.Stored {
		var prev []byte
		out := make([]seal.Stored, len(ds))
		for i, d := range ds {
			d.Seq, d.Prev = i+1, prev
			d.MAC = f.k.Decision(d.Decision)
			d.Prev, prev = nil, d.MAC
			out[i] = d
		}
		return out
	}
	twice := append([]seal.Stored(nil), f.ds...)
	twice[3].ActorID = "rita" // the reviewer authorizes
	require.Contains(t, seal.Kinds(f.k.CheckApprovals(f.p, reseal(twice))), seal.DutiesNotSeparated)

	rejected := append([]seal.Stored(nil), f.ds...)
	rejected[1].Verdict = payment.VerdictReject
	require.Contains(t, seal.Kinds(f.k.CheckApprovals(f.p, reseal(rejected))), seal.DecisionUnexpected)
	require.Empty(t, f.k.CheckApprovals(f.p, reseal(f.ds)), "resealing the same decisions changes nothing")
}

func TestBatchDecisionMAC(t *testing.T) {
	k, err := seal.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b := seal.BatchDecision{DecisionID: "d-1", ActorID: "carol", SessionID: "s", Stage: payment.StageAuthorization,
		Verdict: payment.VerdictApprove, Count: 2, Totals: []string{"CNY:300"}, BatchDigest: "ab", OTPStep: 7, Outcome: "applied", DecidedAtMicros: 1}
	mac := k.BatchDecision(b)
	if !k.BatchSealed(b, mac) {
		t.Fatal("a batch's own MAC does not check")
	}
	for name, change := range map[string]func(*seal.BatchDecision){
		"count":   func(b *seal.BatchDecision) { b.Count = 3 },
		"totals":  func(b *seal.BatchDecision) { b.Totals = []string{"CNY:301"} },
		"digest":  func(b *seal.BatchDecision) { b.BatchDigest = "ac" },
		"step":    func(b *seal.BatchDecision) { b.OTPStep = 8 },
		"actor":   func(b *seal.BatchDecision) { b.ActorID = "bob" },
		"outcome": func(b *seal.BatchDecision) { b.Outcome = "partial" },
		"at":      func(b *seal.BatchDecision) { b.DecidedAtMicros = 2 },
		"aon":     func(b *seal.BatchDecision) { b.AllOrNothing = true },
	} {
		c := b
		change(&c)
		if k.BatchSealed(c, mac) {
			t.Errorf("%s changed, the MAC still checks", name)
		}
	}
	if k.Sealed("ab", payment.Entry{MAC: mac}) {
		t.Error("a batch MAC checks as an entry MAC")
	}
}
