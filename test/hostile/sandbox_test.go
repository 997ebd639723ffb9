package hostile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
)

// guarded are host trees the hostile requests name; inside the namespace
// each is an overlay whose writes land in a scratch upper directory.
var guarded = []string{"/etc", "/usr/bin", "/srv", "/media"}

// sandbox is the child's private view: a tmpfs scratch directory holding
// the kubelet directory, a decoy tree outside it, and the overlays'
// upper directories.
type sandbox struct {
	scratch string
	kubelet string
	outside string
	uppers  map[string]string // guarded dir → its overlay's upper dir
}

// newSandbox checks that the process runs in its own mount namespace with
// private propagation, then mounts the scratch tmpfs and the overlays.
func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	parentNS := os.Getenv(envParentNS)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || parentNS == "" || ns == parentNS {
		t.Fatalf("not in a private mount namespace (mine %q, parent's %q, %v); refusing to run", ns, parentNS, err)
	}
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range infos {
		for _, o := range mi.OptionalFields {
			if strings.HasPrefix(o, "shared:") {
				t.Fatalf("mount %s still propagates (%s); refusing to run", mi.MountPoint, o)
			}
		}
	}
	scratch, err := os.MkdirTemp("", "openblock-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	// The directory itself is on the host's /tmp; everything in it is on
	// the tmpfs, which vanishes with the namespace.
	t.Cleanup(func() { _ = os.Remove(scratch) })
	if err := unix.Mount("hostile", scratch, "tmpfs", 0, "mode=0755,size=4g"); err != nil {
		t.Fatalf("tmpfs on %s: %v", scratch, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(scratch, unix.MNT_DETACH) })
	sb := &sandbox{scratch: scratch, kubelet: filepath.Join(scratch, "kubelet"), outside: filepath.Join(scratch, "outside"), uppers: map[string]string{}}
	for i, dir := range guarded {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		ov := filepath.Join(scratch, "overlay", fmt.Sprint(i))
		upper, work := filepath.Join(ov, "upper"), filepath.Join(ov, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir, upper, work)
		if err := unix.Mount("overlay", dir, "overlay", 0, opts); err != nil {
			t.Fatalf("overlay on %s: %v", dir, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
		sb.uppers[dir] = upper
	}
	sb.makeDecoys(t)
	return sb
}

// makeDecoys lays out what must survive: a tree outside the kubelet
// directory, symlinks into it from inside, and kubelet-owned content
// inside that the driver did not make.
func (sb *sandbox) makeDecoys(t *testing.T) {
	t.Helper()
	files := map[string]string{
		filepath.Join(sb.outside, "file"):                    "outside file\n",
		filepath.Join(sb.outside, "dir", "nested"):           "outside nested\n",
		filepath.Join(sb.kubelet, "pods", "p2", "data", "f"): "kubelet's file\n",
		filepath.Join(sb.kubelet, "pods", "p2", "file"):      "kubelet's other file\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(sb.outside, "empty"), filepath.Join(sb.kubelet, "pods", "p2", "empty")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(sb.kubelet, "pods", "evil"):     sb.outside,
		filepath.Join(sb.kubelet, "pods", "evilfile"): filepath.Join(sb.outside, "file"),
		filepath.Join(sb.kubelet, "pods", "dotdot"):   "../../outside",
		filepath.Join(sb.kubelet, "pods", "etc"):      "/etc",
		filepath.Join(sb.kubelet, "pods", "root"):     "/",
		filepath.Join(sb.kubelet, "pods", "dangling"): filepath.Join(sb.outside, "missing", "leaf"),
		filepath.Join(sb.kubelet, "pods", "loop"):     "loop",
	}
	for p, to := range links {
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
	}
}

// fingerprint is everything that must not change: checksums of the
// guarded trees, the decoys and kubelet-owned content, and what the
// overlays' upper directories hold.
func (sb *sandbox) fingerprint(t *testing.T) map[string]string {
	t.Helper()
	fp := map[string]string{}
	for _, root := range append(slices.Clone(guarded), sb.outside, filepath.Join(sb.kubelet, "pods", "p2")) {
		if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := treeSums(root, fp); err != nil {
			t.Fatalf("checksums of %s: %v", root, err)
		}
	}
	for dir, upper := range sb.uppers {
		entries, err := os.ReadDir(upper)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fp["upper "+dir+"/"+e.Name()] = "changed"
		}
	}
	return fp
}

// treeSums records every entry under root: mode, and content checksum or
// link target. Symlinks are not followed.
func treeSums(root string, out map[string]string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				out[p] = "unreadable"
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			sum += " -> " + to
		case fi.Mode().IsRegular():
			h, err := fileSum(p)
			if err != nil {
				return err
			}
			sum += " " + h
		}
		out[p] = sum
		return nil
	})
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// diffFingerprints lists what differs.
func diffFingerprints(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			d = append(d, "removed: "+k)
		} else if w != v {
			d = append(d, fmt.Sprintf("changed: %s (%s -> %s)", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "added: "+k)
		}
	}
	sort.Strings(d)
	return d
}

// mountTable is the namespace's mount table as comparable lines, keyed by
// line, valued by mount point.
func mountTable(t *testing.T) map[string]string {
	t.Helper()
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, mi := range infos {
		mp := mountpath.Unescape(mi.MountPoint)
		out[fmt.Sprintf("%s %s %s %s %s", mp, mi.Source, mi.Root, mi.FsType, strings.Join(mi.MountOptions, ","))] = mp
	}
	return out
}

// diffMounts lists mounts gone and new. A mount another test on the host
// made under the temporary directory goes away in this namespace too when
// that test removes its mount point (the kernel detaches mounts on a
// removed directory in every namespace); those are not the driver's doing.
func (sb *sandbox) diffMounts(before, after map[string]string) []string {
	var d []string
	tmp := filepath.Clean(os.TempDir()) + "/"
	for l, mp := range before {
		if _, ok := after[l]; ok {
			continue
		}
		if strings.HasPrefix(mp, tmp) && !strings.HasPrefix(mp, sb.scratch+"/") && mp != sb.scratch {
			if _, err := os.Lstat(mp); errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
		d = append(d, "gone: "+l)
	}
	for l := range after {
		if _, ok := before[l]; !ok {
			d = append(d, "new: "+l)
		}
	}
	sort.Strings(d)
	return d
}

// writeBlock tries to write one block through a raw block publish.
func writeBlock(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 4096), 0); err != nil {
		return err
	}
	return f.Sync()
}

// deviceReadOnly reads the block device's read-only flag.
func deviceReadOnly(dev string) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ro, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET)
	return ro != 0, err
}

// devOf is the device the simulator attached for v (its by-id link).
func (sb *sandbox) devOf(t *testing.T, v *vol) string {
	t.Helper()
	dev, err := filepath.EvalSymlinks(filepath.Join(sb.scratch, "by-id", "virtio-"+v.serial()))
	if err != nil {
		t.Fatalf("device of %s: %v", v.id, err)
	}
	return dev
}
