package testkit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/testkit"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	c := testkit.NewClock(t0)
	require.Equal(t, t0, c.Now())
	c.Advance(90 * time.Second)
	require.Equal(t, t0.Add(90*time.Second), c.Now())
	c.Set(t0)
	require.Equal(t, t0, c.Now())
	require.True(t, (&testkit.Clock{}).Now().IsZero(), "the zero clock reads the zero time")
}

// In the unit run every service a test asks for skips it, before any
// connection is tried.
func TestUnitSkipsServices(t *testing.T) {
	t.Setenv(testkit.UnitEnv, "1")
	for name, ask := range map[string]func(testing.TB){
		"Pool":        func(t testing.TB) { testkit.Pool(t) },
		"DatabaseURL": func(t testing.TB) { testkit.DatabaseURL(t) },
		"NewDatabase": func(t testing.TB) { testkit.NewDatabase(t) },
		"OwnPool":     func(t testing.TB) { testkit.OwnPool(t, 1) },
		"AMQP":        func(t testing.TB) { testkit.AMQP(t) },
		"OwnVhost":    func(t testing.TB) { testkit.OwnVhost(t) },
	} {
		var skipped bool
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			ask(t)
		})
		require.True(t, skipped, "%s skips in the unit run", name)
	}
}

func TestRandom(t *testing.T) {
	require.Len(t, testkit.RandomHex(5), 10)
	require.NotEqual(t, testkit.RandomHex(8), testkit.RandomHex(8))
	require.Regexp(t, `^[0-9]{12}$`, testkit.RandomDigits(12))
}
