package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutsideRoots: a path is not under any of the directories the node
// service may act in, or reaches outside them through a symlink.
var ErrOutsideRoots = errors.New("path outside the node's directories")

// Roots are the directories node RPCs may act under (the kubelet's). Every
// staging and target path is resolved, symlinks included, and must lie
// strictly inside one of them; Exclude names directories inside a root
// that are still off limits (the driver's own state).
type Roots struct {
	dirs    []string
	exclude []string
}

// NewRoots resolves dirs (each must be absolute; it need not exist yet)
// and exclude.
func NewRoots(dirs, exclude []string) (Roots, error) {
	var r Roots
	if len(dirs) == 0 {
		return r, errors.New("no node directories configured")
	}
	for _, d := range dirs {
		p, err := ResolvePath(d)
		if err != nil {
			return r, fmt.Errorf("node directory %q: %w", d, err)
		}
		if p == "/" {
			return r, fmt.Errorf("node directory %q: / cannot be a node directory", d)
		}
		r.dirs = append(r.dirs, p)
	}
	for _, d := range exclude {
		p, err := ResolvePath(d)
		if err != nil {
			return r, fmt.Errorf("excluded directory %q: %w", d, err)
		}
		r.exclude = append(r.exclude, p)
	}
	return r, nil
}

// Dirs returns the resolved roots.
func (r Roots) Dirs() []string { return r.dirs }

// Resolve returns the symlink-free form of p if it lies strictly inside a
// root and not inside an excluded directory, else an error wrapping
// ErrOutsideRoots. It reads the file system but changes nothing.
func (r Roots) Resolve(p string) (string, error) {
	res, err := ResolvePath(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrOutsideRoots, err)
	}
	for _, x := range r.exclude {
		if within(res, x) || res == x {
			return "", fmt.Errorf("%w: %s is inside %s, which is not for volumes", ErrOutsideRoots, p, x)
		}
	}
	for _, d := range r.dirs {
		if within(res, d) {
			return res, nil
		}
	}
	if res != filepath.Clean(p) {
		return "", fmt.Errorf("%w: %s resolves to %s, which is not under %s", ErrOutsideRoots, p, res, strings.Join(r.dirs, ", "))
	}
	return "", fmt.Errorf("%w: %s is not under %s", ErrOutsideRoots, p, strings.Join(r.dirs, ", "))
}

// within reports whether p is strictly below dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// ResolvePath makes p absolute and symlink-free. The nearest existing
// ancestor is resolved with EvalSymlinks and the rest, which does not exist
// yet, appended; a dangling symlink on the way is an error, since what it
// would create cannot be known in advance.
func ResolvePath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case strings.ContainsRune(p, 0):
		return "", errors.New("path contains a NUL byte")
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("%q is not absolute", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("%q contains \"..\"", p)
		}
	}
	p = filepath.Clean(p)
	existing, rest := p, ""
	for {
		_, err := os.Lstat(existing)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	res, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", existing, err)
	}
	if !filepath.IsAbs(res) {
		return "", fmt.Errorf("%s resolves to a relative path", existing)
	}
	return filepath.Join(res, rest), nil
}
