package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleEnv = `# written by scripts/cluster.sh up; source it in a shell
B2BPAY_CLUSTER_AMQP_URLS='amqp://b2bpay:b2bpay@127.0.0.1:5701/,amqp://b2bpay:b2bpay@127.0.0.1:5702/,amqp://b2bpay:b2bpay@127.0.0.1:5703/'
B2BPAY_CLUSTER_DATABASE_URL='postgres://postgres@127.0.0.1:5441,127.0.0.1:5442/b2bpay?sslmode=disable&target_session_attrs=read-write'
B2BPAY_CLUSTER_COOKIE_FILE='/x/var/cluster/cookie'
B2BPAY_CLUSTER_SCRIPT='/x/scripts/cluster.sh'
B2BPAY_CLUSTER_RMQ1_NODE='b2bpay-c1@localhost'
B2BPAY_CLUSTER_RMQ1_PORT=5701
B2BPAY_CLUSTER_RMQ1_CTL='HOME=/x/var/cluster/home rabbitmqctl -n b2bpay-c1@localhost --erlang-cookie $(cat /x/var/cluster/cookie)'
B2BPAY_CLUSTER_RMQ2_NODE='b2bpay-c2@localhost'
B2BPAY_CLUSTER_RMQ3_NODE='b2bpay-c3@localhost'
B2BPAY_CLUSTER_PG_PRIMARY_PORT=5441
B2BPAY_CLUSTER_PG_STANDBY_PORT=5442
export B2BPAY_CLUSTER_AMQP_URLS B2BPAY_CLUSTER_DATABASE_URL
`

func writeEnv(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadEnv(t *testing.T) {
	e, err := ReadEnv(writeEnv(t, sampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.AMQPURLs) != 3 || e.AMQPURLs[2] != "amqp://b2bpay:b2bpay@127.0.0.1:5703/" {
		t.Errorf("AMQPURLs = %q", e.AMQPURLs)
	}
	if len(e.Nodes) != 3 || e.Nodes[0] != "b2bpay-c1@localhost" || e.Nodes[2] != "b2bpay-c3@localhost" {
		t.Errorf("Nodes = %q", e.Nodes)
	}
	if e.PrimaryPort != 5441 || e.StandbyPort != 5442 {
		t.Errorf("ports %d %d", e.PrimaryPort, e.StandbyPort)
	}
	if !strings.Contains(e.DatabaseURL, "target_session_attrs=read-write") || e.Script != "/x/scripts/cluster.sh" {
		t.Errorf("DatabaseURL %q Script %q", e.DatabaseURL, e.Script)
	}
	if got := e.Values["B2BPAY_CLUSTER_RMQ1_CTL"]; !strings.HasSuffix(got, "$(cat /x/var/cluster/cookie)") {
		t.Errorf("RMQ1_CTL = %q", got)
	}
}

func TestReadEnvRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"unbalanced quote": "B2BPAY_CLUSTER_SCRIPT='/x\n",
		"no equals":        "B2BPAY_CLUSTER_SCRIPT\n",
		"missing urls":     strings.Replace(sampleEnv, "B2BPAY_CLUSTER_AMQP_URLS=", "X=", 1),
		"url count":        strings.Replace(sampleEnv, ",amqp://b2bpay:b2bpay@127.0.0.1:5703/", "", 1),
		"bad port":         strings.Replace(sampleEnv, "PRIMARY_PORT=5441", "PRIMARY_PORT=x", 1),
		"no database":      strings.Replace(sampleEnv, "B2BPAY_CLUSTER_DATABASE_URL=", "X=", 1),
	} {
		if _, err := ReadEnv(writeEnv(t, text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadEnv(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "make cluster-up") {
		t.Errorf("absent file: %v", err)
	}
}
