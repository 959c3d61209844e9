package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrClosed is returned by a Conn, a Publisher or Consume once Close has been called on them.
var ErrClosed = errors.New("rabbitmq: closed")

// Config for a connection.
type Config struct {
	URL          string        // amqp://user:pass@host:port/vhost
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

// RedactURL returns raw with its password replaced by "xxxxx", fit for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable amqp url)"
	}
	return u.Redacted()
}

// Conn is a self-healing connection: a background goroutine watches NotifyClose (buffered, always
// drained) and redials with backoff after the broker restarts or drops the connection.
// amqp091-go's own Config.Recovery is not used.
type Conn struct {
	cfg Config
	log *slog.Logger

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
	if cfg.URL == "" {
		return nil, errors.New("rabbitmq: dial: empty URL")
	}
	if _, err := amqp.ParseURI(cfg.URL); err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", RedactURL(cfg.URL), err)
	}
	c := &Conn{
		cfg:     cfg,
		log:     cfg.Logger.With("amqp_url", RedactURL(cfg.URL), "connection_name", cfg.Name),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	conn, err := c.dialRetry(ctx)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", RedactURL(cfg.URL), err)
	}
	c.life, c.stop = context.WithCancel(context.Background())
	c.install(conn)
	go c.supervise(conn)
	return c, nil
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
				"generation", c.Generation())
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
		c.log.Info("rabbitmq connection restored", "generation", c.Generation())
		conn = next
	}
}

// dialRetry dials until it succeeds or ctx is done.
func (c *Conn) dialRetry(ctx context.Context) (*amqp.Connection, error) {
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	for attempt := 1; ; attempt++ {
		conn, err := c.dialOnce()
		if err == nil {
			return conn, nil
		}
		c.log.Warn("rabbitmq dial failed", "attempt", attempt, "error", err)
		if serr := sleepCtx(ctx, b.next()); serr != nil {
			return nil, errors.Join(serr, err)
		}
	}
}

// dialOnce makes one connection attempt, bounded by DialTimeout.
func (c *Conn) dialOnce() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	if c.cfg.Name != "" {
		props.SetClientConnectionName(c.cfg.Name)
	}
	return amqp.DialConfig(c.cfg.URL, amqp.Config{
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
