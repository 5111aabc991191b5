package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// The chart, the files it copies and the Dockerfile, relative to this
// package (go test runs in the package directory).
const (
	chartDir     = "../../chart"
	repoRoot     = "../.."
	fullValues   = chartDir + "/ci/full-values.yaml"
	monitoringV1 = "monitoring.coreos.com/v1"
)

// helm is pinned in .ci/helm and built like every program the tests run
// (testproc.Pinned): static, -trimpath, and with k8s.io/client-go and the
// rest at this module's versions, so a cold run compiles those packages
// once for go vet, kube-apiserver and helm. The version stamp is the one
// helm's release Makefile sets.
var helmBuild = testproc.Pinned{
	Name: "helm", Module: "helm", Pkg: "helm.sh/helm/v3/cmd/helm",
	LDFlags: "-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0",
}

// requireHelm builds helm once per machine and pins; a failed build fails
// the test.
func requireHelm(t *testing.T) string {
	t.Helper()
	dir, err := helmBuild.Dir()
	if err != nil {
		t.Fatalf("helm: %v", err)
	}
	return filepath.Join(dir, helmBuild.Name)
}

// helmTemplate renders a chart; the error carries helm's output.
func helmTemplate(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(requireHelm(t), append([]string{"template", "tte", dir, "--namespace", "monitoring"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// manifests is a rendered chart: typed objects for built-in kinds (decoded
// strictly) and maps for the prometheus-operator kinds.
type manifests struct {
	objects []runtime.Object
	custom  []map[string]any
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeManifests decodes every document strictly: an unknown or duplicate
// field, a wrong type or an unknown kind fails the test.
func decodeManifests(t *testing.T, rendered []byte) manifests {
	t.Helper()
	var m manifests
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(rendered), -1) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("document %d is not YAML: %v\n%s", i, err, doc)
		}
		if head.Kind == "" {
			if strings.TrimSpace(stripComments(doc)) != "" {
				t.Fatalf("document %d has no kind:\n%s", i, doc)
			}
			continue
		}
		if strings.HasPrefix(head.APIVersion, "monitoring.coreos.com/") {
			var obj map[string]any
			if err := yaml.UnmarshalStrict([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", head.Kind, err)
			}
			m.custom = append(m.custom, obj)
			continue
		}
		obj, _, err := strictDecoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s %s does not decode strictly: %v\n%s", head.APIVersion, head.Kind, err, doc)
		}
		m.objects = append(m.objects, obj)
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func (m manifests) kinds() []string {
	var ks []string
	for _, o := range m.objects {
		ks = append(ks, o.GetObjectKind().GroupVersionKind().Kind)
	}
	for _, o := range m.custom {
		ks = append(ks, o["kind"].(string))
	}
	sort.Strings(ks)
	return ks
}

// kindsBesidesChartFiles leaves out the objects made from alerts/ and
// dashboards/ (TestChartRulesAndDashboards covers them), whose number
// depends on those files.
func (m manifests) kindsBesidesChartFiles() []string {
	var ks []string
	for _, o := range m.objects {
		if cm, ok := o.(*corev1.ConfigMap); ok && cm.Labels["grafana_dashboard"] != "" {
			continue
		}
		ks = append(ks, o.GetObjectKind().GroupVersionKind().Kind)
	}
	for _, o := range m.custom {
		if o["kind"] != "PrometheusRule" {
			ks = append(ks, o["kind"].(string))
		}
	}
	sort.Strings(ks)
	return ks
}

func objectsOf[T runtime.Object](m manifests) []T {
	var out []T
	for _, o := range m.objects {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func (m manifests) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	ds := objectsOf[*appsv1.Deployment](m)
	if len(ds) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(ds))
	}
	return ds[0]
}

func (m manifests) customOfKind(kind string) []map[string]any {
	var out []map[string]any
	for _, o := range m.custom {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func container(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment has no container %q", name)
	return corev1.Container{}
}

// ruleSet flattens policy rules into group/resource/verb triples, so rules
// compare as the permissions they grant, whatever their grouping.
func ruleSet(rules []rbacv1.PolicyRule) []string {
	var set []string
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			set = append(set, fmt.Sprintf("unexpected rule %+v", r))
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set = append(set, g+"/"+res+":"+v)
				}
			}
		}
	}
	sort.Strings(set)
	return slices.Compact(set)
}

func TestChartStrictDecodingRejectsUnknownFields(t *testing.T) {
	// The manifests checks below are only as good as this.
	doc := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 1, tagetPort: 2}]\n"
	if _, _, err := strictDecoder.Decode([]byte(doc), nil, nil); err == nil || !strings.Contains(err.Error(), "tagetPort") {
		t.Errorf("a misspelt field decoded without an error naming it: %v", err)
	}
}

