package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	sharedBlockCls = "openblock-shared-block"
	// retypeTarget is the generic cloud's other volume type: a new volume
	// gets the default, lvmdriver-1.
	retypeTarget = "__DEFAULT__"
)

// A bound, in-use claim moves to a VolumeAttributesClass naming another
// volume type: csi-resizer calls ControllerModifyVolume, the cloud
// volume's type changes (os-retype), the claim reports the new class and
// the pod's data is untouched.
func TestVolumeAttributesClassRetype(t *testing.T) {
	e := loadEnv(t)
	if !e.retype {
		t.Skipf("backend %s cannot change a volume's type: MODIFY_VOLUME is not offered", e.backend)
	}
	k := newNamespace(t, e)
	vac := "openblock-e2e-" + randSuffix()
	manifest := fmt.Sprintf(`apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: %s
driverName: %s
parameters:
  type: %s
`, vac, driverName, retypeTarget)
	if _, err := kubectlIn(context.Background(), manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kubectlIn(context.Background(), "", "delete", "volumeattributesclass", vac, "--wait=false")
	})

	k.apply(pvc("data", storageCls, "1Gi", ""))
	k.startPod("writer", "data", false)
	sum := k.writeData("writer")
	id := k.volumeHandle("data")
	if got := simState(t, e).volumes[id].VolumeType; got == retypeTarget || got == "" {
		t.Fatalf("new volume %s has type %q; the scenario needs it to start on another type than %s", id, got, retypeTarget)
	}

	k.run("patch", "pvc", "data", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"volumeAttributesClassName":%q}}`, vac))
	k.wait("pvc/data", "jsonpath={.status.currentVolumeAttributesClassName}="+vac, 3*time.Minute)
	if got := simState(t, e).volumes[id].VolumeType; got != retypeTarget {
		t.Errorf("cloud volume %s has type %q after the class change, want %q", id, got, retypeTarget)
	}
	if got := k.readData("writer"); got != sum {
		t.Errorf("data reads %s after the retype, wrote %s", got, sum)
	}
	k.deletePod("writer")
}

// Two pods share a ReadWriteMany raw block claim of the cloud's
// multi-attach type: bytes one writes through its device the other reads
// through its own; the cloud volume is multiattach. A ReadWriteMany
// filesystem claim of the same class is refused, saying why.
func TestMultiattachSharedBlock(t *testing.T) {
	e := loadEnv(t)
	if e.multiattachType == "" {
		t.Skipf("backend %s has no multi-attach volume type", e.backend)
	}
	k := newNamespace(t, e)
	k.apply(rwxClaim("shared", sharedBlockCls, "Block"))
	k.startPod("writer", "shared", true)
	k.startPod("reader", "shared", true)
	sum := firstField(t, k.exec("writer",
		"dd if=/dev/urandom of=/tmp/x bs=1M count=4 2>/dev/null && dd if=/tmp/x of=/dev/block bs=1M count=4 conv=fsync 2>/dev/null && sha256sum /tmp/x"))
	if got := firstField(t, k.exec("reader", "dd if=/dev/block bs=1M count=4 2>/dev/null | sha256sum")); got != sum {
		t.Fatalf("the second pod reads %s, the first wrote %s", got, sum)
	}
	id := k.volumeHandle("shared")
	v := simState(t, e).volumes[id]
	if !v.Multiattach || v.VolumeType != e.multiattachType {
		t.Errorf("cloud volume %s: multiattach %v, type %q; want a multiattach volume of type %q", id, v.Multiattach, v.VolumeType, e.multiattachType)
	}
	k.deletePod("reader")
	k.deletePod("writer")

	// A filesystem on several writers would be corrupted: refused.
	k.apply(rwxClaim("shared-fs", sharedBlockCls, "Filesystem"))
	k.apply(pod("fs-user", "shared-fs", false))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		events := k.run("get", "events", "--field-selector", "involvedObject.name=shared-fs", "-o", "jsonpath={.items[*].message}")
		if strings.Contains(events, "corrupted") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provisioning failure saying why for a ReadWriteMany filesystem claim; events: %s", events)
		}
		time.Sleep(5 * time.Second)
	}
	if phase := k.jsonpath("pvc/shared-fs", "{.status.phase}"); phase != "Pending" {
		t.Errorf("ReadWriteMany filesystem claim is %s, want Pending", phase)
	}
	k.run("delete", "pod", "fs-user", "--wait=false")
}

// rwxClaim is a ReadWriteMany claim of volumeMode mode.
func rwxClaim(name, class, mode string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: %s
spec:
  storageClassName: %s
  accessModes: [ReadWriteMany]
  volumeMode: %s
  resources:
    requests:
      storage: 1Gi
`, name, class, mode)
}
