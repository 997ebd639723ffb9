package disk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := NewStore(filepath.Join(dir, "state"), filepath.Join(dir, "by-id"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestCreateIsSparseAndSized(t *testing.T) {
	s := newStore(t)
	const size = 1 << 30
	if err := s.Create(KindVolumes, "v1", size); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path(KindVolumes, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Fatalf("size %d, want %d", fi.Size(), size)
	}
	if a := allocated(t, s.Path(KindVolumes, "v1")); a > 1<<20 {
		t.Fatalf("1 GiB volume allocates %d bytes; want sparse", a)
	}
}

func TestCopyKeepsDataAndHolesAndGrows(t *testing.T) {
	s := newStore(t)
	const size = 64 << 20
	if err := s.Create(KindVolumes, "src", size); err != nil {
		t.Fatal(err)
	}
	head := []byte("hello from the start")
	tail := bytes.Repeat([]byte{0xab}, 4096)
	nodetest.WriteAt(t, s.Path(KindVolumes, "src"), 0, head)
	nodetest.WriteAt(t, s.Path(KindVolumes, "src"), size-4096, tail)

	if err := s.Copy(KindVolumes, "src", KindSnapshots, "snap", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(KindSnapshots, "snap", KindVolumes, "dst", 2*size); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.Path(KindSnapshots, "snap"), s.Path(KindVolumes, "dst")} {
		if got := nodetest.ReadAt(t, p, 0, len(head)); !bytes.Equal(got, head) {
			t.Fatalf("%s: head %q", p, got)
		}
		if got := nodetest.ReadAt(t, p, size-4096, 4096); !bytes.Equal(got, tail) {
			t.Fatalf("%s: tail differs", p)
		}
		if a := allocated(t, p); a > 4<<20 {
			t.Fatalf("%s allocates %d bytes; holes were not kept", p, a)
		}
	}
	if n, _ := s.Size(KindSnapshots, "snap"); n != size {
		t.Fatalf("snapshot size %d, want %d (never shrunk)", n, size)
	}
	if n, _ := s.Size(KindVolumes, "dst"); n != 2*size {
		t.Fatalf("grown copy size %d, want %d", n, 2*size)
	}
}

func TestResizeDeleteList(t *testing.T) {
	s := newStore(t)
	if err := s.Create(KindBackups, "b", 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(KindBackups, "b", 3<<20); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Size(KindBackups, "b"); n != 3<<20 {
		t.Fatalf("size %d", n)
	}
	ids, _ := s.List(KindBackups)
	if len(ids) != 1 || ids[0] != "b" {
		t.Fatalf("list %v", ids)
	}
	if err := s.Delete(KindBackups, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(KindBackups, "b"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if s.Exists(KindBackups, "b") {
		t.Fatal("still exists")
	}
	if err := s.Create("bogus", "x", 1); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if err := s.Create(KindVolumes, "../x", 1); err == nil {
		t.Fatal("path traversal accepted")
	}
}

func blockSize(t *testing.T, dev string) int64 {
	t.Helper()
	out, err := exec.Command("blockdev", "--getsize64", dev).Output()
	if err != nil {
		t.Fatalf("blockdev %s: %v", dev, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAttachWithoutLoopLinksTheFile(t *testing.T) {
	s := newStore(t)
	s.useLoop = false
	id := "0123456789abcdef0123456789abcdef"
	if err := s.Create(KindVolumes, id, 1<<20); err != nil {
		t.Fatal(err)
	}
	l, err := s.Attach(id, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Loop || l.Device != s.Path(KindVolumes, id) {
		t.Fatalf("local %+v", l)
	}
	if filepath.Base(l.Link) != "virtio-"+id[:20] {
		t.Fatalf("link %s", l.Link)
	}
	if tgt, _ := os.Readlink(l.Link); tgt != l.Device {
		t.Fatalf("link -> %q", tgt)
	}
	if err := s.Detach(id, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(l.Link); !os.IsNotExist(err) {
		t.Fatal("link not removed")
	}
	if err := s.Detach(id, id); err != nil {
		t.Fatalf("second detach: %v", err)
	}
}

func TestAttachLoopDevice(t *testing.T) {
	if !loopAvailable() {
		t.Skip("needs root, /dev/loop-control and losetup to create loop devices")
	}
	s := newStore(t)
	id := "fedcba98-7654-3210-fedc-ba9876543210"
	const size = 8 << 20
	if err := s.Create(KindVolumes, id, size); err != nil {
		t.Fatal(err)
	}
	l, err := s.Attach(id, id)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Loop || !strings.HasPrefix(l.Device, "/dev/loop") {
		t.Fatalf("local %+v", l)
	}
	if got := blockSize(t, l.Device); got != size {
		t.Fatalf("loop size %d, want %d", got, size)
	}
	resolved, err := filepath.EvalSymlinks(l.Link)
	if err != nil || resolved != l.Device {
		t.Fatalf("link resolves to %q (%v)", resolved, err)
	}
	// Data written through the device lands in the image.
	f, err := os.OpenFile(l.Device, os.O_WRONLY|os.O_SYNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("through the loop"), 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := nodetest.ReadAt(t, s.Path(KindVolumes, id), 4096, 16); string(got) != "through the loop" {
		t.Fatalf("image has %q", got)
	}
	// Grow and refresh.
	if err := s.Resize(KindVolumes, id, 2*size); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(id); err != nil {
		t.Fatal(err)
	}
	if got := blockSize(t, l.Device); got != 2*size {
		t.Fatalf("after refresh loop size %d, want %d", got, 2*size)
	}
	// A new store on the same dir adopts the attachment (restart).
	s2, err := NewStore(s.dir, s.byIDDir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s2.Attached()[id]; !ok || got.Device != l.Device {
		t.Fatalf("restart did not adopt the loop device: %+v", s2.Attached())
	}
	l2, err := s2.Attach(id, id)
	if err != nil || l2.Device != l.Device {
		t.Fatalf("re-attach after restart: %+v %v", l2, err)
	}
	if err := s2.Detach(id, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(l.Link); !os.IsNotExist(err) {
		t.Fatal("link not removed")
	}
	if bf := loopBackFile(l.Device); bf != "" {
		t.Fatalf("loop device still bound to %s", bf)
	}
	// The first store forgets it on Close without error.
	s.mu.Lock()
	delete(s.attached, id)
	s.mu.Unlock()
}

func TestCloseDetachesAll(t *testing.T) {
	if !loopAvailable() {
		t.Skip("needs root, /dev/loop-control and losetup to create loop devices")
	}
	s := newStore(t)
	var devs []string
	for _, id := range []string{"aaaaaaaa-1", "bbbbbbbb-2"} {
		if err := s.Create(KindVolumes, id, 1<<20); err != nil {
			t.Fatal(err)
		}
		l, err := s.Attach(id, id)
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, l.Device)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if bf := loopBackFile(d); bf != "" {
			t.Fatalf("%s still bound to %s after Close", d, bf)
		}
	}
	ents, _ := os.ReadDir(s.byIDDir)
	if len(ents) != 0 {
		t.Fatalf("links left: %v", ents)
	}
}
