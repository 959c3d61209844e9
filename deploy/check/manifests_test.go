package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cnpgv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	rabbitmqv1beta1 "github.com/rabbitmq/cluster-operator/v2/api/v1beta1"
	topologyv1beta1 "github.com/rabbitmq/messaging-topology-operator/api/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const kubeDir = "../kubernetes"

// load decodes every manifest of deploy/kubernetes (kustomization.yaml aside).
func load(t *testing.T) []Object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var all []Object
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
	}
	return all
}

func of[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Value.(*T); ok {
			out = append(out, *v)
		}
	}
	return out
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(bad); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelt field was accepted: %v", err)
	}
	doc = "apiVersion: postgresql.cnpg.io/v1\nkind: Pooler\nmetadata:\n  name: x\nspec:\n  pgbouncer:\n    poolmode: session\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(bad); err == nil {
		t.Fatal("a misspelt operator field was accepted")
	}
	doc = "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: x\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(bad); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
}

func TestManifestsDecodeAndSitInTheNamespace(t *testing.T) {
	objs := load(t)
	seen := map[string]bool{}
	for _, o := range objs {
		if o.Name == "" {
			t.Errorf("%s: a %s without a name", o.File, o.Kind)
		}
		if o.Kind != "Namespace" && o.Namespace != "b2bpay" {
			t.Errorf("%s: %s %s in namespace %q, want b2bpay", o.File, o.Kind, o.Name, o.Namespace)
		}
		key := o.Kind + "/" + o.Name
		if seen[key] {
			t.Errorf("%s: %s twice", o.File, key)
		}
		seen[key] = true
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := strictDecode(b, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, files %v", got, want)
	}
}

// args returns the flag values of a command line: "--a b" and "--a=b".
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestDeploymentsRunOneRoleEachWithProbesAndLimits(t *testing.T) {
	objs := load(t)
	deps := of[appsv1.Deployment](objs)
	pdbs := of[policyv1.PodDisruptionBudget](objs)
	roles := map[string]int{}
	for _, d := range deps {
		spec := d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", d.Name, len(spec.Containers))
		}
		c := spec.Containers[0]
		args := append(slices.Clone(c.Command), c.Args...)
		if len(args) < 2 || args[0] != "/usr/local/bin/b2bpay" || args[1] != "serve" {
			t.Errorf("%s: runs %v, want /usr/local/bin/b2bpay serve", d.Name, args)
		}
		rs, ok := flagValue(args, "roles")
		if !ok {
			t.Errorf("%s: no --roles", d.Name)
		}
		for r := range strings.SplitSeq(rs, ",") {
			if !ValidRole(r) {
				t.Errorf("%s: role %q is not one of %v", d.Name, r, Roles)
			}
			roles[r]++
		}
		if d.Labels["app.kubernetes.io/component"] != rs || d.Name != "b2bpay-"+rs {
			t.Errorf("%s: name or component label do not name its role %q", d.Name, rs)
		}
		if v, _ := flagValue(args, "metrics-addr"); v != ":9480" {
			t.Errorf("%s: --metrics-addr %q, want :9480", d.Name, v)
		}
		checkProbes(t, d.Name, c)
		checkSecurity(t, d.Name, spec.SecurityContext, c)
		for _, ic := range spec.InitContainers {
			checkSecurity(t, d.Name+"/"+ic.Name, spec.SecurityContext, ic)
		}
		checkMasterKey(t, d.Name, args, spec)
		for _, env := range []string{"B2BPAY_DATABASE_URL", "B2BPAY_AMQP_URL"} {
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == env })
			if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s not from a Secret", d.Name, env)
			}
		}
		if *d.Spec.Replicas < 2 {
			t.Errorf("%s: %d replicas: a drain stops the role", d.Name, *d.Spec.Replicas)
		}
		sel := labels.SelectorFromSet(d.Spec.Template.Labels)
		if !slices.ContainsFunc(pdbs, func(p policyv1.PodDisruptionBudget) bool {
			return labels.SelectorFromSet(p.Spec.Selector.MatchLabels).String() == sel.String() ||
				labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) &&
					len(p.Spec.Selector.MatchLabels) == len(d.Spec.Selector.MatchLabels)
		}) {
			t.Errorf("%s: no PodDisruptionBudget selects exactly its pods", d.Name)
		}
	}
	for _, r := range Roles {
		if roles[r] != 1 {
			t.Errorf("role %s run by %d Deployments, want 1", r, roles[r])
		}
	}
}

