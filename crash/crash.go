package crash

import (
	"fmt"
	"os"
)

// EnvVar is the environment variable that names the point to crash at.
const EnvVar = "B2BPAY_CRASH_AT"

// ExitCode is the status the process exits with at a crash point.
const ExitCode = 3

// The crash points of the intake, the relay and the decisions; export names
// its own (export.CrashAfterClaim, export.CrashAfterWrite, and
// export.CrashDeliveryAfterUpload, "delivery-after-upload": a file on the
// clearing gateway under its name, its delivery not yet recorded).
const (
	IntakeBeforeCommit  = "intake-before-commit"
	IntakeAfterCommit   = "intake-after-commit"
	RelayAfterConfirm   = "relay-after-confirm"
	DecisionAfterCommit = "decision-after-commit"
)

// Point exits the process at once (status ExitCode, no deferred cleanup)
// when B2BPAY_CRASH_AT equals name, after one line to stderr. Otherwise it
// does nothing.
func Point(name string) {
	if os.Getenv(EnvVar) != name {
		return
	}
	fmt.Fprintf(os.Stderr, "b2bpay: crashing at %s (%s)\n", name, EnvVar)
	os.Exit(ExitCode)
}
