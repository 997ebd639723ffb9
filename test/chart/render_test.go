package chart

import (
	"strings"
	"testing"
)

const (
	driverName  = "block.csi.openblock.io"
	topologyKey = "topology.block.csi.openblock.io/zone"
)

func TestCSIDriver(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t))
	d := find(t, objs, "CSIDriver", driverName)
	if get(d, "spec", "attachRequired") != true {
		t.Error("attachRequired must be true: volumes are attached by the controller")
	}
	if get(d, "spec", "podInfoOnMount") != false {
		t.Error("podInfoOnMount must be false")
	}
	if got := str(get(d, "spec", "fsGroupPolicy")); got != "File" {
		t.Errorf("fsGroupPolicy = %q, want File", got)
	}
	if got := strList(get(d, "spec", "volumeLifecycleModes")); len(got) != 1 || got[0] != "Persistent" {
		t.Errorf("volumeLifecycleModes = %v, want [Persistent]", got)
	}
}

func TestControllerDeployment(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t))
	dep := find(t, objs, "Deployment", "openblock-csi-controller")
	if got := get(dep, "spec", "replicas"); got != 2 {
		t.Errorf("replicas = %v, want 2", got)
	}
	spec := podSpec(dep)
	if got := str(spec["priorityClassName"]); got != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q", got)
	}
	if get(spec, "securityContext", "runAsNonRoot") != true {
		t.Error("controller pod must run as non-root")
	}
	wantContainers := []string{"openblock-csi", "csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter", "liveness-probe"}
	for _, n := range wantContainers {
		if container(spec, n) == nil {
			t.Fatalf("controller has no container %q (has %v)", n, containerNames(spec))
		}
	}
	plugin := container(spec, "openblock-csi")
	pargs := strList(plugin["args"])
	for _, a := range []string{"--mode=controller", "--endpoint=unix:///csi/csi.sock", "--cloud-config=/etc/openblock/cloud.conf", "--http-endpoint=:8080"} {
		if !contains(pargs, a) {
			t.Errorf("plugin args %v lack %s", pargs, a)
		}
	}
	prov := strList(container(spec, "csi-provisioner")["args"])
	for _, a := range []string{"--extra-create-metadata", "--feature-gates=Topology=true", "--default-fstype=ext4", "--csi-address=$(ADDRESS)"} {
		if !contains(prov, a) {
			t.Errorf("csi-provisioner args %v lack %s", prov, a)
		}
	}
	for _, n := range []string{"csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter"} {
		c := container(spec, n)
		if !contains(strList(c["args"]), "--leader-election=true") {
			t.Errorf("%s runs without leader election: two controller replicas would both act", n)
		}
		if got := str(get(c, "resources", "requests", "cpu")); got != "10m" {
			t.Errorf("%s cpu request = %q, want 10m", n, got)
		}
	}
	for _, c := range list(spec["containers"]) {
		name := str(get(c, "name"))
		sc := get(c, "securityContext")
		if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%s: securityContext %v must set readOnlyRootFilesystem and forbid privilege escalation", name, sc)
		}
		if !contains(strList(get(sc, "capabilities", "drop")), "ALL") {
			t.Errorf("%s: capabilities are not dropped", name)
		}
		if m := mountOf(c.(map[string]any), "/csi"); m == nil {
			t.Errorf("%s does not mount the CSI socket dir", name)
		}
	}
	checkPodWiring(t, "controller", spec)
}

func TestNodeDaemonSet(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t))
	ds := find(t, objs, "DaemonSet", "openblock-csi-node")
	spec := podSpec(ds)
	if got := str(spec["priorityClassName"]); got != "system-node-critical" {
		t.Errorf("priorityClassName = %q", got)
	}
	if spec["automountServiceAccountToken"] != false {
		t.Error("node pods get an API token they never use")
	}
	plugin := container(spec, "openblock-csi")
	if plugin == nil {
		t.Fatalf("no plugin container in %v", containerNames(spec))
	}
	args := strList(plugin["args"])
	for _, a := range []string{"--mode=node", "--endpoint=unix:///csi/csi.sock", "--by-id-dir=/dev/disk/by-id", "--kubelet-dir=/var/lib/kubelet", "--http-endpoint=:8081"} {
		if !contains(args, a) {
			t.Errorf("node plugin args %v lack %s", args, a)
		}
	}
	if get(plugin, "securityContext", "privileged") != true {
		t.Error("node plugin must be privileged to format and mount")
	}
	kubelet := mountOf(plugin, "/var/lib/kubelet")
	if kubelet == nil || kubelet["mountPropagation"] != "Bidirectional" {
		t.Errorf("kubelet dir mount = %v, want Bidirectional propagation", kubelet)
	}
	for _, p := range []string{"/dev", "/sys"} {
		if mountOf(plugin, p) == nil {
			t.Errorf("node plugin does not mount host %s", p)
		}
	}
	if m := mountOf(plugin, "/run/udev"); m == nil || m["readOnly"] != true {
		t.Errorf("/run/udev mount = %v, want read-only", m)
	}
	reg := container(spec, "node-driver-registrar")
	if reg == nil {
		t.Fatalf("no node-driver-registrar in %v", containerNames(spec))
	}
	if !contains(strList(reg["args"]), "--kubelet-registration-path=/var/lib/kubelet/plugins/"+driverName+"/csi.sock") {
		t.Errorf("registrar args %v name the wrong kubelet socket path", reg["args"])
	}
	if got := str(get(volume(spec, "registration-dir"), "hostPath", "path")); got != "/var/lib/kubelet/plugins_registry" {
		t.Errorf("registration dir = %q", got)
	}
	tols := list(spec["tolerations"])
	if len(tols) != 1 || str(get(tols[0], "operator")) != "Exists" || get(tols[0], "key") != nil {
		t.Errorf("node plugin tolerations %v do not tolerate every taint", spec["tolerations"])
	}
	checkPodWiring(t, "node", spec)
}

// TestNodeAlternatives: builtin registrar, no livenessprobe image, a moved
// kubelet dir, a by-id dir outside /dev and a host kubeconfig.
func TestNodeAlternatives(t *testing.T) {
	t.Parallel()
	vs := valueSets[len(valueSets)-1]
	if vs.name != "single-node-builtin-registrar" {
		t.Fatalf("value set order changed: %s", vs.name)
	}
	objs := parseObjects(t, render(t, vs.args(t)...))
	node := podSpec(find(t, objs, "DaemonSet", "openblock-csi-node"))
	if container(node, "node-driver-registrar") != nil || container(node, "liveness-probe") != nil {
		t.Errorf("node pod still has upstream sidecars: %v", containerNames(node))
	}
	reg := container(node, "registrar")
	if reg == nil {
		t.Fatalf("no builtin registrar in %v", containerNames(node))
	}
	rargs := strList(reg["args"])
	if len(rargs) == 0 || rargs[0] != "register" ||
		!contains(rargs, "--kubelet-registration-path=/var/lib/k0s/kubelet/plugins/"+driverName+"/csi.sock") {
		t.Errorf("builtin registrar args = %v", rargs)
	}
	if !strings.HasPrefix(str(reg["image"]), "openblock-csi:") {
		t.Errorf("builtin registrar image = %v, want the driver image", reg["image"])
	}
	plugin := container(node, "openblock-csi")
	if m := mountOf(plugin, "/var/lib/k0s/kubelet"); m == nil || m["mountPropagation"] != "Bidirectional" {
		t.Errorf("moved kubelet dir not mounted Bidirectional: %v", plugin["volumeMounts"])
	}
	if mountOf(plugin, "/var/lib/openblock-sim/by-id") == nil {
		t.Error("a by-id dir outside /dev must be mounted on its own")
	}
	if !contains(strList(plugin["args"]), "--zone=nova") {
		t.Errorf("node.zone not passed: %v", plugin["args"])
	}
	if got := str(get(plugin, "livenessProbe", "httpGet", "port")); got != "metrics" {
		t.Errorf("without livenessprobe the kubelet must probe the driver's own /healthz, probe port = %q", got)
	}
	if node["hostNetwork"] != true || node["dnsPolicy"] != "ClusterFirstWithHostNet" {
		t.Errorf("node hostNetwork/dnsPolicy = %v/%v", node["hostNetwork"], node["dnsPolicy"])
	}
	checkPodWiring(t, "node", node)

	dep := find(t, objs, "Deployment", "openblock-csi-controller")
	ctrl := podSpec(dep)
	if get(dep, "spec", "replicas") != 1 || ctrl["hostNetwork"] != true {
		t.Errorf("controller replicas/hostNetwork = %v/%v", get(dep, "spec", "replicas"), ctrl["hostNetwork"])
	}
	for _, n := range []string{"csi-provisioner", "csi-attacher", "csi-resizer"} {
		c := container(ctrl, n)
		if !contains(strList(c["args"]), "--kubeconfig=/etc/kubernetes/openblock-csi/kubeconfig") {
			t.Errorf("%s args %v lack --kubeconfig", n, c["args"])
		}
		if mountOf(c, "/etc/kubernetes/openblock-csi/kubeconfig") == nil {
			t.Errorf("%s does not mount the kubeconfig", n)
		}
	}
	if container(ctrl, "csi-snapshotter") != nil {
		t.Error("snapshotter disabled but rendered")
	}
	// Both pods share the host's network on one node: no port may clash.
	hostPorts := map[string]string{}
	for what, spec := range map[string]map[string]any{"controller": ctrl, "node": node} {
		for _, c := range list(spec["containers"]) {
			for _, p := range list(get(c, "ports")) {
				n := str(get(p, "containerPort"))
				if other, dup := hostPorts[n]; dup {
					t.Errorf("host port %s used by %s and %s", n, other, what)
				}
				hostPorts[n] = what
			}
		}
	}
	if got := str(get(volume(ctrl, "kubeconfig"), "hostPath", "path")); got != "/etc/openblock-csi/kubeconfig" {
		t.Errorf("kubeconfig hostPath = %q", got)
	}
	for _, o := range objs {
		if o.kind() == "ClusterRole" && o.name() == "openblock-csi-snapshotter" {
			t.Error("snapshotter ClusterRole rendered without the snapshotter")
		}
		if o.kind() == "PodDisruptionBudget" {
			t.Error("a PodDisruptionBudget for one replica would block node drains")
		}
		if o.kind() == "Pod" {
			t.Error("tests disabled but a test pod rendered")
		}
	}
}

// checkPodWiring: every mount names a volume of the pod, every named probe
// port is declared by its container, and no two containers share a port.
func checkPodWiring(t *testing.T, what string, spec map[string]any) {
	t.Helper()
	ports := map[string]string{}
	for _, c := range list(spec["containers"]) {
		cm := c.(map[string]any)
		name := str(cm["name"])
		declared := map[string]bool{}
		for _, p := range list(cm["ports"]) {
			declared[str(get(p, "name"))] = true
			num := str(get(p, "containerPort"))
			if other, dup := ports[num]; dup {
				t.Errorf("%s: port %s used by %s and %s", what, num, other, name)
			}
			ports[num] = name
		}
		for _, m := range list(cm["volumeMounts"]) {
			if volume(spec, str(get(m, "name"))) == nil {
				t.Errorf("%s/%s mounts undeclared volume %q", what, name, str(get(m, "name")))
			}
		}
		if p, ok := get(cm, "livenessProbe", "httpGet", "port").(string); ok && !declared[p] {
			t.Errorf("%s/%s probes port %q it does not declare", what, name, p)
		}
	}
}

// TestRBAC: every binding points at a rendered role and ServiceAccount,
// and the sidecars' essential permissions are there.
func TestRBAC(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t))
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, b := range ofKind(objs, kind) {
			if isTestHook(b) {
				continue
			}
			ref := get(b, "roleRef")
			find(t, objs, str(get(ref, "kind")), str(get(ref, "name")))
			for _, s := range list(get(b, "subjects")) {
				if str(get(s, "namespace")) != namespace {
					t.Errorf("%s %s: subject namespace %v", kind, b.name(), get(s, "namespace"))
				}
				find(t, objs, "ServiceAccount", str(get(s, "name")))
			}
		}
	}
	allowed := func(role object, group, resource, verb string) bool {
		for _, r := range list(get(role, "rules")) {
			if contains(strList(get(r, "apiGroups")), group) && contains(strList(get(r, "resources")), resource) && contains(strList(get(r, "verbs")), verb) {
				return true
			}
		}
		return false
	}
	checks := []struct{ role, group, resource, verb string }{
		{"openblock-csi-provisioner", "", "persistentvolumes", "create"},
		{"openblock-csi-provisioner", "", "persistentvolumes", "delete"},
		{"openblock-csi-provisioner", "storage.k8s.io", "csinodes", "get"},
		{"openblock-csi-provisioner", "snapshot.storage.k8s.io", "volumesnapshotcontents", "get"},
		{"openblock-csi-attacher", "storage.k8s.io", "volumeattachments/status", "patch"},
		{"openblock-csi-resizer", "", "persistentvolumeclaims/status", "patch"},
		{"openblock-csi-snapshotter", "snapshot.storage.k8s.io", "volumesnapshotcontents/status", "update"},
	}
	for _, c := range checks {
		if !allowed(find(t, objs, "ClusterRole", c.role), c.group, c.resource, c.verb) {
			t.Errorf("ClusterRole %s cannot %s %s", c.role, c.verb, c.resource)
		}
	}
	le := find(t, objs, "Role", "openblock-csi-leader-election")
	if !allowed(le, "coordination.k8s.io", "leases", "update") {
		t.Error("sidecars cannot renew their leader-election leases")
	}
	// The node's ServiceAccount has no binding at all.
	for _, b := range ofKind(objs, "ClusterRoleBinding") {
		for _, s := range list(get(b, "subjects")) {
			if str(get(s, "name")) == "openblock-csi-node" {
				t.Errorf("node ServiceAccount is bound by %s", b.name())
			}
		}
	}
}

func isTestHook(o object) bool {
	return str(get(o, "metadata", "annotations", "helm.sh/hook")) == "test"
}

func TestNamespacedObjectsInReleaseNamespace(t *testing.T) {
	t.Parallel()
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CSIDriver": true, "StorageClass": true, "VolumeSnapshotClass": true}
	for _, vs := range valueSets {
		for _, o := range parseObjects(t, render(t, vs.args(t)...)) {
			ns := str(get(o, "metadata", "namespace"))
			if clusterScoped[o.kind()] {
				if ns != "" {
					t.Errorf("%s: cluster-scoped %s/%s has namespace %q", vs.name, o.kind(), o.name(), ns)
				}
			} else if ns != namespace {
				t.Errorf("%s: %s/%s in namespace %q, want %q", vs.name, o.kind(), o.name(), ns, namespace)
			}
		}
	}
}

func TestStorageAndSnapshotClasses(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t, valueSets[1].args(t)...)) // nhn
	ssd := find(t, objs, "StorageClass", "nhn-ssd")
	if str(get(ssd, "provisioner")) != driverName {
		t.Errorf("provisioner = %v", get(ssd, "provisioner"))
	}
	if str(get(ssd, "parameters", "type")) != "General SSD" {
		t.Errorf("nhn-ssd type = %v, want the Cinder type name \"General SSD\"", get(ssd, "parameters", "type"))
	}
	if str(get(ssd, "metadata", "annotations", "storageclass.kubernetes.io/is-default-class")) != "true" {
		t.Error("nhn-ssd is not the default class")
	}
	if str(get(ssd, "volumeBindingMode")) != "WaitForFirstConsumer" || get(ssd, "allowVolumeExpansion") != true {
		t.Errorf("nhn-ssd binding/expansion = %v/%v", get(ssd, "volumeBindingMode"), get(ssd, "allowVolumeExpansion"))
	}
	if find(t, objs, "VolumeSnapshotClass", "nhn-snapshot")["driver"] != driverName {
		t.Error("snapshot class names another driver")
	}

	helion := parseObjects(t, render(t, valueSets[3].args(t)...))
	az2 := find(t, helion, "StorageClass", "helion-az2")
	if az2["allowVolumeExpansion"] != false {
		t.Error("helion volumes cannot grow; the class must say so")
	}
	exprs := list(get(list(az2["allowedTopologies"])[0], "matchLabelExpressions"))
	if str(get(exprs[0], "key")) != topologyKey || !contains(strList(get(exprs[0], "values")), "az2") {
		t.Errorf("helion-az2 allowedTopologies = %v", az2["allowedTopologies"])
	}
	backup := find(t, helion, "VolumeSnapshotClass", "helion-backup")
	if str(get(backup, "parameters", "type")) != "backup" || str(backup["deletionPolicy"]) != "Retain" {
		t.Errorf("helion-backup = %v", backup)
	}
}