func TestChartLint(t *testing.T) {
	helm := requireHelm(t)
	for _, args := range [][]string{
		{"lint", "--strict", chartDir},
		{"lint", "--strict", chartDir, "-f", fullValues},
	} {
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// chartCase is one way to install the chart, with what it must produce.
type chartCase struct {
	name       string
	args       []string
	kinds      []string
	discovery  bool
	namespaces []string // Roles for endpoints; nil: a ClusterRole
	podLogs    bool
	sidecar    bool
}

var chartCases = []chartCase{
	{
		name:      "defaults",
		kinds:     []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"},
		discovery: true, podLogs: true,
	},
	{
		name:      "defaults with prometheus-operator",
		args:      []string{"--api-versions", monitoringV1},
		kinds:     []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"},
		discovery: true, podLogs: true,
	},
	{
		name:      "full values",
		args:      []string{"-f", fullValues, "--api-versions", monitoringV1},
		kinds:     []string{"ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "Role", "Role", "Role", "RoleBinding", "RoleBinding", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"},
		discovery: true, namespaces: []string{"default", "kube-system"}, podLogs: true, sidecar: true,
	},
	{
		// Then the operator namespace grants pods list/watch only: all that
		// reading the proxies' metrics needs too (exact_test.go runs the
		// exporter with just that), since it dials pod IPs, not pods/proxy.
		name:      "no pod logs",
		args:      []string{"--set", "kubernetes.podLogs=false"},
		kinds:     []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"},
		discovery: true,
	},
	{
		name:  "static targets only",
		args:  []string{"--set", "kubernetes.discovery=false", "--set", "probe.targets={k8s.example.ts.net}", "--api-versions", monitoringV1, "--set", "serviceMonitor.enabled=false"},
		kinds: []string{"ConfigMap", "Deployment", "Service", "ServiceAccount"},
	},
}

func TestChartManifests(t *testing.T) {
	requireHelm(t)
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helmTemplate(t, chartDir, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifests(t, out)
			if kinds := m.kindsBesidesChartFiles(); !slices.Equal(kinds, tc.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, tc.kinds)
			}
			checkPod(t, tc, m.deployment(t))
			checkService(t, m)
			checkRBAC(t, tc, m)
			for _, sm := range m.customOfKind("ServiceMonitor") {
				checkServiceMonitor(t, sm)
			}
			for _, pr := range m.customOfKind("PrometheusRule") {
				checkPrometheusRule(t, pr, chartDir+"/files/alerts/rules.yml")
			}
			checkDashboards(t, m)
		})
	}
}

func checkPod(t *testing.T, tc chartCase, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken != tc.discovery {
		t.Errorf("automountServiceAccountToken = %v, want %v (only discovery needs the API)", pod.AutomountServiceAccountToken, tc.discovery)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext not hardened: %+v", psc)
	}
	wantContainers := []string{"exporter"}
	if tc.sidecar {
		wantContainers = append(wantContainers, "tailscale")
	}
	var names []string
	for _, c := range pod.Containers {
		names = append(names, c.Name)
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s securityContext not hardened: %+v", c.Name, sc)
		}
		if len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0 {
			t.Errorf("container %s has no resource requests or limits: %+v", c.Name, c.Resources)
		}
	}
	if !slices.Equal(names, wantContainers) {
		t.Errorf("containers = %v, want %v", names, wantContainers)
	}
	ex := container(t, d, "exporter")
	if len(ex.Ports) != 1 || ex.Ports[0].Name != "http-metrics" || ex.Ports[0].ContainerPort != 9847 {
		t.Errorf("exporter ports = %+v, want http-metrics 9847", ex.Ports)
	}
	// With a web config (basic auth or client certificates guard every
	// path) the kubelet can only check the port.
	webConfig := slices.ContainsFunc(ex.Args, func(a string) bool { return strings.HasPrefix(a, "--web.config.file=") })
	for probe, path := range map[*corev1.Probe]string{ex.LivenessProbe: "/-/healthy", ex.ReadinessProbe: "/-/ready"} {
		switch {
		case probe == nil:
			t.Errorf("no probe for %s", path)
		case webConfig && (probe.TCPSocket == nil || probe.TCPSocket.Port.String() != "http-metrics"):
			t.Errorf("with a web config, probe for %s = %+v, want a TCP check of http-metrics", path, probe)
		case !webConfig && (probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "http-metrics"):
			t.Errorf("probe for %s = %+v", path, probe)
		}
	}
	if tc.sidecar {
		ts := container(t, d, "tailscale")
		env := map[string]corev1.EnvVar{}
		for _, e := range ts.Env {
			env[e.Name] = e
		}
		for name, want := range map[string]string{"TS_USERSPACE": "true", "TS_SOCKS5_SERVER": "localhost:1055", "TS_KUBE_SECRET": "", "TS_STATE_DIR": "/var/lib/tailscale"} {
			if e, ok := env[name]; !ok || e.Value != want {
				t.Errorf("sidecar env %s = %+v, want %q", name, e, want)
			}
		}
		if ak := env["TS_AUTHKEY"].ValueFrom; ak == nil || ak.SecretKeyRef == nil || ak.SecretKeyRef.Name == "" {
			t.Errorf("sidecar TS_AUTHKEY not from a Secret: %+v", env["TS_AUTHKEY"])
		}
		if !slices.Contains(ex.Args, "--probe.tailnet-socks5-address=localhost:1055") {
			t.Errorf("exporter does not probe through the sidecar: %v", ex.Args)
		}
		var stateDir bool
		for _, v := range pod.Volumes {
			stateDir = stateDir || (v.Name == "tailscale-state" && v.EmptyDir != nil)
		}
		if !stateDir {
			t.Errorf("no emptyDir for TS_STATE_DIR: %+v", pod.Volumes)
		}
	}
}

func checkService(t *testing.T, m manifests) {
	t.Helper()
	svcs := objectsOf[*corev1.Service](m)
	if len(svcs) != 1 {
		t.Fatalf("%d Services, want 1", len(svcs))
	}
	p := svcs[0].Spec.Ports
	if len(p) != 1 || p[0].Name != "http-metrics" || p[0].Port != 9847 || p[0].TargetPort.String() != "http-metrics" {
		t.Errorf("Service ports = %+v, want http-metrics 9847", p)
	}
}

