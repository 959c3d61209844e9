package staff_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/staff"
)

func TestSelectionCheck(t *testing.T) {
	require.NoError(t, staff.Selection{All: true}.Check())
	require.NoError(t, staff.Selection{IDs: []string{"a"}}.Check())
	require.NoError(t, staff.Selection{MaxTotal: "100.00"}.Check())
	require.Error(t, staff.Selection{}.Check())
	require.Error(t, staff.Selection{All: true, MaxTotal: "1"}.Check())
	require.Equal(t, []string{"a", "b"}, staff.SplitIDs(" a, ,b,"))
	require.Nil(t, staff.SplitIDs(""))
}

// What the person signs is shown before the code is asked: each payment,
// the count, the totals per currency and the batch digest.
func TestShowBatch(t *testing.T) {
	cands := []staff.Candidate{
		{Task: route.Task{PaymentID: "p1", OrderRef: "SO-1", Amount: "1286400.50", Currency: "CNY", Digest: "d1", Creditor: payment.Creditor{Name: "深圳南方"}}},
		{Task: route.Task{PaymentID: "p2", OrderRef: "SO-2", Amount: "0.05", Currency: "USD", Digest: "d2", Authorizations: "2 of 2"}},
	}
	var items []approval.BatchItem
	for _, c := range cands {
		it, err := c.Item()
		require.NoError(t, err)
		items = append(items, it)
	}
	require.Equal(t, int64(128640050), items[0].AmountMinor)
	count, totals, digest, err := approval.Summarize(payment.StageAuthorization, payment.VerdictApprove, items)
	require.NoError(t, err)
	var out bytes.Buffer
	staff.ShowBatch(&out, payment.StageAuthorization, payment.VerdictApprove, cands, count, totals, digest)
	s := out.String()
	for _, want := range []string{"authorization approve of 2 payments", "p1  SO-1", "to 深圳南方", "digest d1", "(authorization 2 of 2)",
		"count        2", "total        1286400.50 CNY", "total        0.05 USD", "batch digest " + digest} {
		require.Contains(t, s, want)
	}
	require.Less(t, strings.Index(s, "count"), strings.Index(s, "batch digest"))

	out.Reset()
	staff.ShowBatchResult(&out, approval.BatchResult{DecisionID: "d-1", Outcome: approval.BatchPartial, Count: 2, Applied: 1, Refused: 1,
		Items: []approval.Result{{PaymentID: "p1", Outcome: approval.Applied, State: payment.StateAuthorized},
			{PaymentID: "p2", Outcome: approval.Refused, Reason: "over_limit: too much"}}})
	require.Contains(t, out.String(), "applied  p1  now authorized")
	require.Contains(t, out.String(), "refused  p2  over_limit: too much")
	require.Contains(t, out.String(), "batch d-1: partial, 1 applied, 1 refused of 2")
}
