// Package nodetest helps root tests of any package use real block devices:
// loop devices over sparse files, by-id links and mounts, all removed by
// t.Cleanup, also when the test fails.
package nodetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup/mkfs/mount")
	}
}

// sbinDirs hold mkfs, blkid, losetup and the like on Debian; a non-root
// user's default PATH does not include them.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// RequireTools skips the test, naming the first missing tool, unless all
// tools are on PATH. A tool that is installed in an sbin directory missing
// from PATH is named as such, not as not installed.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(missingTool(tool))
		}
	}
}

// missingTool says why tool, not found on PATH, is missing.
func missingTool(tool string) string {
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, tool)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return fmt.Sprintf("needs %s: installed as %s, but %s is not on $PATH (add it, as make test does)", tool, p, dir)
		}
	}
	return fmt.Sprintf("needs %s (not installed)", tool)
}

// HasCapability reports whether the process holds capability bit c (e.g.
// unix.CAP_SYS_RESOURCE) in its effective set; containers often drop some
// even for root.
func HasCapability(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && eff&(1<<uint(c)) != 0
		}
	}
	return false
}

// NewLoopDevice creates a sparse file of sizeBytes under t.TempDir() and
// attaches it to a free loop device. Cleanup detaches it (after any mount
// cleanups registered later, since cleanups run last-in first-out).
func NewLoopDevice(t testing.TB, sizeBytes int64) (dev, backingFile string) {
	t.Helper()
	RequireRoot(t)
	RequireTools(t, "losetup")
	backingFile = filepath.Join(t.TempDir(), "disk.img")
	f, err := os.OpenFile(backingFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("create backing file: %v", err)
	}
	if err := f.Truncate(sizeBytes); err != nil {
		f.Close()
		t.Fatalf("size backing file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close backing file: %v", err)
	}
	out := run(t, "losetup", "--find", "--show", backingFile)
	dev = strings.TrimSpace(out)
	if dev == "" {
		t.Fatalf("losetup printed no device for %s", backingFile)
	}
	t.Cleanup(func() { detachLoop(t, dev) })
	return dev, backingFile
}

// GrowLoopDevice enlarges the backing file to newSize and tells the loop
// driver to re-read its size (losetup -c), like a cloud volume expansion.
func GrowLoopDevice(t testing.TB, dev, backingFile string, newSize int64) {
	t.Helper()
	if err := os.Truncate(backingFile, newSize); err != nil {
		t.Fatalf("grow %s: %v", backingFile, err)
	}
	run(t, "losetup", "-c", dev)
}

// LinkByID creates dir/name -> target (e.g. virtio-<serial> -> /dev/loop3)
// and removes the link on cleanup.
func LinkByID(t testing.TB, dir, name, target string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink(target, link); err != nil {
		t.Fatalf("link %s -> %s: %v", link, target, err)
	}
	t.Cleanup(func() { _ = os.Remove(link) })
	return link
}

// CleanupMount registers a cleanup that unmounts every layer mounted at
// target (lazily if a plain unmount fails), so a failing test leaves no
// mount behind. Register it right after creating target and before mounting.
func CleanupMount(t testing.TB, target string) {
	t.Helper()
	t.Cleanup(func() {
		for range 8 {
			if !IsMounted(target) {
				return
			}
			if err := unix.Unmount(target, 0); err != nil {
				t.Logf("unmount %s: %v; detaching lazily", target, err)
				if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
					t.Errorf("lazy unmount %s: %v", target, err)
					return
				}
			}
		}
	})
}

// IsMounted reports whether path is a mount point in /proc/self/mountinfo.
func IsMounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && mountpath.Unescape(fields[4]) == path {
			return true
		}
	}
	return false
}

func detachLoop(t testing.TB, dev string) {
	// The kernel may still hold the device for a moment after an unmount.
	var out []byte
	var err error
	for range 10 {
		out, err = exec.Command("losetup", "-d", dev).CombinedOutput()
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("losetup -d %s: %v: %s", dev, err, bytes.TrimSpace(out))
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// UnmountUnder lazily unmounts whatever a failed run left mounted at or
// below dir, deepest first, so its loop devices and the directory can go.
func UnmountUnder(t testing.TB, dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 {
			mp := mountpath.Unescape(fields[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				mounts = append(mounts, mp)
			}
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", m, err)
		} else {
			t.Logf("unmounted %s, left mounted by the run", m)
		}
	}
}

// WriteAt writes data at off into path (a device or a file) and fsyncs
// it, so that a reader through another path (the loop device's backing
// file, a second mount) sees it.
func WriteAt(t testing.TB, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatalf("write %d bytes at %d to %s: %v", len(data), off, path, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", path, err)
	}
}

// ReadAt reads n bytes at off from path (a device or a file).
func ReadAt(t testing.TB, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %d bytes at %d from %s: %v", n, off, path, err)
	}
	return b
}
