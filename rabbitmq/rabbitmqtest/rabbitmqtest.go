// Package rabbitmqtest helps tests run against a real RabbitMQ broker: a fresh vhost per test
// package, unique queue names per test, and fault injection through rabbitmqctl.
//
// The broker is the one at B2BPAY_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/), and
// rabbitmqctl (or $RABBITMQCTL) must be able to manage it from this machine.
package rabbitmqtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/b2bpay/b2bpay/rabbitmq"
)

// DefaultBaseURL is the broker used when B2BPAY_TEST_AMQP_URL is not set.
const DefaultBaseURL = "amqp://guest:guest@127.0.0.1:5672/"

// BaseURL returns B2BPAY_TEST_AMQP_URL, or DefaultBaseURL if it is empty.
func BaseURL() string {
	if u := os.Getenv("B2BPAY_TEST_AMQP_URL"); u != "" {
		return u
	}
	return DefaultBaseURL
}

// NewVhost creates a fresh vhost named "b2bpay-test-<random>" with full permissions for the base
// URL's user and returns its amqp URL; cleanup deletes it (rabbitmq.NewVhost). rabbitmqctl takes a
// second or two per call, so call it once per test package (from TestMain) and share the vhost;
// give each test its own queues with QueueName.
func NewVhost() (amqpURL string, cleanup func(), err error) {
	return rabbitmq.NewVhost(BaseURL(), "b2bpay-test-")
}

// NewUser creates a scratch broker user "b2bpay-test-<random>" with a random
// password and the given permissions (regular expressions, as
// `rabbitmqctl set_permissions` takes them) on the vhost of amqpURL. It
// returns the user's name and an amqp URL that connects as it to that
// vhost; cleanup deletes the user.
func NewUser(amqpURL, configure, write, read string) (name, userURL string, cleanup func(), err error) {
	u, err := url.Parse(rabbitmq.FirstURL(amqpURL))
	if err != nil {
		return "", "", nil, fmt.Errorf("parse %s: %w", rabbitmq.RedactURL(amqpURL), err)
	}
	vhost, err := VhostOf(amqpURL)
	if err != nil {
		return "", "", nil, err
	}
	name, password := "b2bpay-test-"+random(6), random(16)
	if err := rabbitmqctl("add_user", name, password); err != nil {
		return "", "", nil, err
	}
	cleanup = func() { _ = rabbitmqctl("delete_user", name) }
	if err := rabbitmqctl("set_permissions", "-p", vhost, name, configure, write, read); err != nil {
		cleanup()
		return "", "", nil, err
	}
	u.User = url.UserPassword(name, password)
	return name, u.String(), cleanup, nil
}

// VhostOf returns the vhost named by an amqp URL ("/" if it names none);
// of a comma-separated list, the first URL's.
func VhostOf(amqpURL string) (string, error) {
	u, err := url.Parse(rabbitmq.FirstURL(amqpURL))
	if err != nil {
		return "", err
	}
	v := strings.TrimPrefix(u.Path, "/")
	if v == "" {
		return "/", nil
	}
	return v, nil
}

// CloseConnections injects a broker fault: it runs `rabbitmqctl close_all_connections -p VHOST
// "reason"`, or for every vhost if vhost is empty. Clients see a CONNECTION_FORCED close.
func CloseConnections(vhost, reason string) error {
	if reason == "" {
		reason = "rabbitmqtest fault injection"
	}
	if vhost == "" {
		return rabbitmqctl("close_all_connections", "--global", reason)
	}
	return rabbitmqctl("close_all_connections", "-p", vhost, reason)
}

// ImportDefinitions loads a definitions JSON document into the broker with
// `rabbitmqctl import_definitions`.
func ImportDefinitions(doc []byte) error {
	return rabbitmqctlInput(doc, "import_definitions", "--format", "json")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// QueueName returns a name unique to this test and this call: the test's name, made safe, plus a
// random suffix, so that tests running in parallel in one vhost never share a queue.
func QueueName(t testing.TB, suffix string) string {
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(name) > 120 {
		name = name[:120]
	}
	if suffix != "" {
		name += "." + unsafeName.ReplaceAllString(suffix, "_")
	}
	return name + "." + random(4)
}

// rabbitmqctl runs one rabbitmqctl command, bounded by a minute.
func rabbitmqctl(args ...string) error { return rabbitmq.Ctl(nil, args...) }

// rabbitmqctlInput runs one rabbitmqctl command with stdin as its standard input, bounded by a
// minute.
func rabbitmqctlInput(stdin []byte, args ...string) error { return rabbitmq.Ctl(stdin, args...) }

// random returns n random bytes as hex.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
