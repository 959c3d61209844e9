// Package producers is the client upstream systems import to publish
// payment requests to b2bpay and read its answers. Requests are published
// persistent, with publisher confirms and the mandatory flag, so a nil
// error means the broker has the request on disk in the intake queue.
package producers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// Config configures a Client.
type Config struct {
	// URL of the broker, with the upstream's own RabbitMQ user; a
	// comma-separated list names the nodes of a cluster (rabbitmq.Config).
	URL string
	// UpstreamID is the upstream's id in b2bpay.
	UpstreamID string
	// UserID, when set, is sent as the user_id property; the broker checks
	// it against the connection's user, and b2bpay identifies the upstream
	// by it. Leave it empty to sign with HMACKey instead.
	UserID string
	// HMACKey, when set, signs each body (x-b2bpay-signature).
	HMACKey []byte
	// Prefetch bounds the status events a subscription holds
	// unacknowledged (DefaultPrefetch when 0).
	Prefetch int
	Logger   *slog.Logger
}

// Client publishes requests for one upstream system.
type Client struct {
	cfg  Config
	conn *rabbitmq.Conn
	pub  *rabbitmq.Publisher
}

// Dial connects a Client.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := payment.ValidUpstreamID("upstream id", cfg.UpstreamID); err != nil {
		return nil, fmt.Errorf("producers: %w", err)
	}
	if cfg.UserID == "" && cfg.HMACKey == nil {
		return nil, errors.New("producers: set UserID (broker-validated user_id) or HMACKey (signed bodies)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: cfg.URL, Name: "b2bpay-producer-" + cfg.UpstreamID, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, conn: conn, pub: rabbitmq.NewPublisher(conn, cfg.Logger)}, nil
}

// Close closes the client's connection.
func (c *Client) Close() error {
	_ = c.pub.Close()
	return c.conn.Close()
}

// Submit publishes one request and waits for the broker's confirm. The
// message id is the request id, so republishing after an error is safe:
// b2bpay answers a repeated request with its first answer.
func (c *Client) Submit(ctx context.Context, r payment.Request) error {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = payment.SchemaVersion
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("producers: encode request %s: %w", r.RequestID, err)
	}
	return c.Publish(ctx, r.RequestID, body)
}

// Publish publishes a request body as is, under messageID.
func (c *Client) Publish(ctx context.Context, messageID string, body []byte) error {
	return c.pub.Publish(ctx, c.message(messageID, body))
}

// PublishMany publishes several bodies, pipelining their confirms; one
// error per body.
func (c *Client) PublishMany(ctx context.Context, ids []string, bodies [][]byte) []error {
	ms := make([]rabbitmq.Message, len(bodies))
	for i := range bodies {
		ms[i] = c.message(ids[i], bodies[i])
	}
	return c.pub.PublishMany(ctx, ms)
}

func (c *Client) message(id string, body []byte) rabbitmq.Message {
	p := amqp.Publishing{
		MessageId:    id,
		UserId:       c.cfg.UserID,
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now().UTC(),
		Body:         body,
	}
	if c.cfg.HMACKey != nil {
		p.Headers = amqp.Table{
			route.HeaderUpstream:  c.cfg.UpstreamID,
			route.HeaderSignature: intake.Sign(c.cfg.HMACKey, body),
		}
	}
	return rabbitmq.Message{Exchange: route.RequestsExchange, Key: route.RequestKey, Publishing: p}
}

// Answers receives the upstream's status events from its status queue.
type Answers struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   map[string]payment.Event
	wait   map[string]chan payment.Event
	all    []payment.Event
}

// openStatus opens a channel consuming the upstream's status queue,
// b2bpay.status.<upstream>, with manual acknowledgements and at most
// prefetch events unacknowledged. b2bpay declares that queue and binds it
// to exactly this upstream's events; the upstream's broker user needs read
// permission on it and nothing else (route.UpstreamPermissions): it
// declares and binds nothing.
func (c *Client) openStatus(ctx context.Context) (*amqp.Channel, <-chan amqp.Delivery, error) {
	q := route.StatusQueue(c.cfg.UpstreamID)
	ch, err := c.conn.Channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Qos(c.prefetch(), 0, false); err != nil {
		_ = ch.Close()
		return nil, nil, fmt.Errorf("producers: set prefetch on %s: %w", q, err)
	}
	deliveries, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			return nil, nil, fmt.Errorf("producers: status queue %s does not exist: b2bpay declares it when the upstream is registered "+
				"(b2bpay upstream add, b2bpay topology): %w", q, err)
		}
		if errors.As(err, &ae) && ae.Code == amqp.AccessRefused {
			return nil, nil, fmt.Errorf("producers: the broker user may not read %s (give it read permission on that queue): %w", q, err)
		}
		return nil, nil, fmt.Errorf("producers: consume %s: %w", q, err)
	}
	return ch, deliveries, nil
}

