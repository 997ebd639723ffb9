package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// A pod writes, is deleted; a new pod on the same claim reads the same bytes.
func TestPersistence(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	k.apply(pvc("data", storageCls, "1Gi", ""))
	k.startPod("writer", "data", false)
	sum := k.writeData("writer")
	id := k.volumeHandle("data")
	if v, ok := simState(t, e).volumes[id]; !ok || v.Status != "in-use" {
		t.Fatalf("cloud volume %s: %+v, want in-use", id, v)
	}
	k.deletePod("writer")
	k.startPod("reader", "data", false)
	if got := k.readData("reader"); got != sum {
		t.Fatalf("read %s after the pod moved, wrote %s", got, sum)
	}
	k.deletePod("reader")
}

// snapshotRestore writes, snapshots with class, restores into a new claim
// and reads the bytes back; it returns the snapshot's content handle.
func snapshotRestore(t *testing.T, e env, k *kube, class string) string {
	t.Helper()
	k.apply(pvc("src", storageCls, "1Gi", ""))
	k.startPod("writer", "src", false)
	sum := k.writeData("writer")
	k.apply(fmt.Sprintf(`apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snap
spec:
  volumeSnapshotClassName: %s
  source:
    persistentVolumeClaimName: src
`, class))
	k.wait("volumesnapshot/snap", "jsonpath={.status.readyToUse}=true", 5*time.Minute)
	content := k.jsonpath("volumesnapshot/snap", "{.status.boundVolumeSnapshotContentName}")
	out, err := kubectlIn(context.Background(), "", "get", "volumesnapshotcontent", content, "-o", "jsonpath={.status.snapshotHandle}")
	if err != nil {
		t.Fatal(err)
	}
	// The source goes before the restore: the data must come from the snapshot.
	k.deletePod("writer")
	k.apply(pvc("restored", storageCls, "1Gi", `  dataSource:
    apiGroup: snapshot.storage.k8s.io
    kind: VolumeSnapshot
    name: snap
`))
	k.startPod("reader", "restored", false)
	if got := k.readData("reader"); got != sum {
		t.Fatalf("restored volume holds %s, the snapshot was taken of %s", got, sum)
	}
	k.deletePod("reader")
	return strings.TrimSpace(out)
}

func TestSnapshotRestore(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	before := simState(t, e)
	handle := snapshotRestore(t, e, k, snapshotCls)
	now := simState(t, e)
	if len(now.snapshots) != len(before.snapshots)+1 || len(now.backups) != len(before.backups) {
		t.Errorf("snapshot class made %d snapshots and %d backups, want 1 and 0 (handle %s)",
			len(now.snapshots)-len(before.snapshots), len(now.backups)-len(before.backups), handle)
	}
}

// A VolumeSnapshot of the backup class is a Cinder backup, and restores.
func TestBackupSnapshot(t *testing.T) {
	e := loadEnv(t)
	if !e.backups {
		t.Skipf("backend %s has no backups", e.backend)
	}
	k := newNamespace(t, e)
	before := simState(t, e)
	handle := snapshotRestore(t, e, k, backupCls)
	now := simState(t, e)
	if len(now.backups) != len(before.backups)+1 {
		t.Errorf("backup class made %d backups, want 1 (handle %s)", len(now.backups)-len(before.backups), handle)
	}
	var found bool
	for id, b := range now.backups {
		if strings.Contains(handle, id) {
			found = true
			if b.Status != "available" {
				t.Errorf("backup %s is %s", id, b.Status)
			}
		}
	}
	if !found {
		t.Errorf("no backup in the cloud matches the snapshot handle %q", handle)
	}
}