func checkProbes(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 9480 }) {
		t.Errorf("%s: no port metrics 9480", name)
	}
	for _, p := range []struct {
		what string
		pr   *corev1.Probe
		path string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.pr == nil || p.pr.HTTPGet == nil || p.pr.HTTPGet.Path != p.path || p.pr.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s: %s probe is not GET %s on the metrics port", name, p.what, p.path)
		}
	}
	r := c.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %v: want cpu and memory requests and a memory limit", name, r)
	}
}

func checkSecurity(t *testing.T, name string, pod *corev1.PodSecurityContext, c corev1.Container) {
	t.Helper()
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
		t.Errorf("%s: the pod may run as root", name)
	}
	s := c.SecurityContext
	if s == nil || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
		s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.Capabilities == nil || !slices.Contains(s.Capabilities.Drop, "ALL") {
		t.Errorf("%s: want a read-only root, no privilege escalation, every capability dropped", name)
	}
}

// The master key comes from the Secret as a file --master-key-file names.
func checkMasterKey(t *testing.T, name string, args []string, spec corev1.PodSpec) {
	t.Helper()
	file, ok := flagValue(args, "master-key-file")
	if !ok {
		t.Errorf("%s: no --master-key-file", name)
		return
	}
	c := spec.Containers[0]
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return filepath.Dir(file) == m.MountPath })
	if i < 0 {
		t.Errorf("%s: nothing mounted at %s", name, filepath.Dir(file))
		return
	}
	secretVol := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == "b2bpay-master-key"
	})
	if secretVol < 0 {
		t.Errorf("%s: the Secret b2bpay-master-key is not a volume", name)
	}
	if c.VolumeMounts[i].Name != spec.Volumes[secretVol].Name {
		// the key is copied by an init container (mode 0400, serve's user)
		if !slices.ContainsFunc(spec.InitContainers, func(ic corev1.Container) bool {
			return slices.Contains(ic.Command, file)
		}) {
			t.Errorf("%s: %s is neither the Secret's volume nor written by an init container", name, file)
		}
	}
}

func TestMigrationJob(t *testing.T) {
	jobs := of[batchv1.Job](load(t))
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want the migration", len(jobs))
	}
	spec := jobs[0].Spec.Template.Spec
	c := spec.Containers[0]
	args := append(slices.Clone(c.Command), c.Args...)
	if !slices.Contains(args, "migrate") {
		t.Errorf("the Job runs %v, want b2bpay migrate", args)
	}
	if v, _ := flagValue(args, "app-role"); v != "b2bpay" {
		t.Errorf("migrate --app-role %q, want b2bpay", v)
	}
	checkSecurity(t, "job", spec.SecurityContext, c)
}

