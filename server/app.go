package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/jobs"
	"github.com/b2bpay/b2bpay/keyring"
	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/recon"
	"github.com/b2bpay/b2bpay/route"
)

// App is b2bpay wired together: the database, the store, the broker
// connection and, when the master key is known, the security it derives.
// The commands, the demo, the benchmark and the end-to-end tests build
// it the same way.
type App struct {
	Config Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	Store  *postgres.Store
	// Approval applies staff decisions over Store.
	Approval *approval.Applier
	// Conn is the broker connection, once OpenBroker has made it.
	Conn *rabbitmq.Conn
	// Sec is what the master key yields; nil for commands that handle no
	// secrets.
	Sec *Security
	// Ring is the master key's ring, checked against the database's key
	// versions; nil when no master key is configured.
	Ring *keyring.Ring
}

// Open opens the database side. sec may be nil for commands that handle
// no secrets.
func Open(ctx context.Context, cfg Config, sec *Security) (*App, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return nil, err
	}
	sc := postgres.Config{Location: cfg.Location, Logger: cfg.Logger, EventMessage: route.EventMessage,
		TaskMessage: route.TaskMessage}
	// Commands that handle no secrets still write timelines (a cutoff) or
	// check them (verify) when the master key is configured.
	var master []byte
	if sec != nil {
		master = sec.Master
	} else if m, err := cfg.MasterKey(); err == nil {
		master = m
	}
	var ring *keyring.Ring
	if master != nil {
		// A wrong or retired key stops every command here, before anything
		// is sealed, signed or MACed with it.
		sc.LoginKey = loginKey(master) // `user unlock` ends the sign-in lock
		if ring, err = openRing(ctx, pool, master); err != nil {
			pool.Close()
			return nil, err
		}
		sc.Seal = ring.MAC
	}
	if sec != nil {
		sec.Sealer, sec.MAC = ring.Sealer, ring.MAC
	}
	store, err := postgres.New(pool, sc)
	if err != nil {
		pool.Close()
		return nil, err
	}
	// The approval use case over the store: results to reply queues, OTP
	// seeds opened with the master key's sealer, decisions sealed with the
	// ring's MAC key.
	ac := approval.Config{Seal: sc.Seal, EventMessage: route.EventMessage, TaskMessage: route.TaskMessage,
		ResultMessage: route.ResultMessage, BatchResultMessage: route.BatchResultMessage}
	if sec != nil {
		ac.OTPOpener, ac.OTPPolicy = sec.otpOpener, sec.OTPPolicy
	}
	decisions, err := approval.New(store, ac)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &App{Config: cfg, Log: cfg.Logger, Pool: pool, Store: store, Approval: decisions, Sec: sec, Ring: ring}, nil
}

// openBroker connects to RabbitMQ, waiting at most timeout for it.
func (a *App) OpenBroker(ctx context.Context, name string, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := rabbitmq.Dial(dctx, rabbitmq.Config{URL: a.Config.AMQPURL, Name: name, Logger: a.Log})
	if err != nil {
		return fmt.Errorf("connect to RabbitMQ at %s: %w", rabbitmq.RedactURL(a.Config.AMQPURL), err)
	}
	a.Conn = conn
	return nil
}

// declare declares the intake and approval topology, every upstream's
// status queue and every customer's task queues. It first checks every
// registered upstream id (checkUpstreamIDs) and declares nothing while an
// active upstream's id is unsafe.
func (a *App) Declare(ctx context.Context) error {
	ups, err := a.Store.UpstreamIDs(ctx)
	if err != nil {
		return err
	}
	ups, err = a.checkUpstreamIDs(ctx, ups)
	if err != nil {
		return err
	}
	if err := route.Static().Declare(ctx, a.Conn); err != nil {
		return err
	}
	for _, id := range ups {
		if err := route.UpstreamTopology(id).Declare(ctx, a.Conn); err != nil {
			return err
		}
	}
	customers, err := a.Store.CustomerIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range customers {
		if err := route.CustomerTopology(id).Declare(ctx, a.Conn); err != nil {
			return err
		}
	}
	return nil
}