func TestClone(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	k.apply(pvc("src", storageCls, "1Gi", ""))
	k.startPod("writer", "src", false)
	sum := k.writeData("writer")
	// Cinder clones detached volumes consistently; the pod goes first.
	k.deletePod("writer")
	k.apply(pvc("clone", storageCls, "1Gi", `  dataSource:
    kind: PersistentVolumeClaim
    name: src
`))
	k.startPod("reader", "clone", false)
	if got := k.readData("reader"); got != sum {
		t.Fatalf("clone holds %s, source held %s", got, sum)
	}
	cloneID, srcID := k.volumeHandle("clone"), k.volumeHandle("src")
	if v := simState(t, e).volumes[cloneID]; v.SourceVolID != srcID {
		t.Errorf("cloud volume %s has source_volid %q, want %q", cloneID, v.SourceVolID, srcID)
	}
	// The clone is its own disk: writing to it leaves the source alone.
	k.exec("reader", "echo changed > /data/file && sync")
	k.deletePod("reader")
	k.startPod("check", "src", false)
	if got := k.readData("check"); got != sum {
		t.Errorf("source changed to %s after writing to the clone", got)
	}
	k.deletePod("check")
}

// dataKiB is the size of the filesystem at /data.
func (k *kube) dataKiB(pod string) int {
	k.t.Helper()
	f := strings.Fields(strings.TrimSpace(k.exec(pod, "df -k /data | tail -n 1")))
	if len(f) < 2 {
		k.t.Fatalf("df output %q", f)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		k.t.Fatal(err)
	}
	return n
}