func TestServicesReachTheirPorts(t *testing.T) {
	objs := load(t)
	deps := of[appsv1.Deployment](objs)
	want := map[string]int32{"b2bpay-http": 8480, "b2bpay-console": 8490, "b2bpay-metrics": 9480}
	for _, s := range of[corev1.Service](objs) {
		port, ok := want[s.Name]
		if !ok {
			continue
		}
		delete(want, s.Name)
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != port {
			t.Errorf("service %s: ports %v, want %d", s.Name, s.Spec.Ports, port)
			continue
		}
		target := s.Spec.Ports[0].TargetPort.String()
		sel := labels.SelectorFromSet(s.Spec.Selector)
		n := 0
		for _, d := range deps {
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			n++
			if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool {
				return p.Name == target && p.ContainerPort == port
			}) {
				t.Errorf("service %s: pods of %s have no port %s %d", s.Name, d.Name, target, port)
			}
		}
		if n == 0 {
			t.Errorf("service %s selects no Deployment's pods", s.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("services missing: %v", want)
	}
}

func TestRabbitMQ(t *testing.T) {
	objs := load(t)
	clusters := of[rabbitmqv1beta1.RabbitmqCluster](objs)
	if len(clusters) != 1 {
		t.Fatalf("%d RabbitmqClusters", len(clusters))
	}
	rc := clusters[0]
	if rc.Spec.Replicas == nil || *rc.Spec.Replicas != 3 {
		t.Errorf("RabbitmqCluster replicas %v, want 3", rc.Spec.Replicas)
	}
	if !strings.Contains(rc.Spec.Rabbitmq.AdditionalConfig, "max_message_size = 1048576") {
		t.Errorf("additionalConfig lacks max_message_size = 1048576 (deploy/README.md)")
	}
	refs := 0
	check := func(kind, name string, ref topologyv1beta1.RabbitmqClusterReference, vhost string) {
		refs++
		if ref.Name != rc.Name {
			t.Errorf("%s %s: not on RabbitmqCluster %s", kind, name, rc.Name)
		}
		if vhost != "b2bpay" && kind != "User" {
			t.Errorf("%s %s: vhost %q, want b2bpay", kind, name, vhost)
		}
	}
	for _, q := range of[topologyv1beta1.Queue](objs) {
		check("Queue", q.Name, q.Spec.RabbitmqClusterReference, q.Spec.Vhost)
		if q.Spec.Type != "quorum" || !q.Spec.Durable {
			t.Errorf("queue %s: type %q durable %v, want a durable quorum queue", q.Spec.Name, q.Spec.Type, q.Spec.Durable)
		}
	}
	for _, x := range of[topologyv1beta1.Exchange](objs) {
		check("Exchange", x.Name, x.Spec.RabbitmqClusterReference, x.Spec.Vhost)
	}
	for _, b := range of[topologyv1beta1.Binding](objs) {
		check("Binding", b.Name, b.Spec.RabbitmqClusterReference, b.Spec.Vhost)
	}
	for _, p := range of[topologyv1beta1.Policy](objs) {
		check("Policy", p.Name, p.Spec.RabbitmqClusterReference, p.Spec.Vhost)
	}
	for _, p := range of[topologyv1beta1.Permission](objs) {
		check("Permission", p.Name, p.Spec.RabbitmqClusterReference, p.Spec.Vhost)
	}
	for _, u := range of[topologyv1beta1.User](objs) {
		check("User", u.Name, u.Spec.RabbitmqClusterReference, "")
	}
	for _, v := range of[topologyv1beta1.Vhost](objs) {
		check("Vhost", v.Name, v.Spec.RabbitmqClusterReference, v.Spec.Name)
	}
	if refs < 15 {
		t.Errorf("only %d topology objects", refs)
	}
}

func TestPostgreSQL(t *testing.T) {
	objs := load(t)
	clusters := of[cnpgv1.Cluster](objs)
	if len(clusters) != 1 {
		t.Fatalf("%d CloudNativePG Clusters", len(clusters))
	}
	c := clusters[0]
	if c.Spec.Instances != 2 {
		t.Errorf("instances %d, want 2", c.Spec.Instances)
	}
	s := c.Spec.PostgresConfiguration.Synchronous
	if s == nil || s.Number != 1 || s.DataDurability != cnpgv1.DataDurabilityLevelRequired {
		t.Errorf("synchronous %+v: want one synchronous standby, durability required", s)
	}
	poolers := of[cnpgv1.Pooler](objs)
	if len(poolers) != 1 {
		t.Fatalf("%d Poolers", len(poolers))
	}
	p := poolers[0]
	if p.Spec.Cluster.Name != c.Name || p.Spec.PgBouncer == nil || p.Spec.PgBouncer.PoolMode != cnpgv1.PgBouncerPoolModeSession {
		t.Errorf("Pooler %s: want session mode on %s (the elector's advisory lock)", p.Name, c.Name)
	}
}

// The alerts name each figure the brief asks for, and compose's Prometheus
// has the same rules.
func TestMonitoring(t *testing.T) {
	objs := load(t)
	if len(of[monitoringv1.ServiceMonitor](objs)) == 0 {
		t.Error("no ServiceMonitor")
	}
	rules := of[monitoringv1.PrometheusRule](objs)
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules", len(rules))
	}
	var exprs []string
	for _, g := range rules[0].Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr.String())
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{"b2bpay_outbox_pending", `rabbitmq_detailed_queue_messages`, `b2bpay\\.(intake|decisions)\\.dead`,
		"b2bpay_cutoff_last_completed_age_seconds", "b2bpay_batches_claimed_stuck", "b2bpay_calendar_days_left",
		"b2bpay_cutoffs_missed_total"} {
		if !strings.Contains(all, m) {
			t.Errorf("no alert on %s", m)
		}
	}
	b, err := os.ReadFile("../compose/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose monitoringv1.PrometheusRuleSpec
	if err := strictDecode(b, &compose); err != nil {
		t.Fatal(err)
	}
	got, _ := yaml.Marshal(compose)
	want, _ := yaml.Marshal(rules[0].Spec)
	if string(got) != string(want) {
		t.Errorf("deploy/compose/prometheus/alerts.yml differs from the PrometheusRule:\n%s\nwant\n%s", got, want)
	}
}
