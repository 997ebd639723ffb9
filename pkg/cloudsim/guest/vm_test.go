package guest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest/guesttest"
)

// One boot; disks hot-plugged on both buses appear under the names udev
// gives them from the first 20 characters of the serial, and go again on
// unplug, with the guest's view of the serial checked in sysfs.
func TestHotPlugShowsByIDLinks(t *testing.T) {
	vm := guesttest.Boot(t, guesttest.Options{})
	ctx := context.Background()
	dir := t.TempDir()
	disks := []struct {
		serial string
		bus    guest.Bus
		link   string
	}{
		{"3f0c5b1e-8d2a-4c67-9e11-0a1b2c3d4e5f", guest.VirtioBlk, "virtio-3f0c5b1e-8d2a-4c67-9"},
		{"a1b2c3d4-0000-4111-8222-333344445555", guest.VirtioBlk, "virtio-a1b2c3d4-0000-4111-8"},
		{"5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", guest.VirtioSCSI, "scsi-0QEMU_QEMU_HARDDISK_5e6f7a8b-9c0d-4e1f-a"},
	}
	for _, d := range disks {
		f := filepath.Join(dir, d.serial+".img")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, 64<<20); err != nil {
			t.Fatal(err)
		}
		if err := vm.Plug(ctx, d.serial, f, d.bus); err != nil {
			t.Fatal(err)
		}
		took, err := guesttest.WaitLink(ctx, vm, d.link, true, 60*time.Second)
		if err != nil {
			ls, _ := vm.Run(ctx, "ls", "/dev/disk/by-id")
			t.Fatalf("%s on %s: %v; by-id holds: %q", d.serial, d.bus, err, ls)
		}
		t.Logf("%s: %s seen %s after device_add", d.bus, d.link, took.Round(10*time.Millisecond))
	}
	// virtio-blk reports the truncated serial in sysfs; the node plugin
	// falls back to it when there is no link.
	out, err := vm.Run(ctx, "sh", "-c", "cat /sys/block/vd*/serial")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range disks[:2] {
		if !strings.Contains(out, d.serial[:20]) {
			t.Errorf("sysfs serials %q lack %s", out, d.serial[:20])
		}
	}
	for _, d := range disks {
		if err := vm.Unplug(ctx, d.serial); err != nil {
			t.Fatal(err)
		}
		if _, err := guesttest.WaitLink(ctx, vm, d.link, false, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if p := vm.Plugged(); len(p) != 0 {
		t.Errorf("still plugged after unplugging all: %v", p)
	}
	// The last disk gone, udev removes the directory itself.
	if _, err := vm.Run(ctx, "test", "-e", "/dev/disk/by-id"); err == nil {
		t.Log("note: /dev/disk/by-id still exists with no disk attached")
	}
}
