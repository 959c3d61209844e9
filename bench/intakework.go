package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The scratch tables and queues of baseline/intake-work.
const (
	iwQueue    = "bench.iw.requests"
	iwExchange = "bench.iw"
	// IntakeWorkBatch is how many requests one transaction of
	// baseline/intake-work stores at most: serve's --intake-batch.
	IntakeWorkBatch = 50
	// IntakeWorkRows is how many rows the baseline writes per request, as
	// intake does for an accepted one: the payment, two timeline entries,
	// the ledger row, and two outbox rows (the answer and the task).
	IntakeWorkRows = 6
	// iwWait is how long a worker waits to fill a batch: serve's
	// --batch-wait.
	iwWait = 5 * time.Millisecond
)

// IntakeWorkTables are the scratch tables of baseline/intake-work, each
// created LIKE the b2bpay table it stands for (columns, types, defaults,
// CHECKs, NOT NULLs, primary keys and indexes; no foreign keys, no
// triggers).
var IntakeWorkTables = map[string]string{
	"bench_iw_payments": "payments",
	"bench_iw_timeline": "payment_timeline",
	"bench_iw_requests": "intake_requests",
	"bench_iw_outbox":   "outbox",
}

// IntakeWork is baseline/intake-work: intake's work without b2bpay. It
// publishes cfg.Count request bodies to a quorum queue (not measured),
// then measures Workers consumers (prefetch cfg.Prefetch) that take up to
// IntakeWorkBatch deliveries at a time and, for each batch, write in one
// transaction with one COPY per table the rows intake writes for accepted
// requests (IntakeWorkRows a request, of the same columns and widths) into
// the IntakeWorkTables, commit, publish two persistent, mandatory messages
// a request (an answer event and a task, each to a quorum queue) with
// confirms, and ack the batch. It checks at the end that every table holds
// its rows: Count of each, twice Count timeline and outbox rows.
func IntakeWork(ctx context.Context, conn *amqp.Connection, cfg BaselineConfig) (Result, error) {
	if err := iwSetup(ctx, conn, cfg); err != nil {
		return Result{}, fmt.Errorf("baseline intake-work: %w", err)
	}
	msgs := make([]amqp.Publishing, cfg.Count)
	for i := range msgs {
		msgs[i] = amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: fmt.Sprint(i), Body: cfg.Body(i)}
	}
	if _, _, err := Publish(conn.Channel, "", iwQueue, msgs, cfg.Window, 0); err != nil {
		return Result{}, fmt.Errorf("baseline intake-work: publish requests: %w", err)
	}
	m := Start()
	lat, err := consumeBatches(conn, iwQueue, cfg, IntakeWorkBatch, iwWait,
		func() (func([]amqp.Delivery) error, func(), error) {
			pub, err := newConfirmer(conn)
			if err != nil {
				return nil, nil, err
			}
			return func(ds []amqp.Delivery) error {
				out, err := iwStore(ctx, cfg, ds)
				if err != nil {
					return err
				}
				return pub.publish(out)
			}, pub.close, nil
		})
	r := m.Stop("baseline/intake-work", cfg.Count)
	r.SetLatencies("delivery → ack after commit and confirms", lat)
	if err != nil {
		return r, fmt.Errorf("baseline intake-work: %w", err)
	}
	if err := iwCheck(ctx, cfg); err != nil {
		return r, fmt.Errorf("baseline intake-work: %w", err)
	}
	return r, nil
}

// iwSetup creates the scratch tables (empty) and declares the queues: the
// requests' queue, and an exchange routing the answers and the tasks to a
// quorum queue each.
func iwSetup(ctx context.Context, conn *amqp.Connection, cfg BaselineConfig) error {
	for table, like := range IntakeWorkTables {
		if _, err := cfg.Pool.Exec(ctx, `DROP TABLE IF EXISTS `+table+`; CREATE TABLE `+table+` (LIKE `+like+` INCLUDING ALL)`); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	quorum := amqp.Table{"x-queue-type": "quorum"}
	if _, err := ch.QueueDeclare(iwQueue, true, false, false, false, quorum); err != nil {
		return err
	}
	if err := ch.ExchangeDeclare(iwExchange, "direct", true, false, false, false, nil); err != nil {
		return err
	}
	for _, key := range []string{"event", "task"} {
		q := iwExchange + "." + key
		if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
			return err
		}
		if err := ch.QueueBind(q, key, iwExchange, false, nil); err != nil {
			return err
		}
	}
	return nil
}

// iwCheck counts the rows written: IntakeWorkRows a request in all.
func iwCheck(ctx context.Context, cfg BaselineConfig) error {
	want := map[string]int{"bench_iw_payments": cfg.Count, "bench_iw_timeline": 2 * cfg.Count,
		"bench_iw_requests": cfg.Count, "bench_iw_outbox": 2 * cfg.Count}
	var errs []error
	for table, n := range want {
		var got int
		if err := cfg.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&got); err != nil {
			return err
		}
		if got != n {
			errs = append(errs, fmt.Errorf("%s holds %d rows, want %d", table, got, n))
		}
	}
	return errors.Join(errs...)
}

// iwMessage is an outgoing message of a stored request.
type iwMessage struct {
	key, id string
	body    []byte
}

