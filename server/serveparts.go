package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/consumers"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// relayRun is the outbox relay of a process with the relay role and its
// LISTEN; a nil *relayRun (no relay role) does nothing.
type relayRun struct {
	rl     *outbox.Relay
	pub    *rabbitmq.Publisher
	cancel context.CancelFunc
	once   sync.Once
}

// startRelay starts the relay and its LISTEN under background when roles
// has the relay role, else returns nil. It outlives ctx: stop ends it.
func (a *App) startRelay(ctx context.Context, roles Roles, m *Metrics, background *sync.WaitGroup) *relayRun {
	if !roles.Has(RoleRelay) {
		return nil
	}
	pub := rabbitmq.NewPublisher(a.Conn, a.Log)
	r := &relayRun{pub: pub,
		rl: outbox.NewRelay(a.Store, route.Publisher{AMQP: countedPublisher{Publisher: pub, m: m}}, outbox.RelayConfig{Logger: a.Log})}
	relayCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	wake := make(chan struct{}, 1)
	background.Add(2)
	go func() { defer background.Done(); a.Store.Listen(relayCtx, postgres.OutboxChannel, wake) }()
	go func() { defer background.Done(); _ = r.rl.Start(relayCtx, wake) }()
	return r
}

// flush publishes what is pending for at most 2 seconds: what the
// process's last handlers committed.
func (r *relayRun) flush(ctx context.Context) {
	if r == nil {
		return
	}
	flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for flush.Err() == nil {
		sent, _, err := r.rl.RunOnce(flush)
		if err != nil || sent == 0 {
			return
		}
	}
}

// stop ends the relay and closes its publisher; safe more than once.
func (r *relayRun) stop() {
	if r == nil {
		return
	}
	r.once.Do(func() { r.cancel(); _ = r.pub.Close() })
}

// listeners are a process's HTTP servers: the API (role http), the
// console (role console) and the metrics with the probes (every role).
type listeners struct {
	api, console, metrics             *http.Server
	apiAddr, consoleAddr, metricsAddr string
}

// listen starts the listeners of roles. The API handler is built even
// without the http role: the console calls it in process.
func (a *App) listen(roles Roles, sess sessions, opt ServeOptions, m *Metrics) (*listeners, error) {
	ls := &listeners{}
	api := a.apiHandler(sess, opt.TTLs)
	var err error
	if roles.Has(RoleHTTP) {
		if ls.api, ls.apiAddr, err = a.serveHTTP("HTTP API", opt.HTTPAddr, api); err != nil {
			return nil, err
		}
	}
	if roles.Has(RoleConsole) && opt.ConsoleAddr != "" {
		con, err := a.consoleHandler(api, sess, opt)
		if err == nil {
			ls.console, ls.consoleAddr, err = a.serveHTTP("console", opt.ConsoleAddr, con)
		}
		if err != nil {
			ls.close()
			return nil, err
		}
	}
	if ls.metrics, ls.metricsAddr, err = a.listenMetrics(opt.MetricsAddr, m, roles.NeedsBroker()); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

// running names the roles that run: those asked for, less a listener
// without its address (the default) and the parts that did not start.
func (ls *listeners) running(roles Roles, sched, relay bool) []string {
	var out []string
	for _, r := range AllRoles {
		on := roles.Has(r)
		switch r {
		case RoleHTTP:
			on = ls.api != nil
		case RoleConsole:
			on = ls.console != nil
		case RoleScheduler:
			on = sched
		case RoleRelay:
			on = relay
		}
		if on {
			out = append(out, string(r))
		}
	}
	return out
}

// shutdown stops taking requests and lets those in flight finish.
func (ls *listeners) shutdown(ctx context.Context) {
	for _, s := range []*http.Server{ls.api, ls.metrics, ls.console} {
		if s != nil {
			_ = s.Shutdown(ctx)
		}
	}
}

// close stops the listeners at once (a failed start).
func (ls *listeners) close() {
	for _, s := range []*http.Server{ls.api, ls.metrics, ls.console} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// consume starts the consumers of roles (intake, decisions) under
// workers, each sending its end to errs, and returns their queues.
func (a *App) consume(ctx context.Context, roles Roles, opt ServeOptions, m *Metrics, sess sessions,
	workers *sync.WaitGroup, errs chan<- error) []string {
	type consumer struct {
		queue string
		batch int
		h     rabbitmq.BatchHandler
	}
	var cs []consumer
	if roles.Has(RoleIntake) {
		in := consumers.NewIntake(countedIntake{Store: a.Store, m: m}, intake.NewAuthenticator(a.Store, a.Sec.Sealer), a.Log)
		cs = append(cs, consumer{route.IntakeQueue, opt.IntakeBatch, in.Batch(consumers.Chain(in.Handle,
			consumers.Log(a.Log, route.IntakeQueue), consumers.Retry(consumers.RetryConfig{}, a.Log), consumers.Recover(a.Log)))})
	}
	if roles.Has(RoleDecisions) {
		dec := consumers.NewDecisions(countedApproval{Applier: a.Approval, m: m}, tokenVerifier{sess}, a.Log)
		cs = append(cs, consumer{route.DecisionsQueue, max(opt.DecisionBatch, 1), dec.Batch(consumers.Chain(dec.Handle,
			consumers.Log(a.Log, route.DecisionsQueue), consumers.Retry(consumers.RetryConfig{}, a.Log), consumers.Recover(a.Log)))})
	}
	queues := []string{}
	for _, c := range cs {
		want := max(opt.Prefetch, c.batch*opt.Concurrency)
		prefetch := deliveryPrefetch(want, ConsumerCount, opt.MaxMessageBytes, opt.DeliveryMemory)
		if prefetch < want {
			a.Log.Warn("prefetch lowered: prefetch × the broker's largest message would pass the delivery memory",
				"queue", c.queue, "prefetch", prefetch, "wanted", want, "max_message_bytes", opt.MaxMessageBytes, "delivery_memory", opt.DeliveryMemory)
		}
		queues = append(queues, c.queue)
		workers.Add(1)
		go func() {
			defer workers.Done()
			errs <- rabbitmq.Consume(ctx, a.Conn, rabbitmq.ConsumeConfig{
				Queue: c.queue, Tag: "b2bpay-" + c.queue, Prefetch: prefetch,
				BatchSize: c.batch, BatchWait: opt.BatchWait, Concurrency: opt.Concurrency, DrainTimeout: opt.Drain,
			}, c.h)
		}()
	}
	return queues
}
