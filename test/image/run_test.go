package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/doctor"
)

// versionArgs is how each of doctor.NodeTools says its version, and a word
// its answer holds. A tool the doctor adds without an entry here fails the
// test, so that the image is never trusted unchecked.
var versionArgs = map[string]struct {
	args []string
	want string
}{
	"mount":      {[]string{"-V"}, "util-linux"},
	"umount":     {[]string{"-V"}, "util-linux"},
	"blkid":      {[]string{"-V"}, "util-linux"},
	"blockdev":   {[]string{"-V"}, "util-linux"},
	"fsck":       {[]string{"--version"}, "util-linux"},
	"mkfs.ext4":  {[]string{"-V"}, "mke2fs"},
	"e2fsck":     {[]string{"-V"}, "e2fsck"},
	"resize2fs":  {nil, "resize2fs"}, // no version flag: its usage names it
	"dumpe2fs":   {[]string{"-V"}, "dumpe2fs"},
	"mkfs.xfs":   {[]string{"-V"}, "mkfs.xfs version"},
	"xfs_growfs": {[]string{"-V"}, "xfs_growfs version"},
	"xfs_info":   {[]string{"-V"}, "xfs_info version"},
	"mkfs.btrfs": {[]string{"--version"}, "btrfs-progs"},
	"btrfs":      {[]string{"--version"}, "btrfs-progs"},
	"udevadm":    {[]string{"--version"}, ""},
}

// inImage runs a command chrooted into root, in a private mount namespace
// with /proc and /dev mounted: both go when the namespace does.
func inImage(t *testing.T, root string, cmd ...string) (string, error) {
	t.Helper()
	script := `mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"`
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, root}, cmd...)
	out, err := exec.Command("unshare", args...).CombinedOutput()
	return string(out), err
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running the image's programs needs root (chroot, mount namespace)")
	}
}

// TestNodeToolsRunInImage runs every tool the node plugin needs inside the
// amd64 image: a tool or library missing from the recipe fails here.
func TestNodeToolsRunInImage(t *testing.T) {
	requireRoot(t)
	root := unpack(t, image(t, "amd64"))
	for _, d := range []string{"proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := inImage(t, root, "/usr/local/bin/openblock-csi", "--version")
	if err != nil || strings.TrimSpace(out) != version(t) {
		t.Errorf("openblock-csi --version in the image: %q, %v; want %q", out, err, version(t))
	}
	for _, tool := range doctor.NodeTools() {
		v, ok := versionArgs[tool]
		if !ok {
			t.Errorf("%s: no version command known; add one to versionArgs", tool)
			continue
		}
		out, err := inImage(t, root, append([]string{tool}, v.args...)...)
		if v.args != nil && err != nil {
			t.Errorf("%s %s in the image: %v\n%s", tool, strings.Join(v.args, " "), err, out)
			continue
		}
		if !strings.Contains(out, v.want) || strings.Contains(out, "not found") || strings.Contains(out, "error while loading shared libraries") {
			t.Errorf("%s in the image answered %q, want it to say %q", tool, out, v.want)
		}
	}
}

// TestFilesystemsMadeInImage makes each filesystem the driver offers with
// the image's own mkfs, and reads its type back with the image's blkid.
func TestFilesystemsMadeInImage(t *testing.T) {
	requireRoot(t)
	root := unpack(t, image(t, "amd64"))
	for _, d := range []string{"proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, fs := range []struct {
		name string
		mkfs []string
	}{
		{"ext4", []string{"mkfs.ext4", "-F", "-q"}},
		{"ext3", []string{"mkfs.ext3", "-F", "-q"}},
		{"xfs", []string{"mkfs.xfs", "-f", "-q"}},
		{"btrfs", []string{"mkfs.btrfs", "-f", "-q"}},
	} {
		t.Run(fs.name, func(t *testing.T) {
			disk := "/tmp/" + fs.name + ".img"
			if err := os.Truncate(filepath.Join(root, disk), 0); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(root, disk))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Truncate(filepath.Join(root, disk), 320<<20); err != nil {
				t.Fatal(err)
			}
			if out, err := inImage(t, root, append(fs.mkfs, disk)...); err != nil {
				t.Fatalf("%s in the image: %v\n%s", fs.mkfs[0], err, out)
			}
			out, err := inImage(t, root, "blkid", "-p", "-o", "value", "-s", "TYPE", disk)
			if err != nil || strings.TrimSpace(out) != fs.name {
				t.Errorf("blkid in the image read %q (%v), want %s", out, err, fs.name)
			}
		})
	}
}
