package guest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest/guesttest"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// linkWait bounds how long a hot-plugged disk may take to show under
// /dev/disk/by-id (TCG on shared cores: seconds, at worst tens).
const linkWait = 90 * time.Second

// With no disk attached the guest has no /dev/disk/by-id at all (udev
// removes it with the last disk). A NodeStage then waits for the disk as
// for any late one, up to the caller's bound, instead of failing at once
// on the missing directory; the retry stages it once it arrives.
func caseByIDAbsent(t *testing.T, ctx context.Context, e *env) {
	if p := e.vm.Plugged(); len(p) != 0 {
		t.Fatalf("disks left plugged by earlier cases: %v", p)
	}
	if !e.byIDAbsent(ctx, 15*time.Second) {
		ls, _ := e.vm.Run(ctx, "ls", "-la", "/dev/disk/by-id")
		t.Fatalf("/dev/disk/by-id exists with no disk attached: %s", ls)
	}
	v := e.create(t, ctx, "guest-by-id-absent", 1, nil)
	e.delayPlugs(t, ctx, 12*time.Second)
	v.attach(ctx)
	e.delayPlugs(t, ctx, 0)
	short, cancel := context.WithTimeout(ctx, 4*time.Second)
	began := time.Now()
	err := v.stageErr(short, v.pc)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("NodeStage with no /dev/disk/by-id answered %v after %s; want it to wait for the disk until the caller's deadline",
			err, time.Since(began).Round(100*time.Millisecond))
	}
	if !e.byIDAbsent(ctx, 0) {
		t.Log("note: the delayed disk arrived while the first NodeStage waited")
	}
	// Retried as the kubelet does: no sticky error, the disk is staged.
	for {
		err = v.stageErr(ctx, v.pc)
		if status.Code(err) != codes.Aborted { // the first call may still be unwinding
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("NodeStage retried after the disk arrived: %v", err)
	}
	v.publish(ctx)
	v.write(ctx, "arrived", "late")
	if got := v.read(ctx, "arrived"); got != "late" {
		t.Fatalf("read back %q", got)
	}
	v.down(ctx)
}

