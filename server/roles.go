package server

import (
	"fmt"
	"slices"
	"strings"
)

// Role is one part of `b2bpay serve` that a process runs, so that each
// part scales on its own (`--roles`, B2BPAY_ROLES).
type Role string

// The roles a serve process can run.
const (
	// RoleIntake consumes b2bpay.intake (payment requests and cancels).
	RoleIntake Role = "intake"
	// RoleDecisions consumes b2bpay.decisions (staff decisions).
	RoleDecisions Role = "decisions"
	// RoleRelay publishes the outbox (with its LISTEN). Outbox rows are
	// in the database: any process's relay publishes every process's.
	RoleRelay Role = "relay"
	// RoleScheduler runs the scheduled jobs (cutoffs, status reports,
	// expiry), on one process at a time through the elector.
	RoleScheduler Role = "scheduler"
	// RoleHTTP serves the status API on --http-addr.
	RoleHTTP Role = "http"
	// RoleConsole serves the staff console on --console-addr (over the
	// API handler in process, served or not).
	RoleConsole Role = "console"
)

// AllRoles lists every role, in the order of the documentation.
var AllRoles = Roles{RoleIntake, RoleDecisions, RoleRelay, RoleScheduler, RoleHTTP, RoleConsole}

// Roles is the set of roles of a process; nil (the default) is every
// role, each listener only where its address is set.
type Roles []Role

// ParseRoles reads a comma-separated list of role names ("" or "all":
// every role, nil). An unknown name is an error listing the valid ones.
func ParseRoles(s string) (Roles, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var out Roles
	for _, name := range strings.Split(s, ",") {
		r := Role(strings.ToLower(strings.TrimSpace(name)))
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("unknown role %q: the roles are %s (or all)", name, AllRoles)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no role given: the roles are %s (or all)", AllRoles)
	}
	return out, nil
}

// Has reports whether the process runs role r.
func (rs Roles) Has(r Role) bool { return rs == nil || slices.Contains(rs, r) }

// explicit reports whether r was asked for by name (not by the default).
func (rs Roles) explicit(r Role) bool { return rs != nil && slices.Contains(rs, r) }

// NeedsBroker reports whether a role of rs uses RabbitMQ: the consumers,
// the relay and the console (its decisions and queue depths).
func (rs Roles) NeedsBroker() bool {
	return rs.Has(RoleIntake) || rs.Has(RoleDecisions) || rs.Has(RoleRelay) || rs.Has(RoleConsole)
}

// String is the comma-separated list ("all" for nil).
func (rs Roles) String() string {
	if rs == nil {
		return "all"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = string(r)
	}
	return strings.Join(names, ",")
}

// checkAddrs refuses an explicitly named listener role without its address.
func (rs Roles) checkAddrs(httpAddr, consoleAddr string) error {
	if rs.explicit(RoleHTTP) && httpAddr == "" {
		return fmt.Errorf("role http needs --http-addr")
	}
	if rs.explicit(RoleConsole) && consoleAddr == "" {
		return fmt.Errorf("role console needs --console-addr")
	}
	return nil
}