func checkRBAC(t *testing.T, tc chartCase, m manifests) {
	t.Helper()
	sa := objectsOf[*corev1.ServiceAccount](m)
	if len(sa) != 1 {
		t.Fatalf("%d ServiceAccounts, want 1", len(sa))
	}
	if d := m.deployment(t); d.Spec.Template.Spec.ServiceAccountName != sa[0].Name {
		t.Errorf("pod runs as %q, not the chart's ServiceAccount %q", d.Spec.Template.Spec.ServiceAccountName, sa[0].Name)
	}
	operatorRules := exporterOperatorRules
	if !tc.podLogs {
		operatorRules = exporterOperatorRules[:1]
	}
	// Every role, by namespace ("" for the ClusterRole), must grant exactly
	// what the exporter needs there.
	want := map[string][]string{}
	if tc.discovery {
		if tc.namespaces == nil {
			want[""] = ruleSet(exporterClusterRules)
		}
		for _, ns := range tc.namespaces {
			want[ns] = ruleSet(exporterClusterRules)
		}
		opNS := "tailscale"
		if tc.sidecar { // full values
			opNS = "tailscale-system"
		}
		want[opNS] = append(want[opNS], ruleSet(operatorRules)...)
		sort.Strings(want[opNS])
	}
	got := map[string][]string{}
	roles := map[string]string{} // kind/namespace/name → namespace
	for _, r := range objectsOf[*rbacv1.ClusterRole](m) {
		got[""] = append(got[""], ruleSet(r.Rules)...)
		roles["ClusterRole//"+r.Name] = ""
	}
	for _, r := range objectsOf[*rbacv1.Role](m) {
		got[r.Namespace] = append(got[r.Namespace], ruleSet(r.Rules)...)
		roles["Role/"+r.Namespace+"/"+r.Name] = r.Namespace
	}
	for ns := range got {
		sort.Strings(got[ns])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RBAC by namespace:\n got %v\nwant %v", got, want)
	}
	// Each role is bound to the chart's ServiceAccount, and nothing else is.
	bound := map[string]bool{}
	check := func(kind, ns, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		key := ref.Kind + "/" + ns + "/" + ref.Name
		if _, ok := roles[key]; !ok || ref.APIGroup != rbacv1.GroupName {
			t.Errorf("%s %s/%s binds %+v, not one of the chart's roles", kind, ns, name, ref)
		}
		bound[key] = true
		if len(subjects) != 1 || subjects[0].Kind != rbacv1.ServiceAccountKind || subjects[0].Name != sa[0].Name || subjects[0].Namespace != "monitoring" {
			t.Errorf("%s %s/%s subjects = %+v, want the ServiceAccount monitoring/%s", kind, ns, name, subjects, sa[0].Name)
		}
	}
	for _, b := range objectsOf[*rbacv1.ClusterRoleBinding](m) {
		check("ClusterRoleBinding", "", b.Name, b.RoleRef, b.Subjects)
	}
	for _, b := range objectsOf[*rbacv1.RoleBinding](m) {
		check("RoleBinding", b.Namespace, b.Name, b.RoleRef, b.Subjects)
	}
	for key := range roles {
		if !bound[key] {
			t.Errorf("%s is bound to nothing", key)
		}
	}
}

func checkServiceMonitor(t *testing.T, sm map[string]any) {
	t.Helper()
	if sm["apiVersion"] != monitoringV1 {
		t.Errorf("ServiceMonitor apiVersion = %v", sm["apiVersion"])
	}
	spec, _ := sm["spec"].(map[string]any)
	sel, _ := spec["selector"].(map[string]any)
	eps, _ := spec["endpoints"].([]any)
	if len(sel) == 0 || len(eps) != 1 {
		t.Fatalf("ServiceMonitor spec needs a selector and one endpoint: %v", spec)
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != "http-metrics" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint = %v, want port http-metrics path /metrics", ep)
	}
	// The exporter's namespace/hostname/pod labels must survive the scrape.
	if ep["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoint = %v, want honorLabels: true", ep)
	}
}

// checkPrometheusRule: the rule's spec is the rule file, unchanged.
func checkPrometheusRule(t *testing.T, pr map[string]any, ruleFile string) {
	t.Helper()
	data, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", ruleFile, err)
	}
	meta, _ := pr["metadata"].(map[string]any)
	if pr["apiVersion"] != monitoringV1 || meta["name"] == nil {
		t.Errorf("PrometheusRule header: %v %v", pr["apiVersion"], meta)
	}
	spec, _ := pr["spec"].(map[string]any)
	if groups, _ := spec["groups"].([]any); len(groups) == 0 {
		t.Errorf("PrometheusRule has no groups")
	}
	if fmt.Sprint(spec) != fmt.Sprint(want) {
		t.Errorf("PrometheusRule spec differs from %s", ruleFile)
	}
}

// checkDashboards: one ConfigMap per chart/files/dashboards/*.json, holding
// the file byte for byte.
func checkDashboards(t *testing.T, m manifests) {
	t.Helper()
	files, err := filepath.Glob(chartDir + "/files/dashboards/*.json")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cm := range objectsOf[*corev1.ConfigMap](m) {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		for k, v := range cm.Data {
			got[k] = v
		}
		if len(cm.Data) != 1 {
			t.Errorf("dashboard ConfigMap %s holds %d files, want 1", cm.Name, len(cm.Data))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got[filepath.Base(f)] != string(b) {
			t.Errorf("dashboard %s is not in a ConfigMap byte for byte", filepath.Base(f))
		}
	}
	if len(got) != len(files) {
		t.Errorf("%d dashboard ConfigMaps for %d files", len(got), len(files))
	}
}

// TestChartArgsRunExporter starts the real binary with the Deployment's
// arguments and configuration file. --help is no check: kingpin prints the
// help and exits 0 before it parses values (--probe.interval=abc --help
// exits 0), and flags alone miss the configuration file.
func TestChartArgsRunExporter(t *testing.T) {
	requireHelm(t)
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helmTemplate(t, chartDir, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifests(t, out)
			ex := container(t, m.deployment(t), "exporter")
			var configYAML string
			for _, cm := range objectsOf[*corev1.ConfigMap](m) {
				if c, ok := cm.Data["config.yml"]; ok {
					configYAML = c
				}
			}
			dir := t.TempDir()
			write := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			// The pod's files, at the paths the arguments name.
			files := map[string]string{
				"/etc/tailscale-tunnel-exporter/config.yml":            write("config.yml", configYAML),
				"/etc/tailscale-tunnel-exporter/web-config.yml":        write("web-config.yml", ""),
				"/etc/tailscale-tunnel-exporter/tailnet-policy.hujson": write("tailnet-policy.hujson", `{"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}]}`),
			}
			// Nothing leaves loopback: every static target resolves to a
			// closed local port, and the API server is a closed local port.
			dead := freeAddr(t)
			var args []string
			for _, a := range ex.Args {
				name, value, _ := strings.Cut(a, "=")
				switch {
				case isFileFlag(name) && files[value] != "":
					a = name + "=" + files[value]
				case isFileFlag(name):
					t.Fatalf("argument %s names a file the chart does not mount", a)
				case name == "--probe.resolve":
					host, _, _ := strings.Cut(value, "=")
					a = name + "=" + host + "=" + dead
				case name == "--probe.target" && !slices.ContainsFunc(ex.Args, func(s string) bool { return strings.HasPrefix(s, "--probe.resolve="+value+"=") }):
					args = append(args, "--probe.resolve="+value+"="+dead)
				}
				args = append(args, a)
			}
			kubeconfig := write("kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, dead))
			e := startExporterWith(t, func(cmd *exec.Cmd) { cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig) }, args...)
			if code, body := e.get(t, "/-/ready"); code != 200 {
				t.Errorf("/-/ready = %d %s", code, body)
			}
			// The targets and vantages the values asked for are scheduled.
			var want []string
			vantages := []string{"direct"}
			if tc.sidecar {
				vantages = append(vantages, "tailnet")
			}
			for _, a := range ex.Args {
				if h, ok := strings.CutPrefix(a, "--probe.target="); ok {
					for _, v := range vantages {
						want = append(want, h+"/"+v)
					}
				}
			}
			_, fams := e.metrics(t)
			var got []string
			for k := range series(fams, "tailscale_tunnel_probe_target_info", "vantage") {
				got = append(got, k)
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("scheduled targets = %v, want %v", got, want)
			}
			if _, ok := fams["tailscale_tunnel_discovery_up"]; ok != tc.discovery {
				t.Errorf("discovery running = %v, want %v", ok, tc.discovery)
			}
		})
	}
}

