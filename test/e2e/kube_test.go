package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var onCluster = flag.Bool("e2e.cluster", false, "run against the cluster of hack/e2e-cluster.sh (see its env command)")

const (
	driverName  = "block.csi.openblock.io"
	zoneKey     = "topology.block.csi.openblock.io/zone"
	storageCls  = "openblock-standard"
	xfsCls      = "openblock-xfs"
	topologyCls = "openblock-topology"
	snapshotCls = "openblock-snapshot"
	backupCls   = "openblock-backup"
	// The image hack/e2e-build.sh makes from Debian's busybox-static.
	busybox = "localhost/openblock-e2e/busybox:1.37.0-1"
)

// env is the cluster's environment (hack/e2e-cluster.sh env).
type env struct {
	run, backend, simURL, zone string
	driverNS, release          string
	backups                    bool
	// retype: the cloud changes a volume's type (VolumeAttributesClass);
	// multiattachType: its multi-attach volume type, "" without one.
	retype          bool
	multiattachType string
}

func loadEnv(t *testing.T) env {
	t.Helper()
	if !*onCluster {
		t.Skip("needs the e2e cluster: run `make e2e`, or hack/e2e-cluster.sh up && install, then go test ./test/e2e -args -e2e.cluster")
	}
	e := env{
		run: os.Getenv("E2E_RUN"), backend: os.Getenv("E2E_BACKEND"), simURL: os.Getenv("E2E_SIM_URL"),
		driverNS: os.Getenv("E2E_DRIVER_NAMESPACE"), release: os.Getenv("E2E_DRIVER_RELEASE"),
	}
	if e.run == "" || e.simURL == "" || os.Getenv("KUBECONFIG") == "" {
		t.Fatal("E2E_RUN, E2E_SIM_URL and KUBECONFIG must be set: source <(hack/e2e-cluster.sh env)")
	}
	vars, err := readShellVars(filepath.Join(e.run, "backend.env"))
	if err != nil {
		t.Fatal(err)
	}
	e.zone, e.backups = vars["ZONE"], vars["BACKUPS"] == "true"
	e.retype, e.multiattachType = vars["RETYPE"] == "true", vars["MULTIATTACH_TYPE"]
	return e
}

func readShellVars(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	return vars, sc.Err()
}

// kube runs kubectl in one namespace.
type kube struct {
	t  *testing.T
	ns string
}

// kubectlIn runs kubectl with stdin; the error carries stderr.
func kubectlIn(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// run runs kubectl -n ns args and fails the test on error.
func (k *kube) run(args ...string) string {
	k.t.Helper()
	out, err := k.try(args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

func (k *kube) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	return kubectlIn(ctx, "", append([]string{"-n", k.ns}, args...)...)
}

func (k *kube) apply(manifest string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kubectlIn(ctx, manifest, "-n", k.ns, "apply", "-f", "-"); err != nil {
		k.t.Fatalf("%v\n%s", err, manifest)
	}
}

// wait runs kubectl wait; on a timeout it fails with the object's events.
func (k *kube) wait(obj, cond string, timeout time.Duration) {
	k.t.Helper()
	if _, err := k.try("wait", obj, "--for="+cond, fmt.Sprintf("--timeout=%s", timeout)); err != nil {
		desc, _ := k.try("describe", obj)
		k.t.Fatalf("%s: %v\n%s", obj, err, desc)
	}
}

func (k *kube) jsonpath(obj, path string) string {
	k.t.Helper()
	return strings.TrimSpace(k.run("get", obj, "-o", "jsonpath="+path))
}

// exec runs a shell command in the pod's container.
func (k *kube) exec(pod, script string) string {
	k.t.Helper()
	return k.run("exec", pod, "--", "/bin/sh", "-c", script)
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newNamespace makes a namespace for the test and deletes it at the end,
// then checks the cloud is back where it was (see leakCheck).
func newNamespace(t *testing.T, e env) *kube {
	t.Helper()
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	k := &kube{t: t, ns: "e2e-" + name + "-" + randSuffix()}
	before := simState(t, e)
	if _, err := kubectlIn(context.Background(), "", "create", "namespace", k.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpNamespace(t, k)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		if _, err := kubectlIn(ctx, "", "delete", "namespace", k.ns, "--wait=true", "--timeout=5m"); err != nil {
			t.Errorf("deleting namespace %s: %v", k.ns, err)
		}
		leakCheck(t, e, before)
	})
	return k
}

func dumpNamespace(t *testing.T, k *kube) {
	out, _ := k.try("get", "pods,pvc,volumesnapshots,events", "-o", "wide")
	t.Logf("namespace %s at failure:\n%s", k.ns, out)
	pvs, _ := kubectlIn(context.Background(), "", "get", "pv,volumeattachments", "-o", "wide")
	t.Logf("cluster:\n%s", pvs)
}

// pvc is a PersistentVolumeClaim manifest; extra is appended to its spec.
func pvc(name, class, size, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: %s
spec:
  storageClassName: %s
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: %s
%s`, name, class, size, extra)
}

// pod is a long-running busybox pod with claim mounted at /data, or with
// block set, attached as the raw device /dev/block.
func pod(name, claim string, block bool) string {
	vol := "volumeMounts:\n        - {name: v, mountPath: /data}"
	if block {
		vol = "volumeDevices:\n        - {name: v, devicePath: /dev/block}"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: c
      image: %s
      imagePullPolicy: Never
      command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
      %s
  volumes:
    - name: v
      persistentVolumeClaim: {claimName: %s}
`, name, busybox, vol, claim)
}

// startPod applies a pod and waits until it runs.
func (k *kube) startPod(name, claim string, block bool) {
	k.t.Helper()
	k.apply(pod(name, claim, block))
	k.wait("pod/"+name, "condition=Ready", 4*time.Minute)
}

func (k *kube) deletePod(name string) {
	k.t.Helper()
	k.run("delete", "pod", name, "--wait=true", "--timeout=3m")
}

// writeData writes 4 MiB of random data to /data/file and returns its sha256.
func (k *kube) writeData(pod string) string {
	k.t.Helper()
	out := k.exec(pod, "dd if=/dev/urandom of=/data/file bs=1M count=4 2>/dev/null && sync && sha256sum /data/file")
	return firstField(k.t, out)
}

func (k *kube) readData(pod string) string {
	k.t.Helper()
	return firstField(k.t, k.exec(pod, "sha256sum /data/file"))
}

func firstField(t *testing.T, s string) string {
	t.Helper()
	f := strings.Fields(s)
	if len(f) == 0 {
		t.Fatalf("no output")
	}
	return f[0]
}

// pvName is the PersistentVolume bound to claim.
func (k *kube) pvName(claim string) string {
	k.t.Helper()
	return k.jsonpath("pvc/"+claim, "{.spec.volumeName}")
}

// volumeHandle is the cloud volume id behind claim.
func (k *kube) volumeHandle(claim string) string {
	k.t.Helper()
	pv := k.pvName(claim)
	out, err := kubectlIn(context.Background(), "", "get", "pv", pv, "-o", "json")
	if err != nil {
		k.t.Fatal(err)
	}
	var obj struct {
		Spec struct {
			CSI struct {
				Driver       string `json:"driver"`
				VolumeHandle string `json:"volumeHandle"`
			} `json:"csi"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		k.t.Fatal(err)
	}
	if obj.Spec.CSI.Driver != driverName {
		k.t.Fatalf("pv %s is provisioned by %q, want %q", pv, obj.Spec.CSI.Driver, driverName)
	}
	return obj.Spec.CSI.VolumeHandle
}