func TestExpansion(t *testing.T) {
	e := loadEnv(t)
	// Cinder v2 (and v1) cannot extend an attached volume: the pod goes
	// first there, as a user of that cloud would do. Growing a mounted
	// ext4 (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE, which root on some
	// machines lacks; there the ext4 volume is expanded detached too, and
	// NodeStage grows its filesystem before mounting it.
	online := e.backend == "cinder-v3"
	t.Run("ext4", func(t *testing.T) {
		inUse := online
		if online && !boundingCap(t, capSysResource) {
			t.Log("no CAP_SYS_RESOURCE: expanding detached; NodeStage grows the filesystem")
			inUse = false
		}
		expansion(t, e, storageCls, inUse)
	})
	t.Run("xfs", func(t *testing.T) { expansion(t, e, xfsCls, online) })
}

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/*/status.
const capSysResource = 24

// boundingCap reports whether capability bit c is in this process's
// bounding set: containers, privileged ones included, get no more.
func boundingCap(t *testing.T, c uint) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n&(1<<c) != 0
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return false
}

// expansion grows a claim of class from 1Gi to 2Gi under a pod.
// expansion grows a 1Gi PVC to 2Gi with its pod running (inUse) or after
// deleting the pod and waiting for the volume to be detached.
func expansion(t *testing.T, e env, class string, inUse bool) {
	k := newNamespace(t, e)
	k.apply(pvc("data", class, "1Gi", ""))
	k.startPod("app", "data", false)
	sum := k.writeData("app")
	if size := k.dataKiB("app"); size > 1<<20 {
		t.Fatalf("1Gi volume has a %d KiB filesystem", size)
	}
	if !inUse {
		k.deletePod("app")
		waitReleased(t, e, k.pvName("data"), k.volumeHandle("data"))
	}
	k.run("patch", "pvc", "data", "--type=merge", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
	pv := k.pvName("data")
	if _, err := kubectlIn(context.Background(), "", "wait", "pv/"+pv, "--for=jsonpath={.spec.capacity.storage}=2Gi", "--timeout=4m"); err != nil {
		t.Fatalf("controller expansion: %v", err)
	}
	if !inUse {
		k.startPod("app", "data", false)
	}
	k.wait("pvc/data", "jsonpath={.status.capacity.storage}=2Gi", 4*time.Minute)
	if size := k.dataKiB("app"); size < 3<<19 {
		t.Errorf("after expansion to 2Gi the pod sees a %d KiB filesystem", size)
	}
	if v := simState(t, e).volumes[k.volumeHandle("data")]; v.Size != 2 {
		t.Errorf("cloud volume is %d GiB, want 2", v.Size)
	}
	if got := k.readData("app"); got != sum {
		t.Errorf("data changed by the expansion: %s, wrote %s", got, sum)
	}
	k.deletePod("app")
}

func TestRawBlock(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	k.apply(pvc("raw", storageCls, "1Gi", "  volumeMode: Block\n"))
	k.startPod("writer", "raw", true)
	sum := firstField(t, k.exec("writer",
		"dd if=/dev/urandom of=/tmp/x bs=1M count=4 2>/dev/null && dd if=/tmp/x of=/dev/block bs=1M count=4 conv=fsync 2>/dev/null && sha256sum /tmp/x"))
	if got := strings.TrimSpace(k.exec("writer", "blockdev --getsize64 /dev/block")); got != strconv.Itoa(1<<30) {
		t.Errorf("raw device is %s bytes, want %d", got, 1<<30)
	}
	k.deletePod("writer")
	k.startPod("reader", "raw", true)
	if got := firstField(t, k.exec("reader", "dd if=/dev/block bs=1M count=4 2>/dev/null | sha256sum")); got != sum {
		t.Fatalf("raw device reads %s, wrote %s", got, sum)
	}
	k.deletePod("reader")
}

func TestTopology(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	// The chart's class allows only this node's zone.
	k.apply(pvc("zoned", topologyCls, "1Gi", ""))
	k.startPod("app", "zoned", false)
	pv := k.pvName("zoned")
	out, err := kubectlIn(context.Background(), "", "get", "pv", pv, "-o",
		"jsonpath={.spec.nodeAffinity.required.nodeSelectorTerms[*].matchExpressions[*].key}={.spec.nodeAffinity.required.nodeSelectorTerms[*].matchExpressions[*].values[*]}")
	if err != nil {
		t.Fatal(err)
	}
	if want := zoneKey + "=" + e.zone; strings.TrimSpace(out) != want {
		t.Errorf("pv node affinity %q, want %q", out, want)
	}
	if v := simState(t, e).volumes[k.volumeHandle("zoned")]; v.Zone != e.zone {
		t.Errorf("cloud volume in zone %q, want %q", v.Zone, e.zone)
	}
	k.deletePod("app")

	// A class limited to a zone without nodes: nothing is scheduled and
	// nothing is created in the cloud.
	class := "e2e-elsewhere-" + randSuffix()
	k.apply(fmt.Sprintf(`apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
provisioner: %s
volumeBindingMode: WaitForFirstConsumer
allowedTopologies:
  - matchLabelExpressions:
      - key: %s
        values: [zone-without-nodes]
`, class, driverName, zoneKey))
	t.Cleanup(func() { _, _ = kubectlIn(context.Background(), "", "delete", "storageclass", class) })
	before := simState(t, e)
	k.apply(pvc("nowhere", class, "1Gi", ""))
	k.apply(pod("stuck", "nowhere", false))
	k.wait("pod/stuck", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}=Unschedulable", 2*time.Minute)
	if phase := k.jsonpath("pvc/nowhere", "{.status.phase}"); phase != "Pending" {
		t.Errorf("claim for a zone without nodes is %s", phase)
	}
	if left := simState(t, e).newSince(before); len(left) > 0 {
		t.Errorf("a volume was made for a zone without nodes: %v", left)
	}
}

// The controller pod dies while CreateVolume waits on the cloud: the next
// controller finds the volume by its request name, the claim binds, and
// the cloud holds exactly one volume for it.
func TestControllerKilledMidProvisioning(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	dk := &kube{t: t, ns: e.driverNS}
	selector := "app.kubernetes.io/component=controller"
	oldPod := dk.podName(selector)
	// Every cloud call takes 3 s, so CreateVolume is still waiting for the
	// new volume to become available when the pod is killed.
	setFaults(t, e, cloudsim.Faults{LatencyMS: 3000})
	t.Cleanup(func() { setFaults(t, e, cloudsim.Faults{}) })
	before := simState(t, e)
	k.apply(pvc("data", storageCls, "1Gi", ""))
	k.apply(pod("app", "data", false))
	deadline := time.Now().Add(3 * time.Minute)
	for len(simState(t, e).newSince(before)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the provisioner never created a cloud volume")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if phase := k.jsonpath("pvc/data", "{.status.phase}"); phase != "Pending" {
		t.Fatalf("claim is %s before the controller was killed: too late to test", phase)
	}
	dk.run("delete", "pod", "-l", selector, "--grace-period=0", "--force")
	setFaults(t, e, cloudsim.Faults{})
	k.wait("pvc/data", "jsonpath={.status.phase}=Bound", 5*time.Minute)
	k.wait("pod/app", "condition=Ready", 4*time.Minute)
	if newPod := dk.podName(selector); newPod == oldPod {
		t.Errorf("controller pod %s was not replaced", oldPod)
	}
	pv := k.pvName("data")
	var named []string
	for id, v := range simState(t, e).volumes {
		if v.Name == pv {
			named = append(named, id)
		}
	}
	if len(named) != 1 {
		t.Errorf("the cloud holds %d volumes named %s, want 1: %v", len(named), pv, named)
	}
	k.writeData("app")
	k.deletePod("app")
}

// The node plugin restarts under a mounted volume: the pod keeps its data,
// and unmounting through the new plugin works.
func TestNodePluginRestart(t *testing.T) {
	e := loadEnv(t)
	k := newNamespace(t, e)
	dk := &kube{t: t, ns: e.driverNS}
	k.apply(pvc("data", storageCls, "1Gi", ""))
	k.startPod("app", "data", false)
	sum := k.writeData("app")
	selector := "app.kubernetes.io/component=node"
	oldPod := dk.podName(selector)
	dk.run("delete", "pod", "-l", selector, "--wait=true")
	dk.run("rollout", "status", "daemonset/"+e.release+"-node", "--timeout=3m")
	if newPod := dk.podName(selector); newPod == oldPod {
		t.Fatalf("node pod %s was not replaced", oldPod)
	}
	if got := k.readData("app"); got != sum {
		t.Fatalf("after the node plugin restarted the pod reads %s, wrote %s", got, sum)
	}
	k.exec("app", "echo more > /data/more && sync")
	pv, handle := k.pvName("data"), k.volumeHandle("data")
	k.deletePod("app")
	// Unpublish and unstage went through the new plugin: no mount of the
	// volume is left and the cloud detached it.
	k.wait("pvc/data", "jsonpath={.status.phase}=Bound", time.Minute)
	waitReleased(t, e, pv, handle)
}

// waitReleased waits until no mount of the volume is left on the node and
// no VolumeAttachment names it, then checks that the cloud detached it.
func waitReleased(t *testing.T, e env, pv, handle string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		mounts := mountsOf(t, pv, handle)
		va, _ := kubectlIn(context.Background(), "", "get", "volumeattachments", "-o",
			"jsonpath={.items[?(@.spec.source.persistentVolumeName==\""+pv+"\")].metadata.name}")
		if len(mounts) == 0 && strings.TrimSpace(va) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the pod went: mounts %v, volume attachment %q", mounts, va)
		}
		time.Sleep(2 * time.Second)
	}
	if v := simState(t, e).volumes[handle]; len(v.Attachments) != 0 || v.Status != "available" {
		t.Errorf("cloud volume still attached: %s, %d attachments", v.Status, len(v.Attachments))
	}
}

// podName is the first pod matching selector (its one pod here).
func (k *kube) podName(selector string) string {
	k.t.Helper()
	name := strings.TrimSpace(k.run("get", "pods", "-l", selector, "-o", "jsonpath={.items[0].metadata.name}"))
	if name == "" {
		k.t.Fatalf("no pod %s in %s", selector, k.ns)
	}
	return name
}

// mountsOf lists this machine's mounts of a CSI volume: its pod mounts
// (named by the PV) and its staging mount (named by the hash of its handle,
// as the kubelet makes it).
func mountsOf(t *testing.T, pv, handle string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	staging := fmt.Sprintf("%x", sha256.Sum256([]byte(handle)))
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if strings.Contains(f[4], "/"+pv+"/") || strings.Contains(f[4], "/"+staging+"/") {
			out = append(out, f[4])
		}
	}
	return out
}