// isFileFlag says whether an exporter flag names a file the pod must have.
func isFileFlag(name string) bool {
	return strings.HasSuffix(name, ".file") || strings.HasSuffix(name, "-file")
}

func TestChartSchemaRejectsBadValues(t *testing.T) {
	requireHelm(t)
	for _, tc := range []struct {
		name string
		set  string
		want []string
	}{
		{"unknown top-level key", "probes.interval=30s", []string{"additional properties 'probes' not allowed"}},
		{"unknown nested key", "kubernetes.namespace=default", []string{"/kubernetes", "'namespace' not allowed"}},
		{"duration as number", "probe.interval=30", []string{"/probe/interval", "got number, want string"}},
		{"fractional duration", "probe.interval=1.5m", []string{"/probe/interval", "'1.5m' does not match pattern"}},
		{"duration garbage", "probe.timeout=soon", []string{"/probe/timeout", "'soon' does not match pattern"}},
		{"zero duration", "serviceMonitor.interval=0s", []string{"/serviceMonitor/interval"}},
		{"signature name", "extraSignatures[0].name=Cert-Fetch,extraSignatures[0].pattern=x", []string{"/extraSignatures/0/name", "'Cert-Fetch' does not match pattern '^[a-z][a-z0-9_]*$'"}},
		{"signature without pattern", "extraSignatures[0].name=cert", []string{"/extraSignatures/0", "missing property 'pattern'"}},
		{"string for boolean", "kubernetes.discovery=yes", []string{"/kubernetes/discovery", "got string, want boolean"}},
		{"string for integer", "probe.concurrency=many", []string{"/probe/concurrency", "want integer"}},
		{"bad namespace", "kubernetes.namespaces[0]=Kube_System", []string{"/kubernetes/namespaces/0"}},
		{"bad log level", "log.level=verbose", []string{"/log/level", "'debug', 'info', 'warn', 'error'"}},
		{"bad target", "probe.targets[0]=https://k8s.example.ts.net", []string{"/probe/targets/0"}},
		{"bad direct probes", "kubernetes.directProbes=some", []string{"/kubernetes/directProbes", "'funnel', 'all'"}},
		{"network policy without API server", "networkPolicy.enabled=true", []string{"/networkPolicy/apiServer/cidrs", "minItems: got 0, want 1"}},
		{"API server address without prefix", "networkPolicy.apiServer.cidrs={10.0.0.1}", []string{"/networkPolicy/apiServer/cidrs/0", "'10.0.0.1' does not match pattern"}},
		{"peer with ipBlock and selector", "networkPolicy.ingressFrom[0].ipBlock.cidr=10.0.0.0/8,networkPolicy.ingressFrom[0].podSelector.matchLabels.a=b", []string{"/networkPolicy/ingressFrom/0/podSelector", "false schema"}},
		{"misspelt selector", "networkPolicy.dnsTo[0].podSelector.matchLabel.a=b", []string{"/networkPolicy/dnsTo/0/podSelector", "'matchLabel' not allowed"}},
		{"bad metrics port name", "networkPolicy.proxyMetricsPort=Metrics_9", []string{"/networkPolicy/proxyMetricsPort", "'Metrics_9' does not match pattern"}},
		{"network policy without SOCKS5 peers", "networkPolicy.enabled=true,networkPolicy.apiServer.cidrs={10.0.0.1/32},tailnetVantage.enabled=true,tailnetVantage.socks5Address=socks.tailscale:1055", []string{"networkPolicy.enabled with tailnetVantage.socks5Address needs networkPolicy.socks5To"}},
		{"tailnet vantage without address", "tailnetVantage.enabled=true", []string{"tailnetVantage.enabled needs tailnetVantage.socks5Address or tailnetVantage.sidecar.enabled"}},
		{"sidecar without auth key", "tailnetVantage.enabled=true,tailnetVantage.sidecar.enabled=true", []string{"needs tailnetVantage.sidecar.authKeySecret.name"}},
		{"two tailnet policy sources", "tailnetPolicy.configMap.name=policy,tailnetPolicy.apiSecret.name=tailscale-api,tailnetPolicy.apiSecret.apiKey=api-key", []string{"set configMap.name or apiSecret.name, not both"}},
		{"API secret without a key", "tailnetPolicy.apiSecret.name=tailscale-api", []string{"set apiKey, or both oauthClientId and oauthClientSecret"}},
		{"half an OAuth client", "tailnetPolicy.apiSecret.name=tailscale-api,tailnetPolicy.apiSecret.oauthClientId=client-id", []string{"set apiKey, or both oauthClientId and oauthClientSecret"}},
		{"API key and OAuth client", "tailnetPolicy.apiSecret.name=tailscale-api,tailnetPolicy.apiSecret.apiKey=k,tailnetPolicy.apiSecret.oauthClientId=i,tailnetPolicy.apiSecret.oauthClientSecret=s", []string{"not both"}},
		{"API secret keys without a name", "tailnetPolicy.apiSecret.apiKey=api-key", []string{"keys given without the Secret's name"}},
		{"default tag without tag:", "tailnetPolicy.defaultTags=k8s", []string{"/tailnetPolicy/defaultTags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, chartDir, "--set", tc.set)
			if err == nil {
				t.Fatalf("--set %s rendered", tc.set)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestChartNetworkPolicy: the exporter's policy allows exactly the
// connections it makes (README "NetworkPolicy") and the proxies get a policy
// only when asked; rules are compared whole, peers and ports included.
func TestChartNetworkPolicy(t *testing.T) {
	requireHelm(t)
	exporterPods := map[string]string{"app.kubernetes.io/name": "tailscale-tunnel-exporter", "app.kubernetes.io/instance": "tte"}
	proxyPods := map[string]string{discovery.LabelManaged: "true"}
	selector := func(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }
	inNamespace := func(ns string, pods map[string]string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: selector(map[string]string{"kubernetes.io/metadata.name": ns}), PodSelector: selector(pods)}
	}
	ipBlocks := func(cidrs ...string) []networkingv1.NetworkPolicyPeer {
		var peers []networkingv1.NetworkPolicyPeer
		for _, c := range cidrs {
			peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
		}
		return peers
	}
	port := func(proto corev1.Protocol, p intstr.IntOrString) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
	}
	tcp := func(p int) networkingv1.NetworkPolicyPort { return port(corev1.ProtocolTCP, intstr.FromInt(p)) }
	egress := func(to []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyEgressRule {
		return networkingv1.NetworkPolicyEgressRule{To: to, Ports: ports}
	}
	kubeDNS := inNamespace("kube-system", map[string]string{"k8s-app": "kube-dns"})
	dns := func(extra ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyEgressRule {
		return egress(append([]networkingv1.NetworkPolicyPeer{kubeDNS}, extra...), port(corev1.ProtocolUDP, intstr.FromInt(53)), tcp(53))
	}
	metricsPort := port(corev1.ProtocolTCP, intstr.FromString(discovery.MetricsPortName))
	proxyMetrics := func(ns string) networkingv1.NetworkPolicyEgressRule {
		return egress([]networkingv1.NetworkPolicyPeer{inNamespace(ns, proxyPods)}, metricsPort)
	}
	direct := egress(ipBlocks("0.0.0.0/0", "::/0"), tcp(443), tcp(80))
	scrapes := func(from ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyIngressRule {
		return []networkingv1.NetworkPolicyIngressRule{{From: from, Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromString("http-metrics"))}}}
	}
	fromExporter := func(p networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyIngressRule {
		return []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{inNamespace("monitoring", exporterPods)}, Ports: []networkingv1.NetworkPolicyPort{p}}}
	}
	const enable = "networkPolicy.enabled=true,networkPolicy.apiServer.cidrs={10.0.0.1/32}"
	apiServer := egress(ipBlocks("10.0.0.1/32"), tcp(443), tcp(6443))

	for _, tc := range []struct {
		name    string
		args    []string
		ingress []networkingv1.NetworkPolicyIngressRule // of the exporter's policy
		egress  []networkingv1.NetworkPolicyEgressRule  // nil: no policy for the exporter
		proxyNS string                                  // "": no policy for the proxies
		proxyIn []networkingv1.NetworkPolicyIngressRule
	}{
		{name: "off by default"},
		{
			name:    "enabled",
			args:    []string{"--set", enable},
			ingress: scrapes(),
			egress:  []networkingv1.NetworkPolicyEgressRule{dns(), apiServer, proxyMetrics("tailscale"), direct},
		},
		{
			name:    "full values",
			args:    []string{"-f", fullValues},
			ingress: scrapes(inNamespace("monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"})),
			egress: []networkingv1.NetworkPolicyEgressRule{
				dns(ipBlocks("169.254.20.10/32")...),
				egress(ipBlocks("192.168.10.11/32", "192.168.10.12/32", "fd00:10::11/128"), tcp(6443)),
				proxyMetrics("tailscale-system"),
				direct,
				// The sidecar's tailscaled: control plane and DERP, then
				// WireGuard and STUN on any UDP port.
				egress(ipBlocks("0.0.0.0/0", "::/0"), tcp(443), tcp(80), networkingv1.NetworkPolicyPort{Protocol: new(corev1.ProtocolUDP)}),
			},
			proxyNS: "tailscale-system",
			proxyIn: fromExporter(metricsPort),
		},
		{
			name:    "SOCKS5 server elsewhere",
			args:    []string{"--set", enable + ",tailnetVantage.enabled=true,tailnetVantage.socks5Address=socks.tailscale:1055,networkPolicy.socks5To[0].podSelector.matchLabels.app=socks"},
			ingress: scrapes(),
			egress: []networkingv1.NetworkPolicyEgressRule{
				dns(), apiServer, proxyMetrics("tailscale"), direct,
				egress([]networkingv1.NetworkPolicyPeer{{PodSelector: selector(map[string]string{"app": "socks"})}}, tcp(1055)),
			},
		},
		{
			// No API server to reach and no proxy pods known: no addresses needed.
			name:    "discovery off",
			args:    []string{"--set", "networkPolicy.enabled=true,networkPolicy.proxyMetricsIngress=true,kubernetes.discovery=false,probe.targets={k8s.example.ts.net}"},
			ingress: scrapes(),
			egress:  []networkingv1.NetworkPolicyEgressRule{dns(), direct},
		},
		{
			// The Tailscale API for the tailnet policy: 443 to its CIDRs.
			name:    "tailnet policy from the Tailscale API",
			args:    []string{"--set", enable + ",tailnetPolicy.apiSecret.name=tailscale-api,tailnetPolicy.apiSecret.apiKey=api-key,networkPolicy.tailscaleAPICIDRs={192.0.2.0/24}"},
			ingress: scrapes(),
			egress:  []networkingv1.NetworkPolicyEgressRule{dns(), apiServer, proxyMetrics("tailscale"), direct, egress(ipBlocks("192.0.2.0/24"), tcp(443))},
		},
		{
			// A policy file needs no egress.
			name:    "tailnet policy from a ConfigMap",
			args:    []string{"--set", enable + ",tailnetPolicy.configMap.name=tailnet-policy"},
			ingress: scrapes(),
			egress:  []networkingv1.NetworkPolicyEgressRule{dns(), apiServer, proxyMetrics("tailscale"), direct},
		},
		{
			name:    "proxy ingress only, numeric port",
			args:    []string{"--set", "networkPolicy.proxyMetricsIngress=true,networkPolicy.proxyMetricsPort=9002"},
			proxyNS: "tailscale",
			proxyIn: fromExporter(tcp(9002)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helmTemplate(t, chartDir, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifests(t, out)
			policies := map[string]*networkingv1.NetworkPolicy{}
			for _, p := range objectsOf[*networkingv1.NetworkPolicy](m) {
				policies[p.Namespace] = p
			}
			want := 0
			if tc.egress != nil {
				want++
				p := policies["monitoring"]
				if p == nil {
					t.Fatalf("no NetworkPolicy in the release namespace; have %v", slices.Collect(maps.Keys(policies)))
				}
				checkPolicySpec(t, p, exporterPods, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, tc.ingress, tc.egress)
				// It must select the Deployment's pods, and only by labels
				// that every one of them carries.
				pod := m.deployment(t).Spec.Template.Labels
				if !labels.SelectorFromSet(p.Spec.PodSelector.MatchLabels).Matches(labels.Set(pod)) {
					t.Errorf("policy selector %v does not select the exporter's pods %v", p.Spec.PodSelector.MatchLabels, pod)
				}
			}
			if tc.proxyNS != "" {
				want++
				p := policies[tc.proxyNS]
				if p == nil {
					t.Fatalf("no NetworkPolicy in the operator namespace %s", tc.proxyNS)
				}
				checkPolicySpec(t, p, proxyPods, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, tc.proxyIn, nil)
			}
			if len(policies) != want {
				t.Errorf("%d NetworkPolicies rendered, want %d:\n%s", len(policies), want, out)
			}
		})
	}

	// A port name of digits would be read as a number by the network plugin.
	if _, err := helmTemplate(t, chartDir, "--set-string", "networkPolicy.proxyMetricsPort=9002"); err == nil || !strings.Contains(err.Error(), "/networkPolicy/proxyMetricsPort") {
		t.Errorf("proxyMetricsPort \"9002\" as a string: %v, want a schema error", err)
	}
}

// checkPolicySpec compares a policy's selector and rules whole, as YAML,
// so that a failure shows both sides.
func checkPolicySpec(t *testing.T, p *networkingv1.NetworkPolicy, pods map[string]string, types []networkingv1.PolicyType, ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) {
	t.Helper()
	want := networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: pods}, PolicyTypes: types, Ingress: ingress, Egress: egress}
	g, err := yaml.Marshal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("NetworkPolicy %s/%s spec:\n got:\n%s\nwant:\n%s", p.Namespace, p.Name, g, w)
	}
}

