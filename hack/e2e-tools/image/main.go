// Command image writes a docker-archive tarball (what `ctr images import`
// reads) holding one layer made of files taken from this machine.
//
//	image -tag localhost/e2e/busybox:1.37.0-1 -o busybox.tar \
//	    -file /bin/busybox=/bin/busybox -link /bin/sh=busybox -entrypoint /bin/sh
//
// Files keep their mode; directories are created as needed (0755), and
// -dir adds an empty one with its own mode (for example /tmp=1777).
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var (
		tag, out, user, workdir string
		files, links, dirs      multi
		entrypoint, cmd, env    multi
	)
	flag.StringVar(&tag, "tag", "", "image reference, e.g. localhost/e2e/pause:3.10.1")
	flag.StringVar(&out, "o", "", "output tarball")
	flag.StringVar(&user, "user", "", "user the image runs as")
	flag.StringVar(&workdir, "workdir", "", "working directory")
	flag.Var(&files, "file", "HOST[=IMAGE]: copy a host file (IMAGE defaults to HOST)")
	flag.Var(&links, "link", "PATH=TARGET: a symbolic link")
	flag.Var(&dirs, "dir", "PATH[=MODE]: an empty directory (octal mode, default 0755)")
	flag.Var(&entrypoint, "entrypoint", "entrypoint word (repeatable)")
	flag.Var(&cmd, "cmd", "cmd word (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE (repeatable)")
	flag.Parse()
	if tag == "" || out == "" {
		fmt.Fprintln(os.Stderr, "image: -tag and -o are required")
		os.Exit(2)
	}
	if err := build(tag, out, files, links, dirs, v1.Config{
		Entrypoint: entrypoint, Cmd: cmd, Env: env, User: user, WorkingDir: workdir,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(tag, out string, files, links, dirs []string, cfg v1.Config) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	layerTar, err := layer(files, links, dirs)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return err
	}
	if len(cfg.Env) == 0 {
		cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

// entry is one tar member; directories are implied by the paths.
type entry struct {
	hdr  tar.Header
	data []byte
}

func layer(files, links, dirs []string) ([]byte, error) {
	entries := map[string]entry{}
	for _, f := range files {
		host, img, _ := strings.Cut(f, "=")
		if img == "" {
			img = host
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(host)
		if err != nil {
			return nil, err
		}
		p := clean(img)
		entries[p] = entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: int64(st.Mode().Perm()), Size: int64(len(data))}, data: data}
	}
	for _, l := range links {
		p, target, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("-link %q: want PATH=TARGET", l)
		}
		p = clean(p)
		if _, exists := entries[p]; exists {
			continue // a real file wins over a convenience link
		}
		entries[p] = entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, Mode: 0o777}}
	}
	for _, d := range dirs {
		p, m, _ := strings.Cut(d, "=")
		mode := int64(0o755)
		if m != "" {
			v, err := strconv.ParseInt(m, 8, 32)
			if err != nil {
				return nil, fmt.Errorf("-dir %q: %v", d, err)
			}
			mode = v
		}
		p = clean(p)
		entries[p] = entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode}}
	}
	// Parent directories first, then everything in path order.
	for p := range entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := entries[p]
		e.hdr.ModTime = time.Unix(0, 0)
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// clean makes an image path relative, as tar members are.
func clean(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