// checkUpstreamIDs returns the ids whose status queues are declared: the
// valid ones (payment.ValidUpstreamID). An id outside that alphabet, which
// versions before it accepted (erp.sh), names routing keys and queues that
// another upstream's binding or permission can match (erp's), so it is an
// error while its upstream is active; an inactive one is left out, with a
// warning.
func (a *App) checkUpstreamIDs(ctx context.Context, ids []string) ([]string, error) {
	var ok, active []string
	for _, id := range ids {
		if payment.ValidUpstreamID("upstream id", id) == nil {
			ok = append(ok, id)
			continue
		}
		up, err := a.Store.UpstreamGetByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if up.Upstream.Active {
			active = append(active, strconv.Quote(id))
			continue
		}
		a.Log.WarnContext(ctx, "inactive upstream with an id outside letters, digits, _ and -: its status queue is not declared",
			"upstream_id", id, "alert", "upstream_id_unsafe")
	}
	if len(active) > 0 {
		return nil, fmt.Errorf("active upstreams %s have ids outside letters, digits, _ and -: another upstream could read their events "+
			"through its routing keys or permissions; deactivate them and register them again under new ids (README, \"Upstream ids\")",
			strings.Join(active, ", "))
	}
	return ok, nil
}

// close releases everything, broker first, database last.
func (a *App) Close() {
	if a.Conn != nil {
		_ = a.Conn.Close()
	}
	a.Pool.Close()
}

// ServeOptions tune the workers.
type ServeOptions struct {
	// Prefetch is each consumer's prefetch, raised to its batch ×
	// Concurrency, then lowered to what MaxMessageBytes and
	// DeliveryMemory allow (deliveryPrefetch).
	Prefetch int
	// MaxMessageBytes is the broker's max_message_size, the largest
	// delivery (DefaultMaxMessageBytes when 0); DeliveryMemory bounds what
	// all consumers' unacknowledged deliveries may take together
	// (DefaultDeliveryMemory when 0).
	MaxMessageBytes, DeliveryMemory int64
	Concurrency                     int
	// IntakeBatch is how many payment requests one intake transaction
	// stores at most, gathered for at most BatchWait.
	IntakeBatch int
	// DecisionBatch is how many decisions one transaction applies at most.
	DecisionBatch int
	BatchWait     time.Duration
	Drain         time.Duration
	// HTTPAddr is where the status API listens; "" runs none.
	HTTPAddr string
	// ConsoleAddr is where the staff console listens; "" runs none.
	// ConsoleInsecure drops the Secure attribute of its cookies (plain
	// HTTP beyond the loopback: tests and demos only).
	ConsoleAddr     string
	ConsoleInsecure bool
	// Ops, when set, serves the console's operations area.
	Ops *ops.Service
	// MetricsAddr is where /metrics is served, apart from the API (which
	// clients reach); "" serves none.
	MetricsAddr string
	// ExpiryEvery is how often the expiry job runs; 0 runs none.
	ExpiryEvery time.Duration
	TTLs        map[payment.State]time.Duration
	// Export and Reports, when set, run the cutoffs and read status
	// reports; CutoffTick is how often due cutoffs are looked for.
	Export     *export.Exporter
	Reports    *export.Reports
	CutoffTick time.Duration
	// Deliver, when set, delivers written files to the clearing gateway
	// after each cutoff tick, retries failed deliveries and raises the
	// alert for files not acknowledged in time.
	Deliver *export.Deliverer
	// Elector, when set, lets one b2bpay process among several run the
	// scheduled jobs.
	Elector gocron.Elector
	// Calendar, when set, is watched on every process (not only the
	// elected one): reloaded and checked at start, every CalendarCheck
	// (a day when 0) and on each CalendarReload signal (SIGHUP), and
	// exported as b2bpay_calendar_days_left.
	Calendar       *calendarSource
	CalendarCheck  time.Duration
	CalendarReload <-chan os.Signal
	// Roles are the parts this process runs (ParseRoles); nil runs every
	// one, the API and the console where their addresses are set.
	Roles Roles
	// Ready, when set, receives the API's address once everything runs;
	// MetricsReady the metrics address, ConsoleReady the console's.
	Ready, MetricsReady, ConsoleReady chan<- string
}