// iwStore writes the rows of one batch in one transaction, one COPY per
// table, and returns the messages to publish after the commit.
func iwStore(ctx context.Context, cfg BaselineConfig, ds []amqp.Delivery) ([]iwMessage, error) {
	now := time.Now().UTC()
	n := len(ds)
	ids := make([]pgtype.UUID, n)
	reqs := make([]string, n)
	answers := make([][]byte, n)
	out := make([]iwMessage, 0, 2*n)
	pays := make([][]any, n)
	for i, d := range ds {
		id := uuid.New()
		ids[i] = pgtype.UUID{Bytes: id, Valid: true}
		reqs[i] = fmt.Sprintf("erp-iw-%s-%s", d.MessageId, id.String()[:8])
		pays[i] = row(i, now)
		pays[i][0], pays[i][2] = ids[i], reqs[i]
		answer, err := json.Marshal(iwEvent{Schema: "b2bpay.event/v1", ID: Upstream + "/" + reqs[i] + "/answer", Kind: "accepted",
			UpstreamID: Upstream, RequestID: reqs[i], MessageID: d.MessageId, PaymentID: id.String(), OrderRef: "PO-" + id.String()[:30],
			State: "awaiting_confirmation", At: now})
		if err != nil {
			return nil, err
		}
		task, err := json.Marshal(iwTask{Schema: "b2bpay.task/v1", PaymentID: id.String(), CustomerID: CustomerID, Stage: "confirmation",
			Applicant: Applicant, AmountMinor: 128640050, Currency: "CNY", Creditor: CustomerName, OrderRef: "PO-" + id.String()[:30], Version: 2, At: now})
		if err != nil {
			return nil, err
		}
		answers[i] = answer
		out = append(out, iwMessage{"event", Upstream + "/" + reqs[i] + "/answer", answer},
			iwMessage{"task", id.String() + "/task/2", task})
	}
	hash := sha256.Sum256([]byte("intake-work"))
	err := pgx.BeginFunc(ctx, cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_iw_payments"}, rowColumns, pgx.CopyFromRows(pays)); err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_iw_timeline"},
			[]string{"payment_id", "seq", "at", "actor_kind", "actor_id", "action", "from_state", "to_state", "code", "note", "prev_hash", "hash", "otp_step", "mac"},
			pgx.CopyFromSlice(2*n, func(j int) ([]any, error) {
				i := j / 2
				if j%2 == 0 {
					return []any{ids[i], int32(1), now, "upstream", Upstream, "receive", nil, "received", "", "request " + reqs[i], nil, hash[:], nil, hash[:]}, nil
				}
				return []any{ids[i], int32(2), now, "system", "intake", "request_confirmation", "received", "awaiting_confirmation", "", "", hash[:], hash[:], nil, hash[:]}, nil
			})); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_iw_requests"},
			[]string{"upstream_id", "request_id", "body_sha256", "outcome", "code", "payment_id", "answer", "received_at"},
			pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				sum := sha256.Sum256(ds[i].Body)
				return []any{Upstream, reqs[i], sum[:], "accepted", "", ids[i], string(answers[i]), now}, nil
			})); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_iw_outbox"},
			[]string{"message_id", "exchange", "routing_key", "content_type", "headers", "body", "created_at", "available_at", "discard_unroutable"},
			pgx.CopyFromSlice(len(out), func(i int) ([]any, error) {
				m := out[i]
				return []any{m.id, iwExchange, m.key, "application/json", "{}", m.body, now, now, false}, nil
			})); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		return nil
	})
	return out, err
}

// iwEvent is as wide as intake's answer (payment.Event, accepted).
type iwEvent struct {
	Schema     string    `json:"schema"`
	ID         string    `json:"event_id"`
	Kind       string    `json:"kind"`
	UpstreamID string    `json:"upstream_id"`
	RequestID  string    `json:"request_id"`
	MessageID  string    `json:"message_id"`
	PaymentID  string    `json:"payment_id"`
	OrderRef   string    `json:"order_ref"`
	State      string    `json:"state"`
	At         time.Time `json:"at"`
}

// iwTask stands for intake's confirmation task.
type iwTask struct {
	Schema      string    `json:"schema"`
	PaymentID   string    `json:"payment_id"`
	CustomerID  string    `json:"customer_id"`
	Stage       string    `json:"stage"`
	Applicant   string    `json:"applicant_id"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Creditor    string    `json:"creditor_name"`
	OrderRef    string    `json:"order_ref"`
	Version     int       `json:"version"`
	At          time.Time `json:"at"`
}

// confirmer publishes on a channel of its own in confirm mode.
type confirmer struct {
	ch       *amqp.Channel
	confirms chan amqp.Confirmation
	returns  chan amqp.Return
}

func newConfirmer(conn *amqp.Connection) (*confirmer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	c := &confirmer{ch: ch}
	c.confirms = ch.NotifyPublish(make(chan amqp.Confirmation, 2*IntakeWorkBatch))
	c.returns = ch.NotifyReturn(make(chan amqp.Return, 2*IntakeWorkBatch))
	return c, nil
}

// publish sends msgs (persistent, mandatory) and waits for every confirm;
// a nack or a returned (unroutable) message is an error.
func (c *confirmer) publish(msgs []iwMessage) error {
	for _, m := range msgs {
		if err := c.ch.Publish(iwExchange, m.key, true, false, amqp.Publishing{DeliveryMode: amqp.Persistent,
			ContentType: "application/json", MessageId: m.id, Body: m.body}); err != nil {
			return err
		}
	}
	for range msgs {
		select {
		case conf, ok := <-c.confirms:
			if !ok {
				return errors.New("publish channel closed")
			}
			if !conf.Ack {
				return fmt.Errorf("message %d nacked", conf.DeliveryTag)
			}
		case <-time.After(time.Minute):
			return errors.New("confirms did not all arrive within a minute")
		}
	}
	select {
	case r := <-c.returns:
		return fmt.Errorf("message %s returned: %s", r.MessageId, r.ReplyText)
	default:
		return nil
	}
}

func (c *confirmer) close() { _ = c.ch.Close() }
