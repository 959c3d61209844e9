package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/rabbitmq"
)

// BaselineConfig says where and how much to measure.
type BaselineConfig struct {
	AMQPURL string
	// Pool is a database migrated to b2bpay's schema; the baselines write
	// to a table shaped like payments (columns and indexes, no foreign
	// keys) that they create.
	Pool *pgxpool.Pool
	// Count is how many messages or rows each baseline handles.
	Count int
	// Body is the message body published.
	Body func(i int) []byte
	// Window is how many publishes may await their confirm; Prefetch and
	// Workers tune the consumers (b2bpay's defaults: 50 and 4).
	Window, Prefetch, Workers int
}

const (
	baselineQueue = "bench.baseline"
	rowsTable     = "bench_rows"
	timelineTable = "bench_timeline"
	batchRows     = 100
	// updateBatch is how many payments one transaction of the batch-update
	// baseline moves: a person's batch decision of a day's work.
	updateBatch = 1000
)

// Baselines measures, in order: publish with confirms to a quorum queue,
// consume with manual acks, consume → batched INSERT → ack, COPY, and the
// batched UPDATE of the copied rows with a timeline row each, and intake's
// work without b2bpay (IntakeWork).
func Baselines(ctx context.Context, cfg BaselineConfig) ([]Result, error) {
	if cfg.Window <= 0 {
		cfg.Window = 1000
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	conn, err := amqp.Dial(rabbitmq.FirstURL(cfg.AMQPURL)) // a baseline of one node
	if err != nil {
		return nil, fmt.Errorf("baseline: dial: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if _, err := ch.QueueDeclare(baselineQueue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return nil, fmt.Errorf("baseline: declare queue: %w", err)
	}
	_ = ch.Close()
	if _, err := cfg.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+rowsTable+` (LIKE payments INCLUDING ALL)`); err != nil {
		return nil, fmt.Errorf("baseline: create table: %w", err)
	}

	var out []Result
	pub, err := publishConfirmed(conn, cfg, "baseline/publish")
	if err != nil {
		return nil, err
	}
	out = append(out, pub)
	cons, err := consumeAck(conn, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, cons)
	if _, err := publishConfirmed(conn, cfg, "refill"); err != nil {
		return nil, err
	}
	ins, err := consumeInsert(ctx, conn, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, ins)
	cp, err := copyRows(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, cp)
	bu, err := batchUpdate(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, bu)
	iw, err := IntakeWork(ctx, conn, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, iw)
	for i := range out {
		out[i].Compare(out[i])
	}
	return out, nil
}

// publishConfirmed publishes Count persistent messages with confirms to
// the baseline queue, pipelined.
func publishConfirmed(conn *amqp.Connection, cfg BaselineConfig, name string) (Result, error) {
	msgs := make([]amqp.Publishing, cfg.Count)
	for i := range msgs {
		msgs[i] = amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: fmt.Sprint(i), Body: cfg.Body(i)}
	}
	m := Start()
	sent, lat, err := Publish(conn.Channel, "", baselineQueue, msgs, cfg.Window, 0)
	r := m.Stop(name, len(sent))
	if err != nil {
		return r, fmt.Errorf("baseline publish: %w", err)
	}
	r.SetLatencies("publish → confirm", lat)
	return r, nil
}

// Publish publishes msgs with publisher confirms on ch (which it puts in
// confirm mode), at most window of them awaiting their confirm, one every
// pace (0: as fast as the window allows). It returns when each was
// published, and how long each took to be confirmed.
//
// It opens a channel of its own and closes it before it returns: a confirm
// listener left unread would block the whole connection.
func Publish(open func() (*amqp.Channel, error), exchange, key string, msgs []amqp.Publishing, window int, pace time.Duration) ([]time.Time, []time.Duration, error) {
	if len(msgs) == 0 {
		return nil, nil, nil
	}
	ch, err := open()
	if err != nil {
		return nil, nil, err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return nil, nil, err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	base := ch.GetNextPublishSeqNo() // the delivery tag of msgs[0]
	sent := make([]time.Time, len(msgs))
	lat := make([]time.Duration, len(msgs))
	slots := make(chan struct{}, window)
	var mu sync.Mutex
	nacks, confirmed := 0, 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range confirms {
			mu.Lock()
			lat[c.DeliveryTag-base] = time.Since(sent[c.DeliveryTag-base])
			mu.Unlock()
			if !c.Ack {
				nacks++
			}
			confirmed++
			<-slots
			if confirmed == len(msgs) {
				return
			}
		}
	}()
	start := time.Now()
	for i := range msgs {
		if pace > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * pace)))
		}
		slots <- struct{}{}
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if err := ch.Publish(exchange, key, false, false, msgs[i]); err != nil {
			return sent[:i], lat[:i], err
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		return sent, lat, errors.New("confirms did not all arrive within a minute")
	}
	if nacks > 0 {
		return sent, lat, fmt.Errorf("%d of %d messages nacked", nacks, len(msgs))
	}
	return sent, lat, nil
}