// Serve runs the roles of opt.Roles (every one when nil) until ctx is
// done: the intake and decision consumers, the outbox relay, the
// scheduled jobs, the status API and the console; the metrics listener
// with its probes and the calendar watch run on every process. Then it
// shuts down in order, whatever the subset: stop taking messages and
// requests, let in-flight ones finish, stop the scheduler, publish what
// was committed, stop the relay.
func (a *App) Serve(ctx context.Context, opt ServeOptions) error {
	if a.Sec == nil {
		return ErrNoKey
	}
	roles := opt.Roles
	if err := roles.checkAddrs(opt.HTTPAddr, opt.ConsoleAddr); err != nil {
		return err
	}
	if roles.NeedsBroker() {
		if a.Conn == nil {
			return errors.New("serve: roles " + roles.String() + " need the broker: OpenBroker first")
		}
		if err := a.Declare(ctx); err != nil {
			return fmt.Errorf("declare topology: %w", err)
		}
	}
	sess := sessions{Sec: a.Sec, Store: a.Store}
	m := NewMetrics(a.Store)
	var background sync.WaitGroup
	rl := a.startRelay(ctx, roles, m, &background)
	defer rl.stop()

	if opt.Calendar != nil {
		m.calendarDaysLeft(opt.Calendar, a.Config.Location, time.Now)
		watch := &calendarWatch{src: opt.Calendar, loc: a.Config.Location, log: a.Log, now: time.Now}
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		background.Add(1)
		go func() { defer background.Done(); watch.run(watchCtx, opt.CalendarCheck, opt.CalendarReload) }()
	}
	var sched gocron.Scheduler
	if roles.Has(RoleScheduler) {
		var err error
		if sched, err = a.schedule(opt, m); err != nil {
			return err
		}
	}
	ls, err := a.listen(roles, sess, opt, m)
	if err != nil {
		if sched != nil {
			_ = sched.Shutdown()
		}
		return err
	}
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	background.Add(1)
	go func() { defer background.Done(); m.db.run(refreshCtx, metricsRefresh) }()

	var workers sync.WaitGroup
	errs := make(chan error, 2)
	queues := a.consume(ctx, roles, opt, m, sess, &workers, errs)
	a.Log.Info("b2bpay serving", "roles", ls.running(roles, sched != nil, rl != nil), "queues", queues,
		"http_addr", ls.apiAddr, "metrics_addr", ls.metricsAddr, "console_addr", ls.consoleAddr,
		"prefetch", opt.Prefetch, "concurrency", opt.Concurrency, "intake_batch", opt.IntakeBatch, "decision_batch", opt.DecisionBatch)
	if opt.Ready != nil {
		opt.Ready <- ls.apiAddr
	}
	if opt.MetricsReady != nil {
		opt.MetricsReady <- ls.metricsAddr
	}
	if opt.ConsoleReady != nil {
		opt.ConsoleReady <- ls.consoleAddr
	}

	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.Drain+5*time.Second)
	defer cancel()
	ls.shutdown(shutdownCtx)
	workers.Wait()
	close(errs)
	if sched != nil {
		_ = sched.ShutdownWithContext(shutdownCtx)
	}
	// Consumption has stopped and in-flight handlers have committed; give
	// the relay a moment to publish their messages, then stop it.
	rl.flush(ctx)
	rl.stop()
	background.Wait()
	a.Log.Info("b2bpay stopped")
	var result []error
	for err := range errs {
		if err != nil && !errors.Is(err, rabbitmq.ErrClosed) {
			result = append(result, err)
		}
	}
	return errors.Join(result...)
}

