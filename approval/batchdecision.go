package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Refusals of a batch decision.
const (
	// CodeBatchMismatch: the count, totals or batch digest a batch carries
	// are not those of its items, or an item's amount or currency is not
	// its payment's.
	CodeBatchMismatch payment.Code = "batch_mismatch"
	// CodeBatchCapExceeded: more items, or a larger total in a currency,
	// than the customer's or the person's caps allow in one batch.
	CodeBatchCapExceeded payment.Code = "batch_cap_exceeded"
	// CodeBatchNotApplied: an item that would have been applied, in an
	// all-or-nothing batch of which another item was refused.
	CodeBatchNotApplied payment.Code = "batch_not_applied"
)

// BatchDigestTag starts the canonical bytes of a batch digest (its
// version).
const BatchDigestTag = "b2bpay.decision-batch.v1"

// MaxBatchItems is the most items any batch may carry, whatever the caps.
const MaxBatchItems = 5000

// BatchItem is one payment of a batch decision: its id, and the content
// digest, currency and amount (minor units) the person was shown.
type BatchItem struct {
	PaymentID   string `json:"payment_id"`
	Digest      string `json:"digest"`
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
}

// Total is a batch's total in one currency, in minor units.
type Total struct {
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
}

// BatchDecision is one person's decision on many payments at one stage,
// confirmed with one one-time password. Its actor comes from the verified
// session token, as a Decision's.
type BatchDecision struct {
	DecisionID   string
	Stage        payment.Stage
	Verdict      payment.Verdict
	Reason       string
	OTP          string
	AllOrNothing bool
	Items        []BatchItem
	// Count, Totals and BatchDigest are what the sender computed and
	// showed; the worker recomputes them from Items (CheckBatchSums).
	Count       int
	Totals      []Total
	BatchDigest string
	UserID      string
	SessionID   string
	ReplyTo     string
}

// Outcomes of a batch: every item applied, some, or none.
const (
	BatchApplied = "applied"
	BatchPartial = "partial"
	BatchRefused = "refused"
)

// BatchResultSchema names the batch result contract.
const BatchResultSchema = "b2bpay.decision-batch-result.v1"

