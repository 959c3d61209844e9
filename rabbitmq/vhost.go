package rabbitmq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// NewVhost creates a vhost named prefix followed by random hex on the
// broker of baseURL, with full permissions for the URL's user (guest when
// it names none), and returns its amqp URL; cleanup deletes it. It runs
// rabbitmqctl (or $RABBITMQCTL), which must be able to manage that broker
// from this machine, a second or two per call. The test kit and the
// benchmark run on such vhosts, so runs never see each other's messages.
// baseURL may be a comma-separated list of a cluster's nodes: the user is
// the first one's, and the URL returned is the list, each node's URL
// naming the new vhost.
func NewVhost(baseURL, prefix string) (amqpURL string, cleanup func(), err error) {
	return NewVhostCtl(baseURL, prefix, func(args ...string) error { return Ctl(nil, args...) })
}

// NewVhostCtl is NewVhost with the rabbitmqctl runner given: ctl runs one
// rabbitmqctl command against the broker of baseURL (the fault suite's
// cluster scenarios pass one that reaches the cluster's nodes with their
// cookie).
func NewVhostCtl(baseURL, prefix string, ctl func(args ...string) error) (amqpURL string, cleanup func(), err error) {
	base, err := url.Parse(FirstURL(baseURL))
	if err != nil {
		return "", nil, fmt.Errorf("parse %s: %w", RedactURL(baseURL), err)
	}
	user := "guest"
	if base.User != nil && base.User.Username() != "" {
		user = base.User.Username()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	vhost := prefix + hex.EncodeToString(b[:])
	if err := ctl("add_vhost", vhost); err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = ctl("delete_vhost", vhost) }
	if err := ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*"); err != nil {
		cleanup()
		return "", nil, err
	}
	amqpURL, err = MapURLs(baseURL, func(u *url.URL) {
		u.Path = "/" + vhost
		u.RawPath = "/" + url.PathEscape(vhost)
	})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return amqpURL, cleanup, nil
}

// Ctl runs one rabbitmqctl command (or $RABBITMQCTL) with stdin, when not
// nil, as its standard input, bounded by a minute.
func Ctl(stdin []byte, args ...string) error {
	bin := os.Getenv("RABBITMQCTL")
	if bin == "" {
		bin = "rabbitmqctl"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--quiet"}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