// schedule starts the scheduled jobs. Each job runs alone (a slow run is
// never overlapped by the next) and is safe to run on several b2bpay
// processes at once: the store claims work with SKIP LOCKED.
func (a *App) schedule(opt ServeOptions, m *Metrics) (gocron.Scheduler, error) {
	opts := []gocron.SchedulerOption{gocron.WithLocation(a.Config.Location)}
	if opt.Elector != nil {
		opts = append(opts, gocron.WithDistributedElector(opt.Elector))
	}
	sched, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, err
	}
	m.countDelivery(opt.Deliver, opt.Reports)
	every := func(name string, d time.Duration, run func(context.Context) error) error {
		_, err := sched.NewJob(gocron.DurationJob(d), gocron.NewTask(func(ctx context.Context) {
			if err := run(ctx); err != nil {
				a.Log.ErrorContext(ctx, name+" job failed", "error", err)
			}
		}), gocron.WithName(name), gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithStartAt(gocron.WithStartImmediately()))
		return err
	}
	if opt.Export != nil {
		tick := opt.CutoffTick
		if tick <= 0 {
			tick = 15 * time.Second
		}
		cutoffs := &jobs.Cutoffs{Export: opt.Export, Log: a.Log,
			Missed: func(time.Time) { m.missed.Inc() }, CaughtUp: func(time.Time) { m.caughtUp.Inc() }}
		if err := every("cutoffs", tick, func(ctx context.Context) error {
			results, err := cutoffs.RunOnce(ctx)
			for _, r := range results {
				m.CutoffRan(r)
			}
			// Delivery follows each tick: this tick's files, those written
			// while the gateway was down, failed ones whose time has come.
			return errors.Join(err, deliveryTick(ctx, opt.Deliver))
		}); err != nil {
			return nil, err
		}
	}
	if opt.Reports != nil {
		if err := every("status-reports", 30*time.Second, func(ctx context.Context) error {
			sum, err := opt.Reports.RunOnce(ctx)
			m.reports.WithLabelValues("applied").Add(float64(sum.Applied))
			m.reports.WithLabelValues("quarantined").Add(float64(sum.Quarantined))
			m.reports.WithLabelValues("repeated").Add(float64(sum.Repeated))
			return err
		}); err != nil {
			return nil, err
		}
		// camt.054 notifications, from the inbound directory's camt054/.
		pickup := &recon.Pickup{Importer: a.Reconciler(m), Dir: filepath.Join(opt.Reports.Dir, ReconSubdir), Log: a.Log}
		if err := every("camt054", 30*time.Second, func(ctx context.Context) error { _, err := pickup.RunOnce(ctx); return err }); err != nil {
			return nil, err
		}
	}
	if opt.ExpiryEvery > 0 {
		ttls := opt.TTLs
		if ttls == nil {
			ttls = jobs.DefaultTTLs
		}
		job := &jobs.Expiry{Store: a.Store, TTLs: ttls, Log: a.Log}
		if err := every("expiry", opt.ExpiryEvery, func(ctx context.Context) error { _, err := job.RunOnce(ctx); return err }); err != nil {
			return nil, err
		}
	}
	sched.Start()
	return sched, nil
}

// apiHandler is the HTTP API. The task lists show when payments expire
// under ttls (the expiry job's; nil: its defaults).
func (a *App) apiHandler(sess sessions, ttls map[payment.State]time.Duration) http.Handler {
	if ttls == nil {
		ttls = jobs.DefaultTTLs
	}
	return httpapi.New(a.Store, sess, httpapi.Config{Location: a.Config.Location, Logger: a.Log,
		SignIn: auth.NewGate(a.Sec.Gate), TTLs: ttls})
}

// serveHTTP serves h on addr ("" for none) and returns the bound address.
func (a *App) serveHTTP(name, addr string, h http.Handler) (*http.Server, string, error) {
	if addr == "" {
		return nil, "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error(name+" stopped", "error", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}