// TestChartRulesAndDashboards renders a copy of the chart holding a rule
// file and a dashboard, so the templates are tested whatever alerts/ and
// dashboards/ hold today.
func TestChartRulesAndDashboards(t *testing.T) {
	requireHelm(t)
	dir := filepath.Join(t.TempDir(), "chart")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	rules := "# comment kept\ngroups:\n  - name: tailscale-tunnel\n    rules:\n      - alert: TailscaleEndpointDown\n        expr: tailscale_tunnel_probe_success == 0\n        for: 5m\n        annotations:\n          summary: '{{ $labels.hostname }} is down'\n"
	dashboard := "{\n  \"title\": \"Tailscale <endpoints> & \\\"tunnels\\\"\",\n\t\"panels\": []\n}\n"
	for name, content := range map[string]string{"files/alerts/rules.yml": rules, "files/dashboards/Endpoints_Overview.json": dashboard} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	out, err := helmTemplate(t, dir, "--api-versions", monitoringV1, "--set", "dashboards.label=dashboard,dashboards.labelValue=tailscale,prometheusRule.labels.release=kps")
	if err != nil {
		t.Fatal(err)
	}
	m := decodeManifests(t, out)
	prs := m.customOfKind("PrometheusRule")
	if len(prs) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(prs))
	}
	checkPrometheusRule(t, prs[0], filepath.Join(dir, "files/alerts/rules.yml"))
	meta, _ := prs[0]["metadata"].(map[string]any)
	if labels, _ := meta["labels"].(map[string]any); labels["release"] != "kps" {
		t.Errorf("PrometheusRule labels = %v, want release=kps among them", labels)
	}

	var dashboards []*corev1.ConfigMap
	for _, cm := range objectsOf[*corev1.ConfigMap](m) {
		if _, ok := cm.Data["Endpoints_Overview.json"]; ok {
			dashboards = append(dashboards, cm)
		}
	}
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboard ConfigMaps, want 1", len(dashboards))
	}
	if got := dashboards[0].Data["Endpoints_Overview.json"]; got != dashboard {
		t.Errorf("dashboard changed on the way:\n got %q\nwant %q", got, dashboard)
	}
	if dashboards[0].Labels["dashboard"] != "tailscale" {
		t.Errorf("dashboard labels = %v, want dashboard=tailscale", dashboards[0].Labels)
	}

	// Without the prometheus-operator API, or turned off: no custom objects.
	for _, args := range [][]string{
		nil,
		{"--api-versions", monitoringV1, "--set", "serviceMonitor.enabled=false,prometheusRule.enabled=false,dashboards.enabled=false"},
	} {
		out, err := helmTemplate(t, dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		m := decodeManifests(t, out)
		if len(m.custom) > 0 {
			t.Errorf("%v: rendered %v", args, m.kinds())
		}
		if len(args) > 0 && strings.Contains(string(out), "Endpoints_Overview.json") {
			t.Errorf("%v: dashboards rendered", args)
		}
	}
}

