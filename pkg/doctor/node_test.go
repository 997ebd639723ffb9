package doctor

import (
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	serverID = "5f0c3c1e-7a2b-4d1e-9c3a-00000000abcd"
	dmiID    = "4C4C4544-0042-3510-8052-B4C04F4D3732"
	volID    = "0c9a4c5e-3b1f-4f0a-9d7e-2b8f1c6a7e10"
)

// fakeNode builds a node's directories under a temp dir: tools on a
// private PATH, a by-id dir with one volume link, /sys/block with vda and
// vdb, /run/udev, the kubelet dir and a DMI file. The metadata URL points
// at a loopback port nothing listens on, so no test ever contacts the
// real metadata service.
func fakeNode(t *testing.T, missingTools ...string) Options {
	t.Helper()
	root := t.TempDir()
	o := Options{
		Node:            true,
		ToolPath:        filepath.Join(root, "bin"),
		ByIDDir:         filepath.Join(root, "dev/disk/by-id"),
		SysBlockDir:     filepath.Join(root, "sys/block"),
		UdevDir:         filepath.Join(root, "run/udev"),
		KubeletDir:      filepath.Join(root, "var/lib/kubelet"),
		ConfigDriveDir:  filepath.Join(root, "mnt/config"),
		DMIProductUUID:  filepath.Join(root, "sys/class/dmi/id/product_uuid"),
		MetadataURL:     deadURL(t),
		MetadataTimeout: 2 * time.Second,
	}
	skip := map[string]bool{}
	for _, m := range missingTools {
		skip[m] = true
	}
	names := []string{"udevadm"}
	for _, tl := range tools {
		names = append(names, tl.name)
	}
	for _, name := range names {
		if !skip[name] {
			writeFile(t, filepath.Join(o.ToolPath, name), "#!/bin/sh\nexit 0\n", 0o755)
		}
	}
	// A non-executable file does not count as a tool.
	if skip["mkfs.ext4"] {
		writeFile(t, filepath.Join(o.ToolPath, "mkfs.ext4"), "", 0o644)
	}
	if err := os.MkdirAll(o.ByIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"virtio-" + volID[:20], "virtio-" + volID[:20] + "-part1", "ata-QEMU_DVD-ROM_QM00001"} {
		if err := os.Symlink("../../vdb", filepath.Join(o.ByIDDir, l)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(o.SysBlockDir, "vda", "size"), "20971520\n", 0o644)
	writeFile(t, filepath.Join(o.SysBlockDir, "vdb", "serial"), volID[:20]+"\n", 0o644)
	writeFile(t, filepath.Join(o.SysBlockDir, "loop0", "size"), "0\n", 0o644)
	writeFile(t, filepath.Join(o.UdevDir, "control"), "", 0o644)
	if err := os.MkdirAll(filepath.Join(o.KubeletDir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, o.DMIProductUUID, dmiID+"\n", 0o444)
	return o
}

// deadURL is an http URL on a loopback port that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// metadataServer serves meta_data.json on loopback and counts requests.
func metadataServer(t *testing.T, status int, body string) (string, *int) {
	t.Helper()
	n := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*n++
		if r.URL.Path != "/openstack/latest/meta_data.json" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, n
}

func TestNodeAllPassFromMetadataService(t *testing.T) {
	o := fakeNode(t)
	url, hits := metadataServer(t, 200, `{"uuid":"`+serverID+`","availability_zone":"az2","name":"worker-1"}`)
	o.MetadataURL = url
	out, lines, ok := run(t, o)
	if !ok {
		t.Error("ok = false, want true")
	}
	if *hits != 1 {
		t.Errorf("metadata service asked %d times, want 1", *hits)
	}
	for _, tl := range tools {
		expect(t, lines, tl.name, Pass, filepath.Join(o.ToolPath, tl.name))
	}
	expect(t, lines, "udevadm", Pass)
	expect(t, lines, "disk by-id links", Pass, "3 entries, 1 volume link(s)", "virtio-"+volID[:20])
	expect(t, lines, "block devices", Pass, "2 disks (vda, vdb)", "vdb="+volID[:20])
	expect(t, lines, "udev database", Pass)
	expect(t, lines, "node id", Pass, serverID, "metadata service "+url)
	expect(t, lines, "zone", Pass, "az2")
	expect(t, lines, "kubelet directory", Pass, o.KubeletDir)
	if strings.Contains(out, "[WARN]") || strings.Contains(out, "[FAIL]") {
		t.Error("a check did not pass")
	}
}

func TestNodeIDFromConfigDrive(t *testing.T) {
	o := fakeNode(t)
	url, _ := metadataServer(t, 404, "")
	o.MetadataURL = url
	writeFile(t, filepath.Join(o.ConfigDriveDir, "openstack/latest/meta_data.json"),
		`{"uuid":"`+serverID+`","availability_zone":"nova"}`, 0o644)
	_, lines, ok := run(t, o)
	if !ok {
		t.Error("ok = false, want true")
	}
	expect(t, lines, "node id", Pass, serverID, "config drive "+o.ConfigDriveDir)
	expect(t, lines, "zone", Pass, "nova")
}

func TestNodeIDFromDMI(t *testing.T) {
	o := fakeNode(t) // metadata service unreachable, no config drive
	_, lines, ok := run(t, o)
	if !ok {
		t.Error("ok = false: a zone-less node with a DMI id is a warning, not a failure")
	}
	expect(t, lines, "node id", Pass, strings.ToLower(dmiID), o.DMIProductUUID, "metadata service:", "config drive "+o.ConfigDriveDir+":")
	l := expect(t, lines, "zone", Warn, "unknown")
	if !strings.Contains(l.fix, "--zone") {
		t.Errorf("zone fix = %q", l.fix)
	}
}

func TestNodeIDUnresolvable(t *testing.T) {
	o := fakeNode(t)
	os.Remove(o.DMIProductUUID)
	_, lines, ok := run(t, o)
	if ok {
		t.Error("ok = true without a node id")
	}
	l := expect(t, lines, "node id", Fail, "metadata service:", "config drive "+o.ConfigDriveDir+":", o.DMIProductUUID)
	if !strings.Contains(l.fix, "--node-id") {
		t.Errorf("fix = %q", l.fix)
	}
}

func TestNodeIDRejectsEmptyMetaDataAndZeroDMI(t *testing.T) {
	o := fakeNode(t)
	url, _ := metadataServer(t, 200, `{"name":"worker-1"}`)
	o.MetadataURL = url
	writeFile(t, o.DMIProductUUID, "00000000-0000-0000-0000-000000000000\n", 0o444)
	_, lines, ok := run(t, o)
	if ok {
		t.Error("ok = true with an all-zero DMI UUID as the only id")
	}
	l := expect(t, lines, "node id", Fail,
		"metadata service: meta_data.json has neither uuid nor availability_zone",
		"config drive "+o.ConfigDriveDir+": no such file or directory",
		o.DMIProductUUID+": empty or all-zero UUID")
	if strings.Count(l.detail, o.DMIProductUUID) != 1 {
		t.Errorf("detail names %s more than once: %q", o.DMIProductUUID, l.detail)
	}
}

func TestNodeIDFlag(t *testing.T) {
	o := fakeNode(t)
	url, hits := metadataServer(t, 200, `{"uuid":"`+serverID+`","availability_zone":"az1"}`)
	o.MetadataURL = url
	o.NodeID, o.Zone = serverID, "az1"
	_, lines, _ := run(t, o)
	expect(t, lines, "node id", Pass, serverID+" (from --node-id)")
	expect(t, lines, "zone", Pass, "az1 (from --zone)")
	if *hits != 0 {
		t.Errorf("metadata service asked %d times although --node-id and --zone were given", *hits)
	}

	// A node id that is not this server's is worth a warning.
	o.Zone = ""
	o.NodeID = "11111111-2222-3333-4444-555555555555"
	_, lines, _ = run(t, o)
	l := expect(t, lines, "node id", Warn, "differs from the server id "+serverID)
	if l.fix == "" {
		t.Error("mismatch warning without a fix")
	}
}

func TestNodeMissingTools(t *testing.T) {
	o := fakeNode(t, "mkfs.ext4", "blkid", "mkfs.btrfs", "losetup", "udevadm")
	os.RemoveAll(o.UdevDir)
	os.RemoveAll(o.KubeletDir)
	_, lines, ok := run(t, o)
	if ok {
		t.Error("ok = true without mkfs.ext4 and blkid")
	}
	for _, name := range []string{"mkfs.ext4", "blkid"} {
		l := expect(t, lines, name, Fail, "not found")
		if !strings.Contains(l.fix, "install "+name) {
			t.Errorf("%s fix = %q", name, l.fix)
		}
	}
	expect(t, lines, "mkfs.btrfs", Warn, "fsType btrfs")
	expect(t, lines, "losetup", Skip)
	expect(t, lines, "udevadm", Warn)
	expect(t, lines, "udev database", Warn)
	expect(t, lines, "kubelet directory", Warn)
	expect(t, lines, "mkfs.xfs", Pass)
}

func TestNodeByIDDir(t *testing.T) {
	o := fakeNode(t)
	os.RemoveAll(o.ByIDDir)
	_, lines, ok := run(t, o)
	if ok {
		t.Error("ok = true with a --by-id-dir that does not exist")
	}
	l := expect(t, lines, "disk by-id links", Fail, "no such file")
	if !strings.Contains(l.fix, "--by-id-dir") {
		t.Errorf("fix = %q", l.fix)
	}

	// An empty directory is fine: no volume is attached yet.
	if err := os.MkdirAll(o.ByIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, lines, _ = run(t, o)
	expect(t, lines, "disk by-id links", Pass, "0 entries")
}

func TestNothingToCheck(t *testing.T) {
	_, lines, ok := run(t, Options{})
	if ok {
		t.Error("ok = true with nothing to check")
	}
	expect(t, lines, "nothing to check", Fail)
}

func TestRegisterFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if !o.Node || o.ByIDDir != DefaultByIDDir || o.MetadataURL != DefaultMetadataURL || o.Timeout != DefaultTimeout {
		t.Errorf("defaults not applied: %+v", o)
	}
	err := fs.Parse([]string{"--cloud-config", "/etc/cloud.conf", "--by-id-dir", "/tmp/by-id", "--node-id", "n1",
		"--zone", "az1", "--node-checks=false", "--metadata-url", "http://127.0.0.1:9", "--timeout", "5s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.CloudConfig != "/etc/cloud.conf" || o.ByIDDir != "/tmp/by-id" || o.NodeID != "n1" || o.Zone != "az1" ||
		o.Node || o.MetadataURL != "http://127.0.0.1:9" || o.Timeout != 5*time.Second {
		t.Errorf("flags not bound: %+v", o)
	}
}
