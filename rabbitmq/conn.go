package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrClosed is returned by a Conn, a Publisher or Consume once Close has been called on them.
var ErrClosed = errors.New("rabbitmq: closed")

// Config for a connection.
type Config struct {
	URL string // amqp://user:pass@host:port/vhost, or a comma-separated list of them
	// URLs, when set, are the nodes of one cluster (normally the same user
	// and vhost), used instead of URL: the connection dials them in turn,
	// the first time from a random one, after a loss from the one after
	// the node it lost.
	URLs         []string
	Name         string        // connection_name client property (shows in rabbitmqctl)
	Heartbeat    time.Duration // default 10s
	DialTimeout  time.Duration // default 5s
	OpTimeout    time.Duration // default 10s: bound on every broker call (channel open, declare, confirm wait)
	ReconnectMin time.Duration // default 100ms, exponential backoff with jitter
	ReconnectMax time.Duration // default 5s
	Logger       *slog.Logger  // snake_case keys; never log message bodies or passwords (redact the URL password)
}

// withDefaults fills in the zero fields of cfg.
func (cfg Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Heartbeat, 10*time.Second)
	def(&cfg.DialTimeout, 5*time.Second)
	def(&cfg.OpTimeout, 10*time.Second)
	def(&cfg.ReconnectMin, 100*time.Millisecond)
	def(&cfg.ReconnectMax, 5*time.Second)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Conn is a self-healing connection: a background goroutine watches NotifyClose (buffered, always
// drained) and redials with backoff after the broker restarts or drops the connection.
// amqp091-go's own Config.Recovery is not used.
type Conn struct {
	cfg  Config
	urls []string
	log  *slog.Logger
	// next is the index in urls of the next node to dial (only the
	// dialling goroutine touches it: Dial, then the supervisor).
	next int
	// node is the redacted URL of the current connection's node.
	node atomic.Pointer[string]

	mu      sync.Mutex
	cur     *amqp.Connection // nil while reconnecting
	changed chan struct{}    // closed and replaced on every change of cur
	gen     atomic.Uint64

	life     context.Context // cancelled by Close
	stop     context.CancelFunc
	done     chan struct{} // closed when the supervisor has exited
	closeErr error
}

// Dial connects to the broker, retrying the first dial with backoff until ctx is done, and starts
// the goroutine that reconnects after a connection loss.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	urls, err := cfg.urls()
	if err != nil {
		return nil, err
	}
	all := RedactURL(strings.Join(urls, ","))
	c := &Conn{
		cfg:     cfg,
		urls:    urls,
		next:    randomStart(len(urls)),
		log:     cfg.Logger.With("amqp_url", all, "connection_name", cfg.Name),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	conn, err := c.dialRetry(ctx)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", all, err)
	}
	c.life, c.stop = context.WithCancel(context.Background())
	c.install(conn)
	go c.supervise(conn)
	return c, nil
}

// Node is the redacted URL of the node the connection is on now (the last
// one it reached while it reconnects).
func (c *Conn) Node() string {
	if p := c.node.Load(); p != nil {
		return *p
	}
	return ""
}

// IsOpen reports whether the connection is up now (false while it
// reconnects and after Close): the readiness probe's broker check.
func (c *Conn) IsOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil && !c.cur.IsClosed() && c.life.Err() == nil
}

// Generation is 1 after Dial and increments on each successful reconnect.
func (c *Conn) Generation() uint64 { return c.gen.Load() }

// Close stops reconnecting and closes the current connection, which closes every channel opened on
// it. It is safe to call more than once.
func (c *Conn) Close() error {
	c.stop()
	<-c.done
	return c.closeErr
}

// Channel opens a fresh channel on the current live connection, waiting (bounded by ctx) for a
// reconnect if the connection is down. Opening is bounded by OpTimeout. The caller owns the channel.
func (c *Conn) Channel(ctx context.Context) (*amqp.Channel, error) {
	for {
		c.mu.Lock()
		conn, changed := c.cur, c.changed
		c.mu.Unlock()
		if c.life.Err() != nil {
			return nil, ErrClosed
		}
		if conn != nil && !conn.IsClosed() {
			ch, err := bounded(ctx, c.cfg.OpTimeout, "open channel", conn.Channel, closeQuietly)
			if err == nil {
				return ch, nil
			}
			if !conn.IsClosed() {
				return nil, fmt.Errorf("rabbitmq: %w", err)
			}
			// The connection died under us: wait for the supervisor to replace it.
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbitmq: wait for connection: %w", ctx.Err())
		case <-c.life.Done():
			return nil, ErrClosed
		}
	}
}

// install makes conn the current connection and bumps the generation.
func (c *Conn) install(conn *amqp.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = conn
	c.gen.Add(1)
	close(c.changed)
	c.changed = make(chan struct{})
}

// markDown records that the current connection is gone.
func (c *Conn) markDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = nil
	close(c.changed)
	c.changed = make(chan struct{})
}

// supervise waits for conn to close and replaces it, until Close is called.
func (c *Conn) supervise(conn *amqp.Connection) {
	defer close(c.done)
	for {
		// Buffered, and the library sends at most one error before closing it: never blocks it.
		notify := conn.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case amqpErr := <-notify:
			c.markDown()
			c.log.Warn("rabbitmq connection lost; reconnecting", "error", errString(amqpErr),
				"node", c.Node(), "generation", c.Generation())
		case <-c.life.Done():
			err := conn.CloseDeadline(time.Now().Add(c.cfg.OpTimeout))
			if err != nil && !errors.Is(err, amqp.ErrClosed) {
				c.closeErr = fmt.Errorf("rabbitmq: close connection: %w", err)
			}
			c.markDown()
			return
		}
		next, err := c.dialRetry(c.life)
		if err != nil {
			return // closed while reconnecting
		}
		c.install(next)
		c.log.Info("rabbitmq connection restored", "node", c.Node(), "generation", c.Generation())
		conn = next
	}
}

// dialRetry dials until it succeeds or ctx is done. Each round tries every
// node once, starting at c.next; it backs off only after a whole round
// failed. A node reached makes the next round start after it, so a
// reconnect after its loss tries the other nodes first.
func (c *Conn) dialRetry(ctx context.Context) (*amqp.Connection, error) {
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	for attempt := 1; ; attempt++ {
		var errs []error
		for range c.urls {
			i := c.next
			c.next = (i + 1) % len(c.urls)
			conn, err := c.dialOnce(c.urls[i])
			if err == nil {
				node := RedactURL(c.urls[i])
				c.node.Store(&node)
				return conn, nil
			}
			c.log.Warn("rabbitmq dial failed", "attempt", attempt, "node", RedactURL(c.urls[i]), "error", err)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		err := errors.Join(errs...)
		if serr := sleepCtx(ctx, b.next()); serr != nil {
			return nil, errors.Join(serr, err)
		}
	}
}

// dialOnce makes one connection attempt to one node, bounded by DialTimeout.
func (c *Conn) dialOnce(uri string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	if c.cfg.Name != "" {
		props.SetClientConnectionName(c.cfg.Name)
	}
	return amqp.DialConfig(uri, amqp.Config{
		Heartbeat:  c.cfg.Heartbeat,
		Properties: props,
		Locale:     "en_US",
		Dial:       amqp.DefaultDial(c.cfg.DialTimeout),
	})
}

// errString renders a possibly nil AMQP error for a log line.
func errString(err *amqp.Error) string {
	if err == nil {
		return "closed without error"
	}
	return err.Error()
}
