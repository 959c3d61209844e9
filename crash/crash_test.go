package crash

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPoint runs this test binary again as a child that passes two crash
// points, intake-before-commit then relay-after-confirm, with
// B2BPAY_CRASH_AT set to each case's value: the child must exit with status
// 3 at the point named, run no deferred function, and go on past any other.
func TestPoint(t *testing.T) {
	if os.Getenv("CRASH_TEST_CHILD") != "" {
		defer os.Stdout.WriteString("deferred ran\n")
		Point(IntakeBeforeCommit)
		Point(RelayAfterConfirm)
		os.Stdout.WriteString("survived\n")
		return
	}
	for _, tc := range []struct {
		at      string
		crashed bool
	}{
		{at: RelayAfterConfirm, crashed: true},
		{at: IntakeBeforeCommit, crashed: true},
		{at: ""},
		{at: "no-such-point"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoint$")
		cmd.Env = append(os.Environ(), "CRASH_TEST_CHILD=1", EnvVar+"="+tc.at)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if !tc.crashed {
			require.NoError(t, err, stderr.String())
			require.True(t, strings.HasPrefix(stdout.String(), "survived\ndeferred ran\n"), stdout.String())
			continue
		}
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%s: the child must exit with an error, got %v", tc.at, err)
		require.Equal(t, ExitCode, ee.ExitCode())
		require.Equal(t, 1, strings.Count(stderr.String(), "crashing at "), stderr.String())
		require.Contains(t, stderr.String(), "crashing at "+tc.at+" ("+EnvVar+")")
		require.NotContains(t, stdout.String(), "deferred ran", "a crash runs no deferred function")
		require.NotContains(t, stdout.String(), "survived")
	}
}