// BatchResult answers a batch decision: the batch's outcome (a refusal of
// the whole batch has its code and reason) and each item's result, in the
// batch's canonical order (by payment id). A batch sent again with the same
// id gets the same result.
type BatchResult struct {
	Schema      string          `json:"schema"`
	DecisionID  string          `json:"decision_id"`
	Outcome     string          `json:"outcome"`
	Code        payment.Code    `json:"code,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Stage       payment.Stage   `json:"stage"`
	Verdict     payment.Verdict `json:"verdict"`
	Count       int             `json:"count"`
	Applied     int             `json:"applied"`
	Refused     int             `json:"refused"`
	BatchDigest string          `json:"batch_digest"`
	Items       []Result        `json:"items"`
	At          time.Time       `json:"at"`
}

// SortItems returns the items in canonical order: by payment id, byte by
// byte.
func SortItems(items []BatchItem) []BatchItem {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b BatchItem) int { return strings.Compare(a.PaymentID, b.PaymentID) })
	return out
}

// SumItems returns the totals of items per currency, sorted by currency
// code; an overflow of int64 is an error.
func SumItems(items []BatchItem) ([]Total, error) {
	sums := map[string]int64{}
	for _, it := range items {
		s := sums[it.Currency]
		if it.AmountMinor < 0 || s > math.MaxInt64-it.AmountMinor {
			return nil, payment.Errorf(CodeBatchMismatch, "the total in %s does not fit in 64 bits", it.Currency)
		}
		sums[it.Currency] = s + it.AmountMinor
	}
	out := make([]Total, 0, len(sums))
	for c, s := range sums {
		out = append(out, Total{Currency: c, AmountMinor: s})
	}
	slices.SortFunc(out, func(a, b Total) int { return strings.Compare(a.Currency, b.Currency) })
	return out, nil
}

// BatchDigestInput is the canonical byte string a batch digest is the
// SHA-256 of: lines ending in "\n", in this order:
//
//	b2bpay.decision-batch.v1
//	stage:<stage>
//	verdict:<verdict>
//	count:<number of items, decimal>
//	total:<currency>:<minor units, decimal>      one per currency, by currency code
//	item:<payment id>:<digest>:<currency>:<minor units, decimal>   one per item, by payment id
//
// Decimals have no sign, no leading zeros and no separators. The decoder
// admits no ':' or newline in any of these fields (UUIDs, hex digests, ISO
// currency codes), so the string is unambiguous.
func BatchDigestInput(stage payment.Stage, verdict payment.Verdict, items []BatchItem, totals []Total) []byte {
	sorted := SortItems(items)
	var b strings.Builder
	b.WriteString(BatchDigestTag + "\n")
	b.WriteString("stage:" + string(stage) + "\n")
	b.WriteString("verdict:" + string(verdict) + "\n")
	b.WriteString("count:" + strconv.Itoa(len(sorted)) + "\n")
	for _, t := range totals {
		b.WriteString("total:" + t.Currency + ":" + strconv.FormatInt(t.AmountMinor, 10) + "\n")
	}
	for _, it := range sorted {
		b.WriteString("item:" + it.PaymentID + ":" + it.Digest + ":" + it.Currency + ":" + strconv.FormatInt(it.AmountMinor, 10) + "\n")
	}
	return []byte(b.String())
}

// BatchDigest is the lowercase hex SHA-256 of BatchDigestInput: what the
// client shows beside the OTP prompt.
func BatchDigest(stage payment.Stage, verdict payment.Verdict, items []BatchItem, totals []Total) string {
	sum := sha256.Sum256(BatchDigestInput(stage, verdict, items, totals))
	return hex.EncodeToString(sum[:])
}

// Summarize computes what a sender puts in a batch: its count, totals and
// digest, from its items.
func Summarize(stage payment.Stage, verdict payment.Verdict, items []BatchItem) (count int, totals []Total, digest string, err error) {
	totals, err = SumItems(items)
	if err != nil {
		return 0, nil, "", err
	}
	return len(items), totals, BatchDigest(stage, verdict, items, totals), nil
}

// CheckBatchSums recomputes a batch's count, totals and digest from its
// items and refuses (CodeBatchMismatch) any that differ from what it
// carries, and a payment named twice.
func CheckBatchSums(bd BatchDecision) error {
	seen := make(map[string]bool, len(bd.Items))
	for _, it := range bd.Items {
		if seen[it.PaymentID] {
			return payment.Errorf(CodeBatchMismatch, "payment %s is in the batch twice", it.PaymentID)
		}
		seen[it.PaymentID] = true
	}
	count, totals, digest, err := Summarize(bd.Stage, bd.Verdict, bd.Items)
	switch {
	case err != nil:
		return err
	case bd.Count != count:
		return payment.Errorf(CodeBatchMismatch, "the batch says %d items, it has %d", bd.Count, count)
	case !slices.Equal(bd.Totals, totals):
		return payment.Errorf(CodeBatchMismatch, "the batch's totals %s are not its items' %s", formatTotals(bd.Totals), formatTotals(totals))
	case bd.BatchDigest != digest:
		return payment.Errorf(CodeBatchMismatch, "the batch digest is not that of its items, count and totals")
	}
	return nil
}

func formatTotals(ts []Total) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Currency + " " + strconv.FormatInt(t.AmountMinor, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// BatchCap bounds one batch: at most MaxItems items (0: no bound of its
// own) and at most MaxTotal[currency] minor units in a currency (no entry:
// no bound).
type BatchCap struct {
	MaxItems int
	MaxTotal map[string]int64
}

// Check refuses (CodeBatchCapExceeded) a batch of count items with these
// totals that the cap does not allow; whose names whose cap it is.
func (c BatchCap) Check(whose string, count int, totals []Total) error {
	if c.MaxItems > 0 && count > c.MaxItems {
		return payment.Errorf(CodeBatchCapExceeded, "%d items: %s allows at most %d in one batch", count, whose, c.MaxItems)
	}
	for _, t := range totals {
		if limit, ok := c.MaxTotal[t.Currency]; ok && t.AmountMinor > limit {
			return payment.Errorf(CodeBatchCapExceeded, "the total in %s is %s: %s allows at most %s in one batch", t.Currency,
				payment.FormatAmount(t.AmountMinor, t.Currency), whose, payment.FormatAmount(limit, t.Currency))
		}
	}
	return nil
}

// ItemDecisionID is the decision id of the i-th item (from 1, in canonical
// order) of batch id: "<id>:<i>". A batch id is at most MaxBatchIDLength
// characters, so every item id is a valid decision id.
func ItemDecisionID(batchID string, i int) string { return batchID + ":" + strconv.Itoa(i) }

// MaxBatchIDLength is the longest batch decision id (room for ":<i>").
const MaxBatchIDLength = 58

// outcomeOf is a batch's outcome from its items' results.
func outcomeOf(rs []Result) (outcome string, applied, refused int) {
	for _, r := range rs {
		if r.Outcome == Applied {
			applied++
		} else {
			refused++
		}
	}
	switch {
	case refused == 0 && applied > 0:
		return BatchApplied, applied, refused
	case applied == 0:
		return BatchRefused, applied, refused
	}
	return BatchPartial, applied, refused
}
