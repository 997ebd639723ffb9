package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRootsResolve(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "kubelet")
	outside := filepath.Join(base, "etc")
	for _, d := range []string{filepath.Join(root, "pods"), outside, filepath.Join(root, "plugins", "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(outside, filepath.Join(root, "pods", "escape")))
	must(os.Symlink(filepath.Join(root, "pods"), filepath.Join(base, "into")))
	must(os.Symlink("/nonexistent/dangling", filepath.Join(root, "pods", "dangling")))
	must(os.Symlink("../..", filepath.Join(root, "pods", "up")))
	r, err := NewRoots([]string{root}, []string{filepath.Join(root, "plugins", "state")})
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{
		filepath.Join(root, "pods", "a"):           filepath.Join(root, "pods", "a"),
		filepath.Join(root, "pods", "new", "leaf"): filepath.Join(root, "pods", "new", "leaf"),
		filepath.Join(base, "into", "x"):           filepath.Join(root, "pods", "x"),
		filepath.Join(root, "pods") + "//b/./c":    filepath.Join(root, "pods", "b", "c"),
	}
	for in, want := range ok {
		got, err := r.Resolve(in)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"/", "/etc/passwd", root, root + "/", filepath.Join(root, "..", "etc"),
		filepath.Join(root, "pods", "escape"), filepath.Join(root, "pods", "escape", "passwd"),
		filepath.Join(root, "pods", "dangling"), filepath.Join(root, "pods", "up", "etc"),
		filepath.Join(root, "plugins", "state"), filepath.Join(root, "plugins", "state", "x"),
		"relative/path", "", filepath.Join(root, "pods", "a\x00b"), root + "x/y",
	} {
		if got, err := r.Resolve(in); !errors.Is(err, ErrOutsideRoots) {
			t.Errorf("Resolve(%q) = %q, %v; want ErrOutsideRoots", in, got, err)
		}
	}
	if _, err := NewRoots([]string{"/"}, nil); err == nil {
		t.Error("NewRoots accepted /")
	}
}
