package rabbitmq_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
)

// lockedBuffer is a log sink several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSplitAndRedactURLs(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"amqp://a:p@h1/v", "amqp://a:p@h2/v"}, rabbitmq.SplitURLs(" amqp://a:p@h1/v, ,amqp://a:p@h2/v "))
	require.Equal(t, "amqp://a:p@h1/v", rabbitmq.FirstURL("amqp://a:p@h1/v,amqp://a:p@h2/v"))
	require.Equal(t, "amqp://a:xxxxx@h1/v,amqp://a:xxxxx@h2/v", rabbitmq.RedactURL("amqp://a:s3cret@h1/v,amqp://a:s3cret@h2/v"))
	_, err := rabbitmq.Dial(t.Context(), rabbitmq.Config{URL: "amqp://a:s3cret@h1/v,http://a:s3cret@h2/"})
	require.Error(t, err, "every URL of the list is checked")
	require.NotContains(t, err.Error(), "s3cret")
	_, err = rabbitmq.Dial(t.Context(), rabbitmq.Config{URL: " , "})
	require.ErrorContains(t, err, "empty URL")
}

// TestDialListSkipsDeadNode dials a list whose first node is dead
// (127.0.0.1:1) and the system broker second: it connects to the live one,
// and after the broker closes the connection by force it reconnects,
// trying the dead node first (the one after the node it lost) and then
// the live one again.
func TestDialListSkipsDeadNode(t *testing.T) {
	t.Parallel()
	live, vhost := ownVhost(t)
	u, err := url.Parse(live)
	require.NoError(t, err)
	u.Host = "127.0.0.1:1"
	dead := u.String()

	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := rabbitmq.Dial(ctx, rabbitmq.Config{
		URL:  dead + "," + live,
		Name: "b2bpay-test " + t.Name(), DialTimeout: time.Second,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.True(t, c.IsOpen())
	require.Equal(t, rabbitmq.RedactURL(live), c.Node())
	require.Equal(t, uint64(1), c.Generation())
	f := setup(t, c, 5)

	require.NoError(t, rabbitmqtest.CloseConnections(vhost, "b2bpay test: node lost"))
	require.Eventually(t, func() bool { return c.Generation() >= 2 && c.IsOpen() }, 15*time.Second, 20*time.Millisecond)
	require.Equal(t, rabbitmq.RedactURL(live), c.Node())
	publish(t, f, "after-reconnect")
	require.Equal(t, 1, depth(t, c, f.queue))

	out := logs.String()
	require.Contains(t, out, "127.0.0.1:1", "the dead node was tried after the loss")
	require.Contains(t, out, "rabbitmq connection restored")
	require.False(t, strings.Contains(out, "guest:guest@"), "no password in the logs")
}