// TestChartFilesInSync: alerts/rules.yml and dashboards/*.json are the
// source; the chart holds copies because Helm reads only files inside the
// chart. Fix a failure with: sh chart/sync-files.sh
func TestChartFilesInSync(t *testing.T) {
	const fix = "run: sh chart/sync-files.sh"
	listed := func(dir, pattern string) map[string][]byte {
		out := map[string][]byte{}
		matches, err := filepath.Glob(filepath.Join(repoRoot, dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range matches {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(p)] = b
		}
		return out
	}
	compared := 0
	for _, pair := range []struct{ src, copy, pattern string }{
		{"alerts", "chart/files/alerts", "rules.yml"},
		{"dashboards", "chart/files/dashboards", "*.json"},
	} {
		src, cp := listed(pair.src, pair.pattern), listed(pair.copy, pair.pattern)
		for name, b := range src {
			c, ok := cp[name]
			switch {
			case !ok:
				t.Errorf("%s/%s is not in %s; %s", pair.src, name, pair.copy, fix)
			case !bytes.Equal(b, c):
				t.Errorf("%s/%s differs from %s/%s; %s", pair.copy, name, pair.src, name, fix)
			default:
				compared++
			}
		}
		for name := range cp {
			if _, ok := src[name]; !ok {
				t.Errorf("%s/%s has no source in %s; %s", pair.copy, name, pair.src, fix)
			}
		}
	}
	t.Logf("%d chart files equal their source", compared)
}

// dockerBuild is the go build command of the Dockerfile's build stage.
type dockerBuild struct {
	env, args []string
	output    string
}

// parseDockerfile reads the Dockerfile's instructions (continuation lines
// joined) and the go build command in them.
func parseDockerfile(t *testing.T) (instructions []string, build dockerBuild) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	for line := range strings.Lines(joined) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			instructions = append(instructions, line)
		}
	}
	for _, in := range instructions {
		cmd, ok := strings.CutPrefix(in, "RUN ")
		if !ok || !strings.Contains(cmd, "go build") {
			continue
		}
		words, err := shellWords(cmd)
		if err != nil {
			t.Fatalf("Dockerfile %q: %v", in, err)
		}
		i := 0
		for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
			build.env = append(build.env, words[i])
		}
		if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
			t.Fatalf("Dockerfile: cannot read the go build in %q", in)
		}
		for j := i + 2; j < len(words); j++ {
			if words[j] == "-o" && j+1 < len(words) {
				build.output = words[j+1]
				j++
				continue
			}
			build.args = append(build.args, words[j])
		}
		return instructions, build
	}
	t.Fatal("Dockerfile has no RUN ... go build")
	return nil, build
}