// consumeAck takes Count messages with manual acks, one ack each.
func consumeAck(conn *amqp.Connection, cfg BaselineConfig) (Result, error) {
	m := Start()
	var lat []time.Duration
	var mu sync.Mutex
	err := consumeParallel(conn, baselineQueue, cfg, func(ch *amqp.Channel, ds <-chan amqp.Delivery, take func() bool) error {
		var mine []time.Duration
		for d := range ds {
			t := time.Now()
			if err := d.Ack(false); err != nil {
				return err
			}
			mine = append(mine, time.Since(t))
			if !take() {
				break
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
		return nil
	})
	r := m.Stop("baseline/consume", cfg.Count)
	r.SetLatencies("ack call", lat)
	return r, err
}

// consumeInsert takes Count messages, inserts a payments-shaped row for
// each in transactions of 100 rows, and acks each batch after its commit.
func consumeInsert(ctx context.Context, conn *amqp.Connection, cfg BaselineConfig) (Result, error) {
	m := Start()
	lat, err := consumeBatches(conn, baselineQueue, cfg, batchRows, 20*time.Millisecond,
		func() (func([]amqp.Delivery) error, func(), error) {
			return func(ds []amqp.Delivery) error { return insertBatch(ctx, cfg.Pool, ds) }, func() {}, nil
		})
	r := m.Stop("baseline/consume-insert-ack", cfg.Count)
	r.SetLatencies("delivery → ack after commit", lat)
	return r, err
}

// consumeBatches runs consumeParallel with each worker gathering up to
// size deliveries (or what came within wait), handing them to its handle
// and acking them with one multiple ack once it returned. newWorker makes
// each worker's handle and what closes it. It returns every delivery's
// time from arrival to its ack.
func consumeBatches(conn *amqp.Connection, queue string, cfg BaselineConfig, size int, wait time.Duration,
	newWorker func() (handle func([]amqp.Delivery) error, closeWorker func(), err error)) ([]time.Duration, error) {
	var lat []time.Duration
	var mu sync.Mutex
	err := consumeParallel(conn, queue, cfg, func(_ *amqp.Channel, ds <-chan amqp.Delivery, take func() bool) error {
		handle, closeWorker, err := newWorker()
		if err != nil {
			return err
		}
		defer closeWorker()
		var pending []amqp.Delivery
		var arrived []time.Time
		var mine []time.Duration
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			if err := handle(pending); err != nil {
				return err
			}
			if err := pending[len(pending)-1].Ack(true); err != nil {
				return err
			}
			for _, t := range arrived {
				mine = append(mine, time.Since(t))
			}
			pending, arrived = pending[:0], arrived[:0]
			return nil
		}
		more := true
		for more {
			select {
			case d, ok := <-ds:
				if !ok {
					more = false
					continue
				}
				pending, arrived = append(pending, d), append(arrived, time.Now())
				more = take()
				if len(pending) == size {
					if err := flush(); err != nil {
						return err
					}
				}
			case <-time.After(wait):
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
		return nil
	})
	return lat, err
}

// consumeParallel runs Workers consumers, each on its own channel, until
// Count deliveries were taken in all; take reports whether more are wanted.
func consumeParallel(conn *amqp.Connection, queue string, cfg BaselineConfig,
	work func(ch *amqp.Channel, ds <-chan amqp.Delivery, take func() bool) error) error {
	var mu sync.Mutex
	taken := 0
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		taken++
		return taken < cfg.Count
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.Workers)
	stop := make(chan struct{})
	var once sync.Once
	for w := range cfg.Workers {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		if err := ch.Qos(cfg.Prefetch, 0, false); err != nil {
			return err
		}
		ds, err := ch.Consume(queue, fmt.Sprintf("bench-%d", w), false, false, false, false, nil)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stop the deliveries once every wanted one was taken; the
			// rest of the prefetch is requeued when the channel closes.
			ours := make(chan amqp.Delivery)
			go func() {
				defer close(ours)
				for {
					select {
					case d, ok := <-ds:
						if !ok {
							return
						}
						select {
						case ours <- d:
						case <-stop:
							return
						}
					case <-stop:
						return
					}
				}
			}()
			last := func() bool {
				more := take()
				if !more {
					once.Do(func() { close(stop) })
				}
				return more
			}
			errs[w] = work(ch, ours, last)
			_ = ch.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// row is a payments-shaped row for message i.
func row(i int, now time.Time) []any {
	id := uuid.New()
	head := sha256.Sum256(id[:])
	return []any{id.String(), Upstream, fmt.Sprintf("erp-bl-%d-%s", i, id.String()[:8]), "PO-" + id.String()[:30], CustomerID, Applicant,
		BankID, DebtorAccount, CustomerName, "31001520313050012345", "105290036005", int64(128640050), "CNY",
		"采购合同 HT-2026-0215 第二期货款", now, "awaiting_confirmation", int32(2), now, now, int32(1), head[:]}
}

var rowColumns = []string{"id", "upstream_id", "request_id", "order_ref", "customer_id", "applicant_id", "bank_id",
	"debtor_account", "creditor_name", "creditor_account", "creditor_bank_id", "amount_minor", "currency",
	"remittance", "execution_date", "state", "version", "created_at", "updated_at", "required_authorizers", "head_hash"}

const insertRow = `INSERT INTO ` + rowsTable + ` (id, upstream_id, request_id, order_ref, customer_id, applicant_id, bank_id,
	debtor_account, creditor_name, creditor_account, creditor_bank_id, amount_minor, currency, remittance, execution_date,
	state, version, created_at, updated_at, required_authorizers, head_hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`

// insertBatch inserts one row per delivery in one transaction.
func insertBatch(ctx context.Context, pool *pgxpool.Pool, ds []amqp.Delivery) error {
	now := time.Now().UTC()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range ds {
			b.Queue(insertRow, row(i, now)...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// copyRows copies Count payments-shaped rows with one COPY.
func copyRows(ctx context.Context, cfg BaselineConfig) (Result, error) {
	now := time.Now().UTC()
	m := Start()
	i := 0
	n, err := cfg.Pool.CopyFrom(ctx, pgx.Identifier{rowsTable}, rowColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == cfg.Count {
			return nil, nil
		}
		i++
		return row(i, now), nil
	}))
	r := m.Stop("baseline/copy", int(n))
	r.LatencyOf = "-"
	if err != nil {
		return r, fmt.Errorf("baseline copy: %w", err)
	}
	return r, nil
}

// batchUpdate moves the rows COPY wrote, updateBatch a transaction, as a
// batch decision moves payments without b2bpay's checks: lock the rows in
// id order, one UPDATE of state, version, time and head hash guarded by the
// version read, one COPY of a timeline row each (hashes and a MAC as wide as
// b2bpay's), commit. It is the limit for approving payments in batches.
func batchUpdate(ctx context.Context, cfg BaselineConfig) (Result, error) {
	if _, err := cfg.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+timelineTable+` (LIKE payment_timeline INCLUDING ALL)`); err != nil {
		return Result{}, fmt.Errorf("baseline batch-update: create table: %w", err)
	}
	rows, err := cfg.Pool.Query(ctx, `SELECT id::text FROM `+rowsTable+` WHERE request_id LIKE 'erp-bl-%' AND version = 2 ORDER BY id LIMIT $1`, cfg.Count)
	if err != nil {
		return Result{}, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return Result{}, fmt.Errorf("baseline batch-update: read ids: %w", err)
	}
	hash := sha256.Sum256([]byte("batch-update"))
	m := Start()
	done := 0
	for start := 0; start < len(ids); start += updateBatch {
		chunk := ids[start:min(start+updateBatch, len(ids))]
		now := time.Now().UTC()
		err := pgx.BeginFunc(ctx, cfg.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM `+rowsTable+` WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, chunk); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE `+rowsTable+` p SET state = 'awaiting_review', version = p.version + 1, updated_at = $1, head_hash = $3
				FROM unnest($2::uuid[]) AS u(id) WHERE p.id = u.id AND p.version = 2`, now, chunk, hash[:])
			if err != nil {
				return err
			}
			if int(tag.RowsAffected()) != len(chunk) {
				return fmt.Errorf("%d of %d rows updated", tag.RowsAffected(), len(chunk))
			}
			_, err = tx.CopyFrom(ctx, pgx.Identifier{timelineTable},
				[]string{"payment_id", "seq", "at", "actor_kind", "actor_id", "action", "from_state", "to_state", "code", "note", "prev_hash", "hash", "otp_step", "mac"},
				pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
					return []any{chunk[i], int32(3), now, "user", Applicant, "confirm", "awaiting_confirmation", "awaiting_review", "", "",
						hash[:], hash[:], int64(59_000_000), hash[:]}, nil
				}))
			return err
		})
		if err != nil {
			return Result{}, fmt.Errorf("baseline batch-update: %w", err)
		}
		done += len(chunk)
	}
	r := m.Stop("baseline/batch-update", done)
	r.LatencyOf = "-"
	if done == 0 {
		return r, errors.New("baseline batch-update: no rows to update")
	}
	return r, nil
}