// DefaultPrefetch is how many status events a subscription holds
// unacknowledged at most, unless Config.Prefetch says otherwise.
const DefaultPrefetch = 100

func (c *Client) prefetch() int {
	if c.cfg.Prefetch > 0 {
		return c.cfg.Prefetch
	}
	return DefaultPrefetch
}

// Subscribe starts consuming this upstream's status queue: every event is
// recorded (Events, Wait) and then acknowledged, so it leaves the queue.
// Run it in the upstream's one consumer of its answers; events published
// before Subscribe wait in the queue, so none is missed.
func (c *Client) Subscribe(ctx context.Context) (*Answers, error) {
	ch, deliveries, err := c.openStatus(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Answers{cancel: cancel, done: make(chan struct{}), seen: map[string]payment.Event{}, wait: map[string]chan payment.Event{}}
	go func() {
		defer close(a.done)
		defer func() { _ = ch.Close() }()
		for {
			select {
			case <-ctx.Done():
				return
			case d, ok := <-deliveries:
				if !ok {
					return
				}
				var ev payment.Event
				if json.Unmarshal(d.Body, &ev) == nil {
					a.deliver(d.CorrelationId, ev)
				}
				if d.Ack(false) != nil {
					return
				}
			}
		}
	}()
	return a, nil
}

// Await waits on the status queue for the first answer correlated with id
// and acknowledges only that one: every other event it saw goes back to
// the queue when it returns, for the upstream's own consumer. It holds at
// most the prefetch count of other events; with more of them ahead of the
// answer it gives up with an error rather than hold them all.
func (c *Client) Await(ctx context.Context, id string) (payment.Event, error) {
	ch, deliveries, err := c.openStatus(ctx)
	if err != nil {
		return payment.Event{}, err
	}
	defer func() { _ = ch.Close() }() // returns what was not acknowledged
	held := 0
	for {
		select {
		case <-ctx.Done():
			return payment.Event{}, fmt.Errorf("producers: no answer for %s: %w", id, ctx.Err())
		case d, ok := <-deliveries:
			if !ok {
				return payment.Event{}, errors.New("producers: status queue consumer closed")
			}
			var ev payment.Event
			if d.CorrelationId == id && json.Unmarshal(d.Body, &ev) == nil {
				if err := d.Ack(false); err != nil {
					return payment.Event{}, fmt.Errorf("producers: acknowledge the answer for %s: %w", id, err)
				}
				return ev, nil
			}
			if held++; held >= c.prefetch() {
				return payment.Event{}, fmt.Errorf("producers: more than %d other events wait in %s ahead of the answer for %s: "+
					"consume them first (they were left in the queue)", held, route.StatusQueue(c.cfg.UpstreamID), id)
			}
		}
	}
}

func (a *Answers) deliver(correlation string, ev payment.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, ev)
	if _, ok := a.seen[correlation]; !ok {
		a.seen[correlation] = ev
	}
	if w, ok := a.wait[correlation]; ok {
		select {
		case w <- ev:
		default:
		}
	}
}

// Events returns every answer received so far, in arrival order.
func (a *Answers) Events() []payment.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]payment.Event(nil), a.all...)
}

// Wait returns the first answer correlated with id (a request id, or the message
// id of a request that could not be read).
func (a *Answers) Wait(ctx context.Context, id string) (payment.Event, error) {
	a.mu.Lock()
	if ev, ok := a.seen[id]; ok {
		a.mu.Unlock()
		return ev, nil
	}
	w := make(chan payment.Event, 1)
	a.wait[id] = w
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.wait, id)
		a.mu.Unlock()
	}()
	select {
	case ev := <-w:
		return ev, nil
	case <-ctx.Done():
		return payment.Event{}, fmt.Errorf("producers: no answer for %s: %w", id, ctx.Err())
	case <-a.done:
		return payment.Event{}, errors.New("producers: answer subscription closed")
	}
}

// Close ends the subscription.
func (a *Answers) Close() {
	a.cancel()
	<-a.done
}