// shellWords splits a command line as sh does for the quoting the
// Dockerfile uses: spaces, double quotes, single quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '&' || r == ';' || r == '|':
			return nil, errors.New("more than one command")
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestDockerfile builds the binary exactly as the Dockerfile's build stage
// does (no Docker engine here) and checks what the image relies on: a static
// binary, since distroless/static has no libc, stamped with the version.
func TestChartImageDockerfile(t *testing.T) {
	instructions, build := parseDockerfile(t)
	var froms []string
	has := map[string]bool{}
	for _, in := range instructions {
		if f, ok := strings.CutPrefix(in, "FROM "); ok {
			froms = append(froms, f)
		}
		has[in] = true
	}
	if len(froms) != 2 || froms[0] != "golang:1.26 AS build" || froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages = %q, want golang:1.26 AS build, then gcr.io/distroless/static-debian12:nonroot", froms)
	}
	copyBinary := "COPY --from=build " + build.output + " /bin/tailscale-tunnel-exporter"
	for _, want := range []string{copyBinary, "USER 65532:65532", "EXPOSE 9847", `ENTRYPOINT ["/bin/tailscale-tunnel-exporter"]`} {
		if !has[want] {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !slices.Contains(build.env, "CGO_ENABLED=0") || !slices.Contains(build.args, "-trimpath") || !slices.Contains(build.args, "./cmd/tailscale-tunnel-exporter") {
		t.Errorf("go build in the Dockerfile: env %q args %q", build.env, build.args)
	}

	const version, revision = "9.8.7-test", "0123456789abcdef"
	vars := strings.NewReplacer("${VERSION}", version, "${REVISION}", revision)
	out := filepath.Join(t.TempDir(), "tailscale-tunnel-exporter")
	args := []string{"build", "-o", out}
	for _, a := range build.args {
		args = append(args, vars.Replace(a))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), build.env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has a %v program header: not static, it will not run on distroless/static", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v (%v)", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("binary has a symbol table: -s was not applied")
	}

	v, err := exec.Command(out, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, v)
	}
	for _, want := range []string{"version " + version, "revision: " + revision} {
		if !strings.Contains(string(v), want) {
			t.Errorf("--version does not show %q:\n%s", want, v)
		}
	}
}