// byIDAbsent waits up to d for /dev/disk/by-id to be gone in the guest.
func (e *env) byIDAbsent(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, err := e.vm.Run(ctx, "test", "-e", "/dev/disk/by-id"); err != nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A new volume is blank and gets formatted; a disk that holds a
// filesystem is never formatted again, also after a detach and attach
// (which may give it another device name): same UUID, the data back.
func caseBlankFormattedKept(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-blank-kept", 1, nil)
	v.attach(ctx)
	if _, err := guesttest.WaitLink(ctx, e.vm, e.link(v.serial()), true, linkWait); err != nil {
		t.Fatal(err)
	}
	if typ := e.blkType(ctx, "/dev/disk/by-id/"+e.link(v.serial())); typ != "" {
		t.Fatalf("a new volume holds %s before its first stage", typ)
	}
	v.stage(ctx)
	v.publish(ctx)
	if got := v.fsType(ctx); got != "ext4" {
		t.Fatalf("the blank disk was staged as %q, want ext4", got)
	}
	uuid := v.fsUUID(ctx)
	v.write(ctx, "kept", "not formatted twice")
	v.down(ctx)
	v.up(ctx)
	if got := v.fsUUID(ctx); got != uuid {
		t.Fatalf("filesystem %s became %s after detach and attach: formatted again", uuid, got)
	}
	if got := v.read(ctx, "kept"); got != "not formatted twice" {
		t.Fatalf("data after detach and attach: %q", got)
	}
	v.down(ctx)
}

func (e *env) blkType(ctx context.Context, dev string) string {
	out, _ := e.vm.Run(ctx, "sh", "-c", `blkid -p -s TYPE -o value "$1" || true`, "sh", dev)
	return strings.TrimSpace(out)
}

func (v *vol) fsType(ctx context.Context) string {
	v.t.Helper()
	out, err := v.e.vm.Run(ctx, "findmnt", "-n", "-o", "FSTYPE", "--mountpoint", v.staging)
	if err != nil {
		v.t.Fatalf("findmnt %s: %v", v.staging, err)
	}
	return strings.TrimSpace(out)
}

// 25 disks attached at once (HP's per-guest limit of 26 less the boot
// disk): each is found and staged on its own device. Each filesystem gets
// its volume's id written into it; after unstaging and staging all again,
// each staging mount's source is the device udev's link for that volume's
// serial points at, and holds that id.
func caseManyDisks(t *testing.T, ctx context.Context, e *env) {
	const n = 25
	vols := make([]*vol, n)
	for i := range vols {
		vols[i] = e.create(t, ctx, fmt.Sprintf("guest-many-%02d", i), 1, nil)
	}
	all := func(what string, width int, f func(v *vol) error) {
		t.Helper()
		began := time.Now()
		errs := make([]error, n)
		sem := make(chan struct{}, width)
		var wg sync.WaitGroup
		for i, v := range vols {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[i] = f(v)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s %d volumes: %s", what, n, time.Since(began).Round(100*time.Millisecond))
	}
	all("ControllerPublish", n, func(v *vol) error { return v.attachErr(ctx) })
	// 25 ACPI hot-plugs queue up in a one-CPU guest: the last disks may
	// come after one NodeStage's wait, and the kubelet calls again.
	var retries atomic.Int32
	all("NodeStage", 5, func(v *vol) error {
		for {
			err := v.stageErr(ctx, v.pc)
			if c := status.Code(err); (c == codes.NotFound || c == codes.Aborted) && ctx.Err() == nil {
				retries.Add(1)
				continue
			}
			return err
		}
	})
	t.Logf("NodeStage calls retried after the plugin's 30 s wait: %d", retries.Load())
	args := []string{"sh", "-c", `while [ $# -gt 0 ]; do printf %s "$2" >"$1/volume-id" || exit 1; shift 2; done; sync`, "sh"}
	for _, v := range vols {
		args = append(args, v.staging, v.id)
	}
	if _, err := e.vm.Run(ctx, args...); err != nil {
		t.Fatal(err)
	}
	unstage := func(v *vol) error {
		_, err := e.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging})
		return err
	}
	all("NodeUnstage", 5, unstage)
	all("NodeStage again", 5, func(v *vol) error { return v.stageErr(ctx, v.pc) })

	args = []string{"sh", "-c", `while [ $# -gt 0 ]; do
	echo "$(findmnt -n -o SOURCE --mountpoint "$1") $(readlink -f "/dev/disk/by-id/$2") $(cat "$1/volume-id")"; shift 2
done`, "sh"}
	for _, v := range vols {
		args = append(args, v.staging, e.link(v.serial()))
	}
	out, err := e.vm.Run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("%d report lines for %d volumes:\n%s", len(lines), n, out)
	}
	seen := map[string]string{}
	for i, l := range lines {
		f := strings.Fields(l)
		v := vols[i]
		if len(f) != 3 || f[0] != f[1] || f[2] != v.id {
			t.Errorf("volume %s (link %s): staged from, link to, id read = %q", v.id, e.link(v.serial()), l)
			continue
		}
		if other, dup := seen[f[0]]; dup {
			t.Errorf("%s staged for both %s and %s", f[0], other, v.id)
		}
		seen[f[0]] = v.id
	}
	all("NodeUnstage and ControllerUnpublish", n, func(v *vol) error { return v.teardown(ctx) })
}

func (v *vol) attachErr(ctx context.Context) error {
	resp, err := v.e.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
		VolumeId: v.id, NodeId: harness.LocalServerID, VolumeCapability: mountCap(v.fs),
	})
	if err != nil {
		return fmt.Errorf("ControllerPublishVolume %s: %w", v.id, err)
	}
	v.pc = resp.GetPublishContext()
	return nil
}

// The figures: from the ControllerPublish call to the disk's by-id link
// seen in the guest, and to NodeStage done (the first stage formats).
// The link is watched while NodeStage runs, as the kubelet would call it.
func caseAttachTimings(t *testing.T, ctx context.Context, e *env) {
	const cycles = 5
	v := e.create(t, ctx, "guest-timings", 1, nil)
	for range cycles {
		began := time.Now()
		v.attach(ctx)
		seen := make(chan error, 1)
		var link time.Duration
		go func() {
			_, err := guesttest.WaitLink(ctx, e.vm, e.link(v.serial()), true, linkWait)
			link = time.Since(began)
			seen <- err
		}()
		v.stage(ctx)
		staged := time.Since(began)
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		e.timings.add(link, staged)
		if _, err := e.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.id, NodeId: harness.LocalServerID}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s", e.timings.summary())
}
