package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

func TestBatchState(t *testing.T) {
	st := func(settled, rejected, returned, exported int) map[payment.State]int {
		return map[payment.State]int{payment.StateSettled: settled, payment.StateRejected: rejected,
			payment.StateReturned: returned, payment.StateExported: exported}
	}
	for _, c := range []struct {
		file   string
		states map[payment.State]int
		want   string
	}{
		{"claimed", st(0, 0, 0, 3), BatchClaimed},
		{"written", st(0, 0, 0, 3), BatchWritten},
		{"written", nil, BatchWritten},
		{"written", st(3, 0, 0, 0), BatchSettled},
		{"written", st(0, 1, 2, 0), BatchRejected},
		{"written", st(1, 0, 0, 2), BatchPartly},
		{"written", st(2, 0, 1, 0), BatchPartly},
	} {
		require.Equal(t, c.want, batchState(c.file, 3, c.states), "%s %v", c.file, c.states)
	}
}

func TestRunView(t *testing.T) {
	at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	require.Equal(t, RunUnfinished, runView(CutoffRun{CutoffAt: at, Batches: 2}).Result)
	require.Equal(t, RunUnfinished, runView(CutoffRun{CutoffAt: at, FinishedAt: at, Batches: 2, Unwritten: 1}).Result)
	require.Equal(t, RunEmpty, runView(CutoffRun{CutoffAt: at, FinishedAt: at}).Result)
	v := runView(CutoffRun{CutoffAt: at, FinishedAt: at, Batches: 2})
	require.Equal(t, RunFinished, v.Result)
	require.Equal(t, time.UTC, v.CutoffAt.Location())
	require.True(t, v.CutoffAt.Equal(at))
	require.True(t, v.StartedAt.IsZero())
}

func TestPlainName(t *testing.T) {
	for _, ok := range []string{"B-20260310-1.pacs.008.001.08.xml", "a"} {
		require.True(t, plainName(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "../x.xml", "/etc/passwd", "a/b", "dir/"} {
		require.False(t, plainName(bad), bad)
	}
}

func TestLimit(t *testing.T) {
	require.Equal(t, DefaultLimit, limit(0))
	require.Equal(t, DefaultLimit, limit(-3))
	require.Equal(t, 7, limit(7))
	require.Equal(t, MaxLimit, limit(MaxLimit+1))
}

func TestDeadLetterViewClips(t *testing.T) {
	v := deadLetterView(DeadLetter{Source: DeadRejected, Key: "k", Reason: strings.Repeat("r", 1000),
		Excerpt: []byte("\x00\xffstart" + strings.Repeat("好", 100)), BodyBytes: 10000})
	require.LessOrEqual(t, len(v.Reason), ReasonChars+len("…"))
	require.True(t, v.Clipped)
	require.NotContains(t, v.Excerpt, "\x00")
	require.True(t, strings.HasPrefix(v.Excerpt, "\uFFFDstart"))
	require.LessOrEqual(t, len(v.Excerpt), ExcerptBytes+len("…"))

	cut := deadLetterView(DeadLetter{Excerpt: []byte("ab好")[:4], BodyBytes: 100})
	require.Equal(t, "ab…", cut.Excerpt)

	whole := deadLetterView(DeadLetter{Excerpt: []byte("{}"), BodyBytes: 2})
	require.False(t, whole.Clipped)
	require.Equal(t, "{}", whole.Excerpt)
	none := deadLetterView(DeadLetter{Source: DeadRefused})
	require.Empty(t, none.Excerpt)
	require.False(t, none.Clipped)
}

func TestAmountString(t *testing.T) {
	require.Equal(t, "1234.56 CNY", Amount{Minor: 123456, Currency: "CNY"}.String())
}