// TestChartNotes renders NOTES.txt, which helm template leaves out, through
// a ConfigMap added to a copy of the chart.
func TestChartNotes(t *testing.T) {
	requireHelm(t)
	dir := filepath.Join(t.TempDir(), "chart")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "templates/NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "files/notes.txt"), notes, 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get \"files/notes.txt\") . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates/zz-notes.yaml"), []byte(wrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{nil, []string{
			"kubectl --namespace monitoring port-forward service/tte-tailscale-tunnel-exporter 9847:9847",
			"http://localhost:9847/ ", "http://localhost:9847/metrics", "every namespace",
			"no\nServiceMonitor or PrometheusRule was created",
		}, []string{"Tailnet vantage"}},
		{[]string{"-f", fullValues, "--api-versions", monitoringV1}, []string{
			"port-forward service/tte 9847:9847", "default, kube-system", "proxy pods in tailscale-system (and their logs)",
			"Tailnet vantage: through tailscaled's SOCKS5 server at localhost:1055",
		}, []string{"was created"}},
		{[]string{"--set", "kubernetes.discovery=false"}, []string{"Discovery is off"}, nil},
	} {
		out, err := helmTemplate(t, dir, append([]string{"--show-only", "templates/zz-notes.yaml"}, tc.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		cms := objectsOf[*corev1.ConfigMap](decodeManifests(t, out))
		if len(cms) != 1 {
			t.Fatalf("notes not rendered:\n%s", out)
		}
		text := cms[0].Data["notes"]
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%v: NOTES lack %q:\n%s", tc.args, w, text)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(text, n) {
				t.Errorf("%v: NOTES say %q:\n%s", tc.args, n, text)
			}
		}
	}
}

// TestChartTailnetPolicy: the policy source becomes flags naming mounted
// files only when set; a credential is only ever a Secret's key mounted as a
// file, never a value in the manifests.
func TestChartTailnetPolicy(t *testing.T) {
	requireHelm(t)
	const dir = "/etc/tailscale-tunnel-exporter/"
	for _, tc := range []struct {
		name    string
		set     string
		args    []string // the --tailnet.* arguments, in order
		sources []string // the projected volume's sources besides config.yml: kind/name/key>path
		secret  *corev1.SecretProjection
	}{
		{name: "nothing set: no policy flags"},
		{
			name:    "policy file from a ConfigMap",
			set:     "tailnetPolicy.configMap.name=tailnet-policy,tailnetPolicy.clients=group:sre,tailnetPolicy.defaultTags=tag:k8s\\,tag:web,tailnetPolicy.interval=10m",
			args:    []string{"--tailnet.policy-file=" + dir + "tailnet-policy.hujson", "--tailnet.policy-interval=10m", "--tailnet.clients=group:sre", "--tailnet.default-tags=tag:k8s,tag:web"},
			sources: []string{"configMap/tailnet-policy/policy.hujson>tailnet-policy.hujson"},
		},
		{
			name:    "API key from an existing Secret",
			set:     "tailnetPolicy.apiSecret.name=tailscale-api,tailnetPolicy.apiSecret.apiKey=api-key",
			args:    []string{"--tailnet.api-key-file=" + dir + "tailscale-api-key", "--tailnet.name=-", "--tailnet.policy-interval=5m", "--tailnet.clients=autogroup:member", "--tailnet.default-tags=tag:k8s"},
			sources: []string{"secret/tailscale-api/api-key>tailscale-api-key"},
		},
		{
			name: "OAuth client from an existing Secret",
			set:  "tailnetPolicy.apiSecret.name=tailscale-oauth,tailnetPolicy.apiSecret.oauthClientId=client-id,tailnetPolicy.apiSecret.oauthClientSecret=client-secret,tailnetPolicy.tailnet=example.com",
			args: []string{"--tailnet.oauth-client-id-file=" + dir + "tailscale-oauth-client-id", "--tailnet.oauth-client-secret-file=" + dir + "tailscale-oauth-client-secret",
				"--tailnet.name=example.com", "--tailnet.policy-interval=5m", "--tailnet.clients=autogroup:member", "--tailnet.default-tags=tag:k8s"},
			sources: []string{"secret/tailscale-oauth/client-id>tailscale-oauth-client-id", "secret/tailscale-oauth/client-secret>tailscale-oauth-client-secret"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var helmArgs []string
			if tc.set != "" {
				helmArgs = []string{"--set", tc.set}
			}
			out, err := helmTemplate(t, chartDir, helmArgs...)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifests(t, out)
			d := m.deployment(t)
			var args []string
			for _, a := range container(t, d, "exporter").Args {
				if strings.HasPrefix(a, "--tailnet.") {
					args = append(args, a)
				}
			}
			if !slices.Equal(args, tc.args) {
				t.Errorf("tailnet arguments:\n got %q\nwant %q", args, tc.args)
			}
			var sources []string
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name != "config" || v.Projected == nil {
					continue
				}
				for _, src := range v.Projected.Sources {
					switch {
					case src.ConfigMap != nil && src.ConfigMap.Name != d.Name:
						for _, it := range src.ConfigMap.Items {
							sources = append(sources, "configMap/"+src.ConfigMap.Name+"/"+it.Key+">"+it.Path)
						}
					case src.Secret != nil:
						for _, it := range src.Secret.Items {
							sources = append(sources, "secret/"+src.Secret.Name+"/"+it.Key+">"+it.Path)
							if it.Mode == nil || *it.Mode != 0o440 {
								t.Errorf("secret file %s mode %v, want 0440 (the exporter's user and group only)", it.Path, it.Mode)
							}
						}
					}
				}
			}
			if !slices.Equal(sources, tc.sources) {
				t.Errorf("mounted policy sources:\n got %q\nwant %q", sources, tc.sources)
			}
			// The chart has no place for a credential's value: no Secret
			// object, no env value, no token-looking text anywhere.
			if kinds := m.kinds(); slices.Contains(kinds, "Secret") {
				t.Errorf("the chart renders a Secret: %v", kinds)
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "TAILSCALE_") {
						t.Errorf("container %s has env %s: credentials are files", c.Name, e.Name)
					}
				}
			}
			if bytes.Contains(out, []byte("tskey-")) {
				t.Errorf("a tskey- value is in the rendered manifests")
			}
		})
	}
}
