// Package check validates b2bpay's deployment files (deploy/kubernetes,
// deploy/compose) without a cluster: every Kubernetes object is decoded
// strictly (an unknown or duplicated field is an error) into the Go API
// types of Kubernetes and of the operators it runs on, and the compose file
// is loaded with compose-go, which checks it against the Compose schema.
// It is a module of its own so that b2bpay's go.mod stays lean.
package check

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	cnpgv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	rabbitmqv1beta1 "github.com/rabbitmq/cluster-operator/v2/api/v1beta1"
	topologyv1beta1 "github.com/rabbitmq/messaging-topology-operator/api/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest document.
type Object struct {
	File       string // base name of its file
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Value      any // a pointer to the API type, e.g. *appsv1.Deployment
}

// kinds maps apiVersion/kind to a new value of its Go API type.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"rabbitmq.com/v1beta1/RabbitmqCluster":    func() any { return &rabbitmqv1beta1.RabbitmqCluster{} },
	"rabbitmq.com/v1beta1/Vhost":              func() any { return &topologyv1beta1.Vhost{} },
	"rabbitmq.com/v1beta1/User":               func() any { return &topologyv1beta1.User{} },
	"rabbitmq.com/v1beta1/Permission":         func() any { return &topologyv1beta1.Permission{} },
	"rabbitmq.com/v1beta1/Exchange":           func() any { return &topologyv1beta1.Exchange{} },
	"rabbitmq.com/v1beta1/Queue":              func() any { return &topologyv1beta1.Queue{} },
	"rabbitmq.com/v1beta1/Binding":            func() any { return &topologyv1beta1.Binding{} },
	"rabbitmq.com/v1beta1/Policy":             func() any { return &topologyv1beta1.Policy{} },
	"postgresql.cnpg.io/v1/Cluster":           func() any { return &cnpgv1.Cluster{} },
	"postgresql.cnpg.io/v1/Pooler":            func() any { return &cnpgv1.Pooler{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// docSep splits a YAML stream into documents.
var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// header is what every manifest document names first.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// DecodeFile decodes every document of a manifest file strictly into its
// API type; a document of a kind not in the table, or with a field its type
// does not have, is an error.
func DecodeFile(path string) ([]Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Object
	for i, doc := range docSep.Split(string(b), -1) {
		if len(bytes.TrimSpace(stripComments([]byte(doc)))) == 0 {
			continue
		}
		var h header
		if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		mk, ok := kinds[h.APIVersion+"/"+h.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: document %d: no API type known for %s %s", path, i, h.APIVersion, h.Kind)
		}
		v := mk()
		if err := strictDecode([]byte(doc), v); err != nil {
			return nil, fmt.Errorf("%s: %s %q: %w", path, h.Kind, h.Metadata.Name, err)
		}
		out = append(out, Object{File: filepath.Base(path), APIVersion: h.APIVersion, Kind: h.Kind,
			Name: h.Metadata.Name, Namespace: h.Metadata.Namespace, Value: v})
	}
	return out, nil
}

// strictDecode decodes one YAML document into v as the API server would,
// but refusing what it would drop: fields unknown to v's type, fields in
// the wrong case (encoding/json would take "poolmode" for poolMode) and
// duplicated keys.
func strictDecode(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// stripComments drops whole-line YAML comments.
func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// Roles are the roles `b2bpay serve --roles` takes.
var Roles = []string{"intake", "decisions", "relay", "scheduler", "http", "console"}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }
