package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// deployHeader starts deploy/kubernetes/openblock-csi.yaml.
const deployHeader = `# Generated from charts/openblock-csi with its default values
# (helm template openblock-csi charts/openblock-csi --namespace kube-system --skip-tests).
# Do not edit: change the chart, then run  go test ./test/chart/ -update
#
# Before applying, create the cloud config Secret (docs/install.md):
#   kubectl -n kube-system create secret generic openblock-csi-cloud-config --from-file=cloud.conf
# VolumeSnapshotClasses are not included: install the snapshot CRDs, then
# apply deploy/examples/volumesnapshotclass.yaml.
`

func renderDeploy(t *testing.T) string {
	t.Helper()
	// No --api-versions: a plain manifest cannot know whether the cluster
	// has the snapshot CRDs, and one unknown kind would fail the apply.
	out, err := helm(t, "template", releaseName, chartDir(t), "--namespace", namespace, "--skip-tests")
	if err != nil {
		t.Fatal(err)
	}
	return deployHeader + out
}

// TestDeployManifestsMatchChart keeps deploy/kubernetes identical to the chart.
func TestDeployManifestsMatchChart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot(t), "deploy", "kubernetes", "openblock-csi.yaml")
	compareOrUpdate(t, path, renderDeploy(t))
}

func TestDeployKustomization(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	k, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(k), "- openblock-csi.yaml") {
		t.Errorf("kustomization.yaml does not list openblock-csi.yaml:\n%s", k)
	}
	objs := parseObjects(t, renderDeploy(t))
	for _, o := range objs {
		if isTestHook(o) {
			t.Errorf("helm test hook %s/%s in the plain manifests", o.kind(), o.name())
		}
		if o.kind() == "Secret" {
			t.Errorf("plain manifests carry a Secret %s; credentials must come from the user", o.name())
		}
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not found; kustomize build not checked")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	built := parseObjects(t, string(out))
	if len(built) != len(objs) {
		t.Errorf("kustomize build has %d objects, the chart renders %d", len(built), len(objs))
	}
}

// TestDeployExamplesParse: every example is valid YAML naming this driver's
// classes, with the kinds the docs promise.
func TestDeployExamplesParse(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range parseObjects(t, string(data)) {
			kinds[o.kind()]++
			if o.name() == "" {
				t.Errorf("%s: %s without a name", filepath.Base(f), o.kind())
			}
			switch o.kind() {
			case "StorageClass":
				if str(o["provisioner"]) != driverName {
					t.Errorf("%s: StorageClass %s provisioner %v", filepath.Base(f), o.name(), o["provisioner"])
				}
			case "VolumeSnapshotClass":
				if str(o["driver"]) != driverName {
					t.Errorf("%s: VolumeSnapshotClass %s driver %v", filepath.Base(f), o.name(), o["driver"])
				}
			}
		}
	}
	for _, k := range []string{"StorageClass", "PersistentVolumeClaim", "Pod", "VolumeSnapshotClass", "VolumeSnapshot"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the examples", k)
		}
	}
}
