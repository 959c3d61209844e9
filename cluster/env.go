// Package cluster reaches the cluster that scripts/cluster.sh runs on this
// machine (docs/cluster.md): three RabbitMQ nodes and a PostgreSQL primary
// with a synchronous standby. It reads the environment file that
// `scripts/cluster.sh up` writes (var/cluster/env) and runs the script's
// fault helpers, for the cluster's own test and the fault suite.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Env is what `scripts/cluster.sh up` wrote to var/cluster/env.
type Env struct {
	// AMQPURLs are the amqp URLs of nodes 1, 2 and 3, in that order.
	AMQPURLs []string
	// DatabaseURL names both PostgreSQL clusters and asks for the one
	// that accepts writes (target_session_attrs=read-write).
	DatabaseURL string
	// Nodes are the RabbitMQ node names (b2bpay-c1@localhost, ...).
	Nodes []string
	// PrimaryPort and StandbyPort are the ports of the clusters created as
	// primary and standby; after a promotion their roles are swapped.
	PrimaryPort, StandbyPort int
	// CookieFile holds the nodes' Erlang cookie.
	CookieFile string
	// Script is the path of scripts/cluster.sh.
	Script string
	// Values holds every variable of the file, as written.
	Values map[string]string
}

// EnvPath returns $B2BPAY_CLUSTER_ENV if set, else var/cluster/env of the
// module that holds the working directory.
func EnvPath() (string, error) {
	if p := os.Getenv("B2BPAY_CLUSTER_ENV"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "var", "cluster", "env"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cluster: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ReadEnv reads an environment file written by `scripts/cluster.sh up`.
func ReadEnv(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Env{}, fmt.Errorf("cluster: %w (run make cluster-up first)", err)
	}
	vals, err := parseEnv(b)
	if err != nil {
		return Env{}, fmt.Errorf("cluster: %s: %w", path, err)
	}
	e := Env{Values: vals, DatabaseURL: vals["B2BPAY_CLUSTER_DATABASE_URL"],
		CookieFile: vals["B2BPAY_CLUSTER_COOKIE_FILE"], Script: vals["B2BPAY_CLUSTER_SCRIPT"]}
	if u := vals["B2BPAY_CLUSTER_AMQP_URLS"]; u != "" {
		e.AMQPURLs = strings.Split(u, ",")
	}
	for i := 1; vals[fmt.Sprintf("B2BPAY_CLUSTER_RMQ%d_NODE", i)] != ""; i++ {
		e.Nodes = append(e.Nodes, vals[fmt.Sprintf("B2BPAY_CLUSTER_RMQ%d_NODE", i)])
	}
	if e.PrimaryPort, err = strconv.Atoi(vals["B2BPAY_CLUSTER_PG_PRIMARY_PORT"]); err != nil {
		return Env{}, fmt.Errorf("cluster: %s: bad B2BPAY_CLUSTER_PG_PRIMARY_PORT: %w", path, err)
	}
	if e.StandbyPort, err = strconv.Atoi(vals["B2BPAY_CLUSTER_PG_STANDBY_PORT"]); err != nil {
		return Env{}, fmt.Errorf("cluster: %s: bad B2BPAY_CLUSTER_PG_STANDBY_PORT: %w", path, err)
	}
	switch {
	case len(e.AMQPURLs) == 0 || len(e.AMQPURLs) != len(e.Nodes):
		return Env{}, fmt.Errorf("cluster: %s: %d amqp URLs for %d nodes", path, len(e.AMQPURLs), len(e.Nodes))
	case e.DatabaseURL == "" || e.Script == "" || e.CookieFile == "":
		return Env{}, fmt.Errorf("cluster: %s: the database URL, script or cookie file is missing", path)
	}
	return e, nil
}

// parseEnv reads KEY=value and KEY='value' lines; comments, blank lines
// and export lines are skipped.
func parseEnv(b []byte) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "export ") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t'\"") {
			return nil, fmt.Errorf("line %d: not KEY=value", n)
		}
		if strings.HasPrefix(v, "'") {
			if len(v) < 2 || !strings.HasSuffix(v, "'") || strings.Contains(v[1:len(v)-1], "'") {
				return nil, fmt.Errorf("line %d: unbalanced quotes in %s", n, k)
			}
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	return vals, sc.Err()
}

// Run runs a subcommand of scripts/cluster.sh (status, rmq-kill 2,
// pg-promote, ...) and returns its standard output, trimmed; an error
// carries its standard error.
func (e Env) Run(ctx context.Context, args ...string) (string, error) {
	return run(ctx, exec.CommandContext(ctx, "bash", append([]string{e.Script}, args...)...))
}

// Ctl runs rabbitmqctl against node n (1, 2 or 3) with the cluster's
// cookie and returns its standard output.
func (e Env) Ctl(ctx context.Context, n int, args ...string) (string, error) {
	if n < 1 || n > len(e.Nodes) {
		return "", fmt.Errorf("cluster: no node %d (1 to %d)", n, len(e.Nodes))
	}
	cookie, err := os.ReadFile(e.CookieFile)
	if err != nil {
		return "", fmt.Errorf("cluster: the cookie: %w", err)
	}
	cmd := exec.CommandContext(ctx, "/usr/lib/rabbitmq/bin/rabbitmqctl",
		append([]string{"-n", e.Nodes[n-1], "--erlang-cookie", strings.TrimSpace(string(cookie)), "-q"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(filepath.Dir(e.CookieFile), "home"))
	return run(ctx, cmd)
}

func run(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return out.String(), fmt.Errorf("cluster: %s: %w: %s", strings.Join(cmd.Args[:min(len(cmd.Args), 2)], " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}
