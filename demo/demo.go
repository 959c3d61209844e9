// Package demo is `b2bpay demo` (make demo): b2bpay end to end on sample
// data in a database of its own, printing what happens.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
)

// Database drops and creates database name (letters, digits and _) on
// the server of baseURL for a demo run, and returns its URL.
func Database(ctx context.Context, baseURL, name string) (string, error) {
	if err := payment.ValidID("database", name); err != nil || strings.ContainsAny(name, ".:-") {
		return "", fmt.Errorf("demo database %q: use letters, digits and _", name)
	}
	return postgres.RecreateDatabase(ctx, baseURL, name)
}

// demoPlan is one published message and the answer it should get.
type demoPlan struct {
	client *producers.Client
	id     string
	body   []byte
	want   string // "accepted", or the refusal code
	label  string
}

// Run seeds the registry in the (fresh) database of cfg, runs b2bpay on
// it, publishes count requests of every kind through two upstreams and
// checks every answer, walks payments through the approval, exports the
// authorized ones, reads a status report back, clears 200 more payments
// in batch decisions (one OTP a person and stage) and shows a batch's
// refusals, and verifies every timeline, printing its progress; interbank files and reports go under
// dir.
//
// consoleAddr is where the staff console listens ("" for a port of the
// system's choosing, checked and closed with the demo); given, the demo
// keeps serving it after the checks until ctx ends.
func Run(ctx context.Context, cfg server.Config, count int, dir, consoleAddr string) error {
	start := time.Now()
	// The demo seals and signs with a key of its own, made for this run only.
	sec, err := server.NewSecurity(secret.NewKey(), 15*time.Minute, nil)
	if err != nil {
		return err
	}
	sealer := sec.Sealer
	a, err := server.Open(ctx, cfg, sec)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := postgres.Migrate(ctx, a.Pool); err != nil {
		return err
	}
	mallKey, err := seedDemo(ctx, a, sealer)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	people, err := seedStaff(ctx, a)
	if err != nil {
		return fmt.Errorf("seed staff: %w", err)
	}
	fmt.Printf("seeded the registry in %s\n", strings.TrimPrefix(redactDB(cfg.DatabaseURL), "postgres://"))
	if err := a.OpenBroker(ctx, "b2bpay-demo", 30*time.Second); err != nil {
		return err
	}
	if err := a.Declare(ctx); err != nil {
		return err
	}
	if err := purgeDemoQueues(ctx, a); err != nil {
		return err
	}

	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	apiReady, consoleReady := make(chan string, 1), make(chan string, 1)
	listen := consoleAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	go func() {
		served <- a.Serve(serveCtx, server.ServeOptions{Prefetch: 100, Concurrency: 4, IntakeBatch: 25, Drain: 5 * time.Second,
			HTTPAddr: "127.0.0.1:0", ConsoleAddr: listen, Ready: apiReady, ConsoleReady: consoleReady})
	}()
	defer func() { stopServe(); <-served }()

	erp, err := producers.Dial(ctx, producers.Config{URL: cfg.AMQPURL, UpstreamID: "erp-demo", UserID: amqpUser(cfg.AMQPURL)})
	if err != nil {
		return err
	}
	defer erp.Close()
	mall, err := producers.Dial(ctx, producers.Config{URL: cfg.AMQPURL, UpstreamID: "mall-demo", HMACKey: mallKey})
	if err != nil {
		return err
	}
	defer mall.Close()
	var subs []*producers.Answers
	for _, c := range []*producers.Client{erp, mall} {
		s, err := c.Subscribe(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		subs = append(subs, s)
	}

	plans := demoPlans(count, erp, mall, time.Now().In(cfg.Location))
	fmt.Printf("publishing %d requests (publisher confirms) through upstreams erp-demo (user_id) and mall-demo (HMAC)\n", len(plans))
	for _, p := range plans {
		if err := p.client.Publish(ctx, p.id, p.body); err != nil {
			return fmt.Errorf("publish %s: %w", p.id, err)
		}
	}
	got, err := awaitAnswers(ctx, subs, len(plans))
	if err != nil {
		return err
	}
	if err := demoSummary(ctx, a, plans, got, time.Since(start)); err != nil {
		return err
	}
	var accepted []string
	for _, ev := range got {
		if ev.Kind == payment.EventAccepted {
			accepted = append(accepted, ev.PaymentID)
		}
	}
	apiURL := "http://" + <-apiReady
	if err := approvalWalk(ctx, a, apiURL, people, accepted); err != nil {
		return err
	}
	if err := exportWalk(ctx, a, dir); err != nil {
		return err
	}
	if err := batchWalk(ctx, a, apiURL, people, erp, subs); err != nil {
		return err
	}
	if err := verifyAll(ctx, a); err != nil {
		return err
	}
	conAddr := <-consoleReady
	if err := checkConsole(ctx, conAddr); err != nil {
		return err
	}
	seeds, err := writeSeeds(dir, people)
	if err != nil {
		return err
	}
	if consoleAddr != "" {
		return serveConsole(ctx, erp, subs, conAddr, seeds, 12)
	}
	fmt.Printf("\nthe staff console answered at http://%s; to use it on this data: make demo-console (b2bpay demo --console 127.0.0.1:8490)\n", conAddr)
	stopServe()
	if err := <-served; err != nil {
		return err
	}
	served <- nil
	if err := purgeDemoQueues(ctx, a); err != nil {
		return err
	}
	fmt.Println("demo OK")
	return nil
}

func amqpUser(raw string) string {
	u, err := url.Parse(rabbitmq.FirstURL(raw))
	if err != nil || u.User == nil {
		return "guest"
	}
	return u.User.Username()
}

func redactDB(raw string) string { return postgres.RedactURL(raw) }

// seedDemo registers two customers, three banks, accounts, users and two
// upstreams (one identified by its RabbitMQ user, one by HMAC); it returns
// the HMAC upstream's key.
func seedDemo(ctx context.Context, a *server.App, sealer *secret.Sealer) ([]byte, error) {
	s := a.Store
	steps := []func() error{
		func() error {
			return s.CustomerCreate(ctx, payment.Customer{ID: "CUST-SH-001", Name: "上海华东机电设备有限公司", OnlinePayment: true, Active: true})
		},
		func() error {
			return s.CustomerCreate(ctx, payment.Customer{ID: "CUST-BJ-002", Name: "北京远航贸易有限公司", OnlinePayment: false, Active: true})
		},
		func() error {
			return s.BankCreate(ctx, payment.Bank{ID: "104100000004", Name: "中国银行", B2B: true})
		},
		func() error {
			return s.BankCreate(ctx, payment.Bank{ID: "102100099996", Name: "中国工商银行", B2B: true})
		},
		func() error {
			return s.BankCreate(ctx, payment.Bank{ID: "105100000017", Name: "中国建设银行", B2B: false})
		},
		func() error {
			return s.AccountCreate(ctx, payment.Account{Number: "6217000010001234567", BankID: "104100000004", CustomerID: "CUST-SH-001", Currency: "CNY", Active: true})
		},
		func() error {
			return s.AccountCreate(ctx, payment.Account{Number: "6227000020009876543", BankID: "105100000017", CustomerID: "CUST-SH-001", Currency: "CNY", Active: true})
		},
		func() error {
			return s.AccountCreate(ctx, payment.Account{Number: "6222000030005555555", BankID: "102100099996", CustomerID: "CUST-BJ-002", Currency: "CNY", Active: true})
		},
		func() error {
			return s.UserCreate(ctx, payment.User{ID: "alice", CustomerID: "CUST-SH-001", Name: "王丽 (applicant)", Roles: []payment.Role{payment.RoleApplicant}, Active: true})
		},
		func() error {
			return s.UserCreate(ctx, payment.User{ID: "bob", CustomerID: "CUST-SH-001", Name: "李强 (reviewer)", Roles: []payment.Role{payment.RoleReviewer}, Active: true})
		},
		func() error {
			return s.UserCreate(ctx, payment.User{ID: "carol", CustomerID: "CUST-SH-001", Name: "张敏 (authorizer)", Roles: []payment.Role{payment.RoleAuthorizer}, Active: true})
		},
		func() error {
			return s.UserCreate(ctx, payment.User{ID: "dave", CustomerID: "CUST-BJ-002", Name: "陈伟 (applicant)", Roles: []payment.Role{payment.RoleApplicant}, Active: true})
		},
		func() error {
			return s.UpstreamCreate(ctx, payment.Upstream{ID: "erp-demo", Name: "Demo ERP", AMQPUser: amqpUser(a.Config.AMQPURL), Active: true,
				Customers: []string{"CUST-SH-001", "CUST-BJ-002"}}, nil, 0)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	key := secret.NewKey()
	err := s.UpstreamCreate(ctx, payment.Upstream{ID: "mall-demo", Name: "Demo B2B mall", Active: true,
		Customers: []string{"CUST-SH-001"}}, sealer.Seal(key, intake.KeyAD("mall-demo")), int(sealer.Version()))
	return key, err
}

// purgeDemoQueues empties the demo's queues (intake, decisions, dead
// letters, status, tasks), so that messages from an earlier demo do not
// mix in; the demo calls it at the start and at the end, leaving nothing
// behind for another b2bpay on the same vhost.
func purgeDemoQueues(ctx context.Context, a *server.App) error {
	ch, err := a.Conn.Channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	queues := []string{route.IntakeQueue, route.IntakeDeadQueue, route.DecisionsQueue, route.DecisionsDeadQueue,
		route.StatusQueue("erp-demo"), route.StatusQueue("mall-demo")}
	for _, c := range []string{"CUST-SH-001", "CUST-BJ-002"} {
		for _, s := range payment.Stages {
			queues = append(queues, route.TaskQueue(c, s))
		}
	}
	for _, q := range queues {
		if _, err := ch.QueuePurge(q, false); err != nil {
			return fmt.Errorf("purge %s: %w", q, err)
		}
	}
	return nil
}

// demoPlans builds the requests: mostly valid ones, with duplicates and
// each kind of refusal mixed in, alternating between the two upstreams.
func demoPlans(n int, erp, mall *producers.Client, today time.Time) []demoPlan {
	date := today.Format(payment.DateLayout)
	run := today.Format("150405")
	base := func(i int) payment.Request {
		return payment.Request{
			SchemaVersion: 1, RequestID: fmt.Sprintf("req-%s-%04d", run, i), OrderRef: fmt.Sprintf("SO-%s-%04d", run, i),
			CustomerID: "CUST-SH-001", Applicant: "alice", BankID: "104100000004", DebtorAccount: "6217000010001234567",
			Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"},
			Amount:   demoAmount(i), Currency: "CNY", Remittance: fmt.Sprintf("发票 INV-%04d", i), ExecutionDate: date,
		}
	}
	enc := func(r payment.Request) []byte { b, _ := json.Marshal(r); return b }
	var plans []demoPlan
	var lastValid *demoPlan
	for i := 0; len(plans) < n; i++ {
		c := erp
		if i%2 == 1 {
			c = mall
		}
		r := base(i)
		p := demoPlan{client: c, id: r.RequestID, want: "accepted", label: "valid request"}
		switch {
		case i%20 == 10 && lastValid != nil:
			p = *lastValid
			p.label = "same request again (idempotent)"
		case i%25 == 1 && c == erp:
			r.CustomerID, r.Applicant, r.BankID, r.DebtorAccount = "CUST-BJ-002", "dave", "102100099996", "6222000030005555555"
			p.want, p.label = string(payment.CodeCustomerNotEnabled), "customer not enabled for online payment"
		case i%25 == 2:
			r.BankID, r.DebtorAccount = "105100000017", "6227000020009876543"
			p.want, p.label = string(payment.CodeBankNotB2B), "bank without B2B"
		case i%50 == 3:
			p.body, p.want, p.label = []byte(`{"schema_version":1,"request_id":`), string(payment.CodeMalformed), "malformed JSON"
		case i%50 == 4:
			r.Amount = "-5.00"
			p.want, p.label = string(payment.CodeInvalidAmount), "negative amount"
		case i%50 == 5 && lastValid != nil && lastValid.client == c:
			var prev payment.Request
			_ = json.Unmarshal(lastValid.body, &prev)
			r.OrderRef = prev.OrderRef
			p.want, p.label = string(payment.CodeOrderInUse), "order already being paid"
		case i%50 == 7:
			r.SchemaVersion = 2
			p.want, p.label = string(payment.CodeUnknownVersion), "unknown schema version"
		}
		if p.body == nil {
			p.body = enc(r)
		}
		plans = append(plans, p)
		if p.want == "accepted" && p.label == "valid request" {
			cp := p
			lastValid = &cp
		}
	}
	return plans
}

// awaitAnswers waits until every published message has its answer.
func awaitAnswers(ctx context.Context, subs []*producers.Answers, want int) ([]payment.Event, error) {
	last := -1
	for {
		var all []payment.Event
		for _, s := range subs {
			all = append(all, s.Events()...)
		}
		if len(all)/50 != last/50 || len(all) == want {
			fmt.Printf("  answers received: %d/%d\n", len(all), want)
			last = len(all)
		}
		if len(all) >= want {
			return all, nil
		}
		select {
		case <-ctx.Done():
			return all, fmt.Errorf("only %d of %d answers arrived: %w", len(all), want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoSummary prints what was published, what was answered, and what the
// database holds, and fails if they disagree.
func demoSummary(ctx context.Context, a *server.App, plans []demoPlan, got []payment.Event, took time.Duration) error {
	wantBy, gotBy := map[string]int{}, map[string]int{}
	labels := map[string]map[string]int{}
	for _, p := range plans {
		wantBy[p.want]++
		if labels[p.want] == nil {
			labels[p.want] = map[string]int{}
		}
		labels[p.want][p.label]++
	}
	for _, ev := range got {
		k := string(ev.Kind)
		if ev.Kind == payment.EventRefused {
			k = string(ev.Code)
		}
		gotBy[k]++
	}
	keys := make([]string, 0, len(wantBy))
	for k := range wantBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ANSWER\tPUBLISHED\tANSWERED\tWHAT")
	ok := true
	for _, k := range keys {
		var what []string
		for l, n := range labels[k] {
			what = append(what, fmt.Sprintf("%s ×%d", l, n))
		}
		sort.Strings(what)
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", k, wantBy[k], gotBy[k], strings.Join(what, ", "))
		ok = ok && wantBy[k] == gotBy[k]
	}
	_ = w.Flush()

	states, err := a.Store.PaymentCountByState(ctx)
	if err != nil {
		return err
	}
	accepted := map[string]bool{}
	for _, ev := range got {
		if ev.Kind == payment.EventAccepted {
			accepted[ev.PaymentID] = true
		}
	}
	stored := 0
	for _, n := range states {
		stored += n
	}
	var deadLettered int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE exchange = $1`, route.DeadLetterExchange).Scan(&deadLettered); err != nil {
		return err
	}
	fmt.Printf("\npayments stored: %d (distinct payments answered as accepted: %d); by state: %v\n", stored, len(accepted), states)
	fmt.Printf("dead-lettered with a reason header: %d (queue %s)\n", deadLettered, route.IntakeDeadQueue)
	fmt.Printf("%d requests in %s (%.0f per second end to end, including start-up)\n", len(plans), took.Round(time.Millisecond), float64(len(plans))/took.Seconds())
	if !ok || stored != len(accepted) {
		return errors.New("demo: the answers or the stored payments do not match what was published")
	}
	fmt.Println("intake OK: every request answered once as expected, one payment per accepted request")
	fmt.Println("try: b2bpay --database-url '" + a.Config.DatabaseURL + "' status erp-demo/" + firstAcceptedRequest(got))
	return nil
}

func firstAcceptedRequest(got []payment.Event) string {
	for _, ev := range got {
		if ev.Kind == payment.EventAccepted && ev.UpstreamID == "erp-demo" {
			return ev.RequestID
		}
	}
	return "REQUEST_ID"
}

// demoAmount is the amount of the demo's i-th request: the first one is
// above the two-authorizer tier.
func demoAmount(i int) string {
	if i == 0 {
		return "1286400.50"
	}
	return fmt.Sprintf("%d.%02d", 1000+i*37, i%100)
}