// TestSnapshotClassesNeedTheAPI: without the snapshot CRDs a
// VolumeSnapshotClass would fail the whole install, so none is rendered.
func TestSnapshotClassesNeedTheAPI(t *testing.T) {
	t.Parallel()
	out, err := helm(t, "template", releaseName, chartDir(t), "--namespace", namespace)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ofKind(parseObjects(t, out), "VolumeSnapshotClass")); n != 0 {
		t.Errorf("%d VolumeSnapshotClasses rendered for a cluster without snapshot.storage.k8s.io/v1", n)
	}
	out, err = helm(t, "template", releaseName, chartDir(t), "--namespace", namespace, "--set", "volumeSnapshotClasses.alwaysRender=true")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ofKind(parseObjects(t, out), "VolumeSnapshotClass")); n != 1 {
		t.Errorf("alwaysRender: %d VolumeSnapshotClasses, want 1", n)
	}
}

func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	objs := parseObjects(t, render(t, valueSets[5].args(t)...))
	sm := find(t, objs, "ServiceMonitor", "openblock-csi")
	if str(get(sm, "metadata", "labels", "release")) != "prometheus" {
		t.Error("serviceMonitor.labels not applied")
	}
	var ports []string
	for _, e := range list(get(sm, "spec", "endpoints")) {
		ports = append(ports, str(get(e, "port")))
	}
	// Every endpoint port must exist on one of the selected Services.
	svcPorts := map[string]bool{}
	for _, svc := range ofKind(objs, "Service") {
		if str(get(svc, "metadata", "labels", "openblock-csi/metrics")) != "true" {
			continue
		}
		for _, p := range list(get(svc, "spec", "ports")) {
			svcPorts[str(get(p, "name"))] = true
		}
	}
	for _, p := range ports {
		if !svcPorts[p] {
			t.Errorf("ServiceMonitor scrapes port %q that no metrics Service has", p)
		}
	}
	if len(ports) != 5 {
		t.Errorf("ServiceMonitor endpoints = %v, want driver + 4 sidecars", ports)
	}
	dep := podSpec(find(t, objs, "Deployment", "openblock-csi-controller"))
	if got := str(get(volume(dep, "cloud-config"), "secret", "secretName")); got != "my-cloud-config" {
		t.Errorf("controller reads Secret %q, want the existing my-cloud-config", got)
	}
	if !contains(strList(container(dep, "openblock-csi")["args"]), "--cloud-config=/etc/openblock/openstack.conf") {
		t.Error("cloudConfig.key not used in --cloud-config")
	}
	for _, o := range objs {
		if o.kind() == "Secret" {
			t.Errorf("existingSecret set, but the chart renders Secret %s", o.name())
		}
	}
	if got := str(container(dep, "openblock-csi")["image"]); got != "registry.example.com/storage/openblock-csi:0.1.0-rc.1" {
		t.Errorf("image = %q", got)
	}
	if str(get(list(dep["imagePullSecrets"])[0], "name")) != "registry-credentials" {
		t.Error("imagePullSecrets not applied")
	}
}
