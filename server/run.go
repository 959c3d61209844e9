package server

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/postgres"
)

// electorKey is the PostgreSQL advisory lock key of the scheduler's leader.
const electorKey int64 = 0x6232627061790001

// Settings are serve's settings as the command line gives them; Run
// checks them once.
type Settings struct {
	// Serve tunes the workers, the listeners and the jobs; Run adds the
	// export, the elector and the calendar watch.
	Serve  ServeOptions
	Export ExportSettings
	// Roles is --roles: a comma-separated list of roles (ParseRoles); ""
	// runs every one. It replaces Serve.Roles.
	Roles string
	// TokenTTL is the lifetime of session tokens; LoginLock and OTPLock
	// how long sign-in and OTP are locked after 5 failures in a row.
	TokenTTL, LoginLock, OTPLock time.Duration
	// AllowPrivilegedRole lets serve start as a role that could rewrite
	// history (CheckRole), for development and tests.
	AllowPrivilegedRole bool
}

// check refuses settings out of range, naming the flag.
func (s Settings) check() error {
	o := s.Serve
	for _, c := range []struct {
		name string
		n    int
	}{{"prefetch", o.Prefetch}, {"concurrency", o.Concurrency}, {"intake-batch", o.IntakeBatch}, {"decision-batch", o.DecisionBatch}} {
		if c.n < 1 || c.n > 10000 {
			return fmt.Errorf("--%s must be from 1 to 10000, not %d", c.name, c.n)
		}
	}
	if m := o.MaxMessageBytes; m < 64<<10 || m > 512<<20 {
		return fmt.Errorf("--max-message-bytes must be from 64 KiB to 512 MiB (the broker's max_message_size), not %d", m)
	}
	if m := o.DeliveryMemory; m < ConsumerCount*o.MaxMessageBytes {
		return fmt.Errorf("--delivery-memory must hold at least one largest message per queue (%d bytes), not %d",
			ConsumerCount*o.MaxMessageBytes, m)
	}
	if w := o.BatchWait; w <= 0 || w > time.Second {
		return fmt.Errorf("--batch-wait must be above 0 and at most 1s, not %s", w)
	}
	return nil
}

// Run is `b2bpay serve`: it checks the settings, the master key, the
// database (migrated, a role that cannot rewrite history) and the export,
// connects to the broker and serves until ctx is done (SIGTERM), the
// calendar file reloaded on SIGHUP.
func Run(ctx context.Context, cfg Config, s Settings) error {
	if err := s.check(); err != nil {
		return err
	}
	roles, err := ParseRoles(s.Roles)
	if err != nil {
		return fmt.Errorf("--roles: %w", err)
	}
	if err := roles.checkAddrs(s.Serve.HTTPAddr, s.Serve.ConsoleAddr); err != nil {
		return err
	}
	cfg.Logger.Info("b2bpay serve starting", "roles", roles.String())
	master, err := cfg.MasterKey()
	if err != nil {
		return err
	}
	sec, err := NewSecurity(master, s.TokenTTL, nil)
	if err != nil {
		return err
	}
	sec.Throttle = auth.Throttle{MaxFailures: 5, LockFor: s.LoginLock}
	sec.OTPPolicy = otp.Policy{MaxFailures: 5, LockFor: s.OTPLock}
	a, err := Open(ctx, cfg, sec)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := postgres.CheckMigrated(ctx, a.Pool); err != nil {
		return err
	}
	if err := CheckRole(ctx, a.Pool, s.AllowPrivilegedRole, a.Log); err != nil {
		return err
	}
	if roles.NeedsBroker() {
		if err := a.OpenBroker(ctx, "b2bpay-serve", 30*time.Second); err != nil {
			return err
		}
	}
	ec, err := LoadExport(s.Export, cfg.Location)
	if err != nil {
		return err
	}
	a.Approval.SetNextCutoff(ec.schedule.Next)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	opt := s.Serve
	opt.Roles = roles
	opt.Calendar, opt.CalendarReload = ec.calSource, hup
	if roles.Has(RoleScheduler) {
		// Only the scheduler writes files and reads reports: the other
		// roles need no outbound or inbound directory.
		if opt.Export, opt.Reports, err = a.Exporter(ec); err != nil {
			return err
		}
		if opt.Deliver, err = a.Deliverer(ec); err != nil {
			return err
		}
		elector := postgres.NewElector(cfg.DatabaseURL, electorKey, cfg.Logger)
		defer elector.Close()
		opt.Elector = elector
	}
	if roles.Has(RoleConsole) && opt.ConsoleAddr != "" {
		if opt.Ops, err = a.Operations(ec); err != nil {
			return err
		}
	}
	return a.Serve(ctx, opt)
}
