package route_test

import (
	"encoding/json"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

func TestApprovalTopology(t *testing.T) {
	t.Parallel()
	topo := route.ApprovalTopology()
	require.NoError(t, topo.Validate())

	require.ElementsMatch(t, []rabbitmq.Exchange{
		{Name: "b2bpay.tasks", Kind: "direct"},
		{Name: "b2bpay.decisions", Kind: "direct"},
		{Name: "b2bpay.dlx", Kind: "direct"},
	}, topo.Exchanges)

	decisions := queue(t, topo, route.DecisionsQueue)
	require.Equal(t, "b2bpay.decisions", decisions.Name)
	require.Equal(t, amqp.Table{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          route.DecisionDeliveryLimit,
		"x-dead-letter-exchange":    "b2bpay.dlx",
		"x-dead-letter-routing-key": "decisions",
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}, decisions.Args)
	require.Positive(t, route.DecisionDeliveryLimit)

	dead := queue(t, topo, route.DecisionsDeadQueue)
	require.Equal(t, "b2bpay.decisions.dead", dead.Name)
	require.Equal(t, amqp.Table{"x-queue-type": "quorum"}, dead.Args, "the dead-letter queue keeps its messages")
	require.Len(t, topo.Queues, 2)

	require.ElementsMatch(t, []rabbitmq.Binding{
		{Queue: "b2bpay.decisions", Exchange: "b2bpay.decisions", Key: "decision.v1"},
		{Queue: "b2bpay.decisions.dead", Exchange: "b2bpay.dlx", Key: "decisions"},
	}, topo.Bindings)
	require.NotEqual(t, route.IntakeDeadKey, route.DecisionsDeadKey, "intake's and decisions' dead letters go to their own queues")
}

func TestCustomerTopology(t *testing.T) {
	t.Parallel()
	topo := route.CustomerTopology("CUST-SH-001")
	require.NoError(t, topo.Validate())
	require.Equal(t, []rabbitmq.Exchange{{Name: "b2bpay.tasks", Kind: "direct"}}, topo.Exchanges)

	quorum := amqp.Table{"x-queue-type": "quorum"}
	require.Equal(t, []rabbitmq.Queue{
		{Name: "b2bpay.tasks.CUST-SH-001.confirmation", Args: quorum},
		{Name: "b2bpay.tasks.CUST-SH-001.review", Args: quorum},
		{Name: "b2bpay.tasks.CUST-SH-001.authorization", Args: quorum},
	}, topo.Queues)
	require.Equal(t, []rabbitmq.Binding{
		{Queue: "b2bpay.tasks.CUST-SH-001.confirmation", Exchange: "b2bpay.tasks", Key: "CUST-SH-001.confirmation"},
		{Queue: "b2bpay.tasks.CUST-SH-001.review", Exchange: "b2bpay.tasks", Key: "CUST-SH-001.review"},
		{Queue: "b2bpay.tasks.CUST-SH-001.authorization", Exchange: "b2bpay.tasks", Key: "CUST-SH-001.authorization"},
	}, topo.Bindings)
	for _, s := range payment.Stages {
		require.Equal(t, "b2bpay.tasks.CUST-SH-001."+string(s), route.TaskQueue("CUST-SH-001", s))
		require.Equal(t, "CUST-SH-001."+string(s), route.TaskKey("CUST-SH-001", s))
	}

	// Another customer's tasks never reach these queues.
	other := route.CustomerTopology("CUST-SH-0011")
	for _, b := range other.Bindings {
		for _, mine := range topo.Bindings {
			require.NotEqual(t, mine.Key, b.Key)
			require.NotEqual(t, mine.Queue, b.Queue)
		}
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	topo := route.Static()
	require.NoError(t, topo.Validate())

	seen := map[string]bool{}
	for _, x := range topo.Exchanges {
		require.False(t, seen[x.Name], "exchange %s declared twice", x.Name)
		seen[x.Name] = true
	}
	for _, name := range []string{"b2bpay.requests", "b2bpay.events", "b2bpay.dlx", "b2bpay.tasks", "b2bpay.decisions"} {
		require.True(t, seen[name], "exchange %s missing", name)
	}
	require.Len(t, topo.Exchanges, 5)

	queues := map[string]bool{}
	for _, q := range topo.Queues {
		require.False(t, queues[q.Name], "queue %s declared twice", q.Name)
		queues[q.Name] = true
	}
	require.Equal(t, map[string]bool{
		"b2bpay.intake": true, "b2bpay.intake.dead": true, "b2bpay.decisions": true, "b2bpay.decisions.dead": true,
	}, queues, "no customer's or upstream's queue: those come with their registration")
	require.Subset(t, topo.Bindings, route.Topology().Bindings)
	require.Subset(t, topo.Bindings, route.ApprovalTopology().Bindings)
	require.Len(t, topo.Bindings, len(route.Topology().Bindings)+len(route.ApprovalTopology().Bindings))
}

// approvalPayment is a payment waiting for stage s.
func approvalPayment(s payment.Stage) *payment.Payment {
	return &payment.Payment{
		ID: "01a21b23-e139-703c-8b96-c80ef836db0a", UpstreamID: "erp", RequestID: "erp-0001", OrderRef: "PO-2026-0310-8841",
		CustomerID: "CUST-SH-001", ApplicantID: "zhang.wei", BankID: "104100000004", DebtorAccount: "340058712345",
		Creditor:    payment.Creditor{Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005"},
		AmountMinor: 128640050, Currency: "CNY", Remittance: "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC),
		State:         s.State(), Version: 4, RequiredAuthorizers: 2,
		CreatedAt: time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 3, 10, 2, 30, 0, 0, time.UTC),
	}
}

func TestTaskMessage(t *testing.T) {
	t.Parallel()

	tests := []struct {
		stage          payment.Stage
		done           int
		authorizations string
	}{
		{payment.StageConfirmation, 0, ""},
		{payment.StageReview, 0, ""},
		{payment.StageAuthorization, 0, "1 of 2"},
		{payment.StageAuthorization, 1, "2 of 2"},
	}
	for _, tt := range tests {
		p := approvalPayment(tt.stage)
		m, err := route.TaskMessage(p, tt.stage, tt.done)
		require.NoError(t, err)

		id := "01a21b23-e139-703c-8b96-c80ef836db0a/" + string(tt.stage) + "/4"
		require.Equal(t, id, m.MessageID, "one task per payment, stage and version")
		require.Equal(t, "b2bpay.tasks", m.Exchange)
		require.Equal(t, "CUST-SH-001."+string(tt.stage), m.RoutingKey)
		require.Equal(t, "application/json", m.ContentType)
		require.False(t, m.DiscardUnroutable, "a task must reach its queue")

		var task route.Task
		require.NoError(t, json.Unmarshal(m.Body, &task))
		require.Equal(t, route.Task{
			Schema: "b2bpay.task.v1", TaskID: id, Stage: tt.stage, PaymentID: p.ID, Version: 4,
			CustomerID: "CUST-SH-001", Applicant: "zhang.wei", OrderRef: "PO-2026-0310-8841",
			Amount: "1286400.50", Currency: "CNY", BankID: "104100000004", Debtor: "340058712345",
			Creditor: p.Creditor, Remittance: "采购合同 HT-2026-0215 第二期货款", Execution: "2026-03-12",
			Authorizations: tt.authorizations, Digest: p.Digest(), CreatedAt: p.UpdatedAt,
		}, task)

		// What the staff client sees is what the digest covers: rebuilt
		// from the task's content, the payment has the task's digest.
		amount, err := payment.ParseAmount(task.Amount, task.Currency)
		require.NoError(t, err)
		exec, err := time.Parse(payment.DateLayout, task.Execution)
		require.NoError(t, err)
		shown := &payment.Payment{
			ID: task.PaymentID, OrderRef: task.OrderRef, AmountMinor: amount, Currency: task.Currency,
			BankID: task.BankID, DebtorAccount: task.Debtor, Creditor: task.Creditor, ExecutionDate: exec,
			Remittance: task.Remittance,
		}
		require.Equal(t, task.Digest, shown.Digest())
	}

	// One authorizer: "1 of 1", even when the payment says 0.
	p := approvalPayment(payment.StageAuthorization)
	p.RequiredAuthorizers = 0
	require.Equal(t, "1 of 1", route.NewTask(p, payment.StageAuthorization, 0).Authorizations)

	// A new version of the payment is a new task.
	m1, err := route.TaskMessage(p, payment.StageAuthorization, 0)
	require.NoError(t, err)
	p.Version++
	m2, err := route.TaskMessage(p, payment.StageAuthorization, 1)
	require.NoError(t, err)
	require.NotEqual(t, m1.MessageID, m2.MessageID)
}

func TestResultMessage(t *testing.T) {
	t.Parallel()
	res := approval.Result{
		Schema: approval.ResultSchema, DecisionID: "dec-1", PaymentID: "01a21b23-e139-703c-8b96-c80ef836db0a",
		Outcome: approval.Refused, Code: payment.CodeOverLimit, Reason: "over_limit: too much",
		At: time.Date(2026, 3, 10, 2, 30, 0, 0, time.UTC),
	}

	m, ok, err := route.ResultMessage(res, "")
	require.NoError(t, err)
	require.False(t, ok, "no reply queue: nowhere to send it")
	require.Zero(t, m)

	m, ok, err = route.ResultMessage(res, "amq.gen-JzTY20BRgKO-HjmUJj0wLg")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "result/dec-1", m.MessageID)
	require.Equal(t, "", m.Exchange, "the default exchange routes by queue name")
	require.Equal(t, "amq.gen-JzTY20BRgKO-HjmUJj0wLg", m.RoutingKey)
	require.Equal(t, "application/json", m.ContentType)
	require.True(t, m.DiscardUnroutable, "the decider may have gone")
	require.Equal(t, map[string]string{"x-b2bpay-correlation-id": "dec-1"}, m.Headers)
	var got approval.Result
	require.NoError(t, json.Unmarshal(m.Body, &got))
	require.Equal(t, res, got)
}

// A batch's proof covers every field it decides, the batch digest standing
// for the items, count and totals.
func TestBatchDecisionProof(t *testing.T) {
	key := []byte("a session's decision key, 32 bytes")
	d := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: "d-1", Stage: payment.StageReview,
		Verdict: payment.VerdictApprove, OTP: "123456", BatchDigest: "ab"}
	d.Sign(key)
	if !d.ProofValid(key) {
		t.Fatal("a batch's own proof does not check")
	}
	for name, change := range map[string]func(*route.BatchDecision){
		"id":     func(d *route.BatchDecision) { d.DecisionID = "d-2" },
		"stage":  func(d *route.BatchDecision) { d.Stage = payment.StageAuthorization },
		"otp":    func(d *route.BatchDecision) { d.OTP = "654321" },
		"aon":    func(d *route.BatchDecision) { d.AllOrNothing = true },
		"digest": func(d *route.BatchDecision) { d.BatchDigest = "ac" },
		"reason": func(d *route.BatchDecision) { d.Reason = "x" },
	} {
		c := d
		change(&c)
		if c.ProofValid(key) {
			t.Errorf("%s changed, the proof still checks", name)
		}
	}
	if d.ProofValid(nil) {
		t.Error("no key, yet the proof checks")
	}
}
