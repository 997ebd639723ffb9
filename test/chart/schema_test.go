package chart

import (
	"strings"
	"testing"
)

// TestSchemaRejectsBadValues: values.schema.json turns wrong values into a
// helm error that names the field, before anything reaches the cluster.
func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		// want are substrings of helm's error.
		want []string
	}{
		{"negative replicas", []string{"--set", "controller.replicas=-1"},
			[]string{"/controller/replicas", "minimum"}},
		{"zero replicas", []string{"--set", "controller.replicas=0"},
			[]string{"/controller/replicas"}},
		{"replicas not a number", []string{"--set-string", "controller.replicas=two"},
			[]string{"/controller/replicas", "want integer"}},
		{"unknown backend", []string{"--set", "cloudConfig.blockStorage.backend=aws"},
			[]string{"/cloudConfig/blockStorage/backend", "cinder", "lunanode"}},
		{"unknown profile", []string{"--set", "cloudConfig.blockStorage.profile=openstack"},
			[]string{"/cloudConfig/blockStorage/profile", "generic", "nhn", "helion"}},
		{"log level out of range", []string{"--set", "logLevel=11"},
			[]string{"/logLevel"}},
		{"log level not a number", []string{"--set-string", "logLevel=debug"},
			[]string{"/logLevel"}},
		{"bad api version", []string{"--set", "cloudConfig.blockStorage.apiVersion=4"},
			[]string{"/cloudConfig/blockStorage/apiVersion"}},
		{"negative rate limit", []string{"--set", "cloudConfig.blockStorage.rateLimit=-1"},
			[]string{"/cloudConfig/blockStorage/rateLimit"}},
		{"bad pull policy", []string{"--set", "image.pullPolicy=Sometimes"},
			[]string{"/image/pullPolicy"}},
		{"port out of range", []string{"--set", "node.metricsPort=70000"},
			[]string{"/node/metricsPort"}},
		{"relative kubelet dir", []string{"--set", "kubeletDir=var/lib/kubelet"},
			[]string{"/kubeletDir"}},
		{"hostNetwork not a boolean", []string{"--set-string", "node.hostNetwork=yes"},
			[]string{"/node/hostNetwork", "want boolean"}},
		{"bad sidecar timeout", []string{"--set-string", "sidecars.provisioner.timeout=ten"},
			[]string{"/sidecars/provisioner/timeout"}},
		{"unknown fstype", []string{"--set", `storageClasses[0].name=x,storageClasses[0].parameters.csi\.storage\.k8s\.io/fstype=ntfs`},
			[]string{"/storageClasses/0/parameters/csi.storage.k8s.io~1fstype", "ext4"}},
		{"bad binding mode", []string{"--set", "storageClasses[0].name=x,storageClasses[0].volumeBindingMode=Later"},
			[]string{"/storageClasses/0/volumeBindingMode"}},
		{"storage class without name", []string{"--set", "storageClasses[0].reclaimPolicy=Delete"},
			[]string{"/storageClasses/0", "name"}},
		{"unknown snapshot type", []string{"--set", "volumeSnapshotClasses.classes[0].name=x,volumeSnapshotClasses.classes[0].parameters.type=clone"},
			[]string{"/volumeSnapshotClasses/classes/0/parameters/type", "snapshot", "backup"}},
		{"misspelt key", []string{"--set", "controler.replicas=3"},
			[]string{"controler"}},
		{"rendered secret without auth url", []string{"--set", "cloudConfig.existingSecret="},
			[]string{"/cloudConfig/global/authURL"}},
		{"rendered lunanode secret without key", []string{"--set", "cloudConfig.existingSecret=,cloudConfig.blockStorage.backend=lunanode,cloudConfig.lunanode.apiID=abc"},
			[]string{"/cloudConfig/lunanode/apiKey"}},
		{"unknown lunanode region", []string{"--set", "cloudConfig.lunanode.zones={paris}"},
			[]string{"/cloudConfig/lunanode/zones/0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"template", releaseName, chartDir(t), "--namespace", namespace}, tc.args...)
			out, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want a schema error. Output starts:\n%.300s", tc.args, out)
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") {
				t.Errorf("error does not come from the values schema: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestSchemaAcceptsGoodValues guards against a schema so strict that
// ordinary settings fail.
func TestSchemaAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--set", "cloudConfig.blockStorage.apiVersion=2"},
		{"--set-string", "cloudConfig.blockStorage.apiVersion=auto"},
		{"--set", "cloudConfig.blockStorage.rateLimit=0.5"},
		{"--set", "controller.podDisruptionBudget.maxUnavailable=50%"},
		{"--set", "controller.replicas=1"},
		{"--set", "cloudConfig.existingSecret=,cloudConfig.raw=[Global]"},
		{"--set", "image.digest=sha256:" + strings.Repeat("ab", 32)},
		{"--set", "sidecars.provisioner.timeout=1h30m"},
	} {
		if _, err := helm(t, append([]string{"template", releaseName, chartDir(t)}, args...)...); err != nil {
			t.Errorf("helm template %v: %v", args, err)
		}
	}
}
