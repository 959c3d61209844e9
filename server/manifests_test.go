package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2bpay/b2bpay/route"
)

// The committed deploy/kubernetes/topology.yaml is what the generator writes
// now: regenerate it with
// `go run ./cmd/b2bpay topology --kubernetes > deploy/kubernetes/topology.yaml`.
func TestTopologyManifestsCommitted(t *testing.T) {
	var buf bytes.Buffer
	if err := TopologyManifests(&buf, "b2bpay", "b2bpay-rabbitmq"); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "deploy", "kubernetes", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("deploy/kubernetes/topology.yaml differs from the generator's output; regenerate it with "+
			"`go run ./cmd/b2bpay topology --kubernetes > deploy/kubernetes/topology.yaml`:\n%s", buf.String())
	}
}

func TestTopologyManifestsCoverDefinitions(t *testing.T) {
	var buf bytes.Buffer
	if err := TopologyManifests(&buf, "b2bpay", "rmq"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`name: "b2bpay.intake"`, `name: "b2bpay.intake.dead"`, `name: "b2bpay.decisions"`, `name: "b2bpay.decisions.dead"`,
		`name: "b2bpay.requests"`, `name: "b2bpay.dlx"`, `name: "b2bpay.events"`, `name: "b2bpay.tasks"`,
		`routingKey: "payment.request.v1"`, `"x-delivery-limit":20`, "kind: Policy",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("manifests lack %s", want)
		}
	}
	if n, want := strings.Count(out, "kind: Queue\n"), len(routeStaticQueues()); n != want {
		t.Errorf("%d Queue objects, want %d", n, want)
	}
}

func TestTopologyManifestsRefuseBadNames(t *testing.T) {
	for _, c := range [][2]string{{"B2B", "rmq"}, {"b2bpay", ""}, {"b2bpay", "a_b"}} {
		if err := TopologyManifests(&bytes.Buffer{}, c[0], c[1]); err == nil {
			t.Errorf("namespace %q cluster %q accepted", c[0], c[1])
		}
	}
}

func routeStaticQueues() []string {
	var names []string
	for _, q := range route.Static().Queues {
		names = append(names, q.Name)
	}
	return names
}
