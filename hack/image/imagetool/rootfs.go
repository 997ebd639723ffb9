package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// rootfsCmd copies named programs out of a sysroot (Debian packages
// unpacked with dpkg-deb -x, of any architecture) into an image root,
// together with everything they load: the ELF interpreter, the DT_NEEDED
// libraries (recursively) and the interpreter of a script. Nothing is run,
// so a foreign architecture's sysroot works as well as the host's.
//
// The image root is laid out merged-/usr, as Debian bookworm systems are:
// /bin, /sbin, /lib and /lib64 are links into /usr.
func rootfsCmd(args []string) error {
	f := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	sysroot := f.String("sysroot", "", "the unpacked packages")
	out := f.String("out", "", "the image root to fill")
	toolsFile := f.String("tools", "", "file naming one program a line (# comments)")
	var files multi
	f.Var(&files, "file", "a data file to copy as it is (repeatable), e.g. /etc/mke2fs.conf")
	if err := f.Parse(args); err != nil {
		return err
	}
	if *sysroot == "" || *out == "" || *toolsFile == "" {
		return errors.New("rootfs: -sysroot, -out and -tools are required")
	}
	tools, err := readList(*toolsFile)
	if err != nil {
		return err
	}
	c := &collector{sysroot: *sysroot, out: *out, done: map[string]bool{}}
	if err := c.mergedUsr(); err != nil {
		return err
	}
	for _, t := range tools {
		if err := c.tool(t); err != nil {
			return err
		}
	}
	for _, p := range files {
		if err := c.copyPath(p); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "rootfs: %d programs, %d files in %s\n", len(tools), len(c.done), *out)
	return nil
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func readList(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

type collector struct {
	sysroot, out string
	done         map[string]bool // image paths already written
}

// usrMerged maps a path to where a merged-/usr system keeps it.
func usrMerged(p string) string {
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return "/usr" + p
		}
	}
	return p
}

func (c *collector) mergedUsr() error {
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.MkdirAll(filepath.Join(c.out, "usr", d), 0o755); err != nil {
			return err
		}
		link := filepath.Join(c.out, d)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink("usr/"+d, link); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows p's symbolic links inside the sysroot, as a merged-/usr
// system would, and returns the canonical path of the file it names and
// every link passed on the way (as image paths).
func (c *collector) resolve(p string) (string, []string, error) {
	var links []string
	p = usrMerged(path.Clean(p))
	for i := 0; i < 40; i++ {
		host, fi, err := c.lstat(p)
		if err != nil {
			return "", nil, fmt.Errorf("%s: not in the unpacked packages (%w)", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, links, nil
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", nil, err
		}
		links = append(links, p)
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = usrMerged(path.Clean(target))
	}
	return "", nil, fmt.Errorf("%s: too many levels of symbolic links", p)
}

// lstat finds the merged-/usr path p in the sysroot, where a package may
// have put it under either spelling (/sbin/mke2fs for /usr/sbin/mke2fs).
func (c *collector) lstat(p string) (string, os.FileInfo, error) {
	cands := []string{p}
	if rest, ok := strings.CutPrefix(p, "/usr"); ok && usrMerged(rest) == p {
		cands = append(cands, rest)
	}
	var err error
	for _, cand := range cands {
		host := filepath.Join(c.sysroot, cand)
		fi, e := os.Lstat(host)
		if e == nil {
			return host, fi, nil
		}
		err = e
	}
	return "", nil, err
}

// hostPath is where the canonical image path p sits in the sysroot.
func (c *collector) hostPath(p string) string {
	host, _, err := c.lstat(p)
	if err != nil {
		return filepath.Join(c.sysroot, p)
	}
	return host
}

func (c *collector) tool(name string) error {
	if strings.Contains(name, "/") {
		return c.copyPath(name)
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if _, _, err := c.resolve(dir + "/" + name); err == nil {
			return c.copyPath(dir + "/" + name)
		}
	}
	return fmt.Errorf("program %s: in no bin or sbin directory of the unpacked packages: add its package to the recipe", name)
}

// copyPath copies p (and the links that lead to it) into the image root,
// then whatever it loads.
func (c *collector) copyPath(p string) error {
	real, links, err := c.resolve(p)
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := c.link(l, real); err != nil {
			return err
		}
	}
	if c.done[real] {
		return nil
	}
	c.done[real] = true
	if err := copyFile(c.hostPath(real), filepath.Join(c.out, real)); err != nil {
		return err
	}
	deps, err := c.loads(real)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if err := c.copyPath(d); err != nil {
			return fmt.Errorf("%s needs %s: %w", real, d, err)
		}
	}
	return nil
}

func (c *collector) link(name, target string) error {
	dst := filepath.Join(c.out, usrMerged(name))
	if c.done[usrMerged(name)] {
		return nil
	}
	c.done[usrMerged(name)] = true
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(path.Dir(usrMerged(name)), target)
	if err != nil {
		return err
	}
	os.Remove(dst)
	return os.Symlink(rel, dst)
}

// loads lists the files that the file at image path p needs to run: an
// ELF's interpreter and libraries, a script's interpreter.
func (c *collector) loads(p string) ([]string, error) {
	host := c.hostPath(p)
	head := make([]byte, 256)
	fh, err := os.Open(host)
	if err != nil {
		return nil, err
	}
	n, _ := io.ReadFull(fh, head)
	fh.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: empty #! line", p)
		}
		return fields[:1], nil
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return c.elfLoads(p, host)
	}
	return nil, nil
}

func (c *collector) elfLoads(p, host string) ([]string, error) {
	ef, err := elf.Open(host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer ef.Close()
	var out []string
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return nil, err
			}
			out = append(out, strings.TrimRight(string(b), "\x00"))
		}
	}
	needed, err := ef.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil, nil // static
	}
	dirs := libDirs(ef.Machine)
	for _, lib := range needed {
		found := ""
		for _, d := range dirs {
			if _, _, err := c.resolve(d + "/" + lib); err == nil {
				found = d + "/" + lib
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s needs %s, which no unpacked package has (looked in %s): add its package to the recipe",
				p, lib, strings.Join(dirs, " "))
		}
		out = append(out, found)
	}
	sort.Strings(out)
	return out, nil
}

// libDirs are the directories the dynamic loader searches on Debian for
// the machine's multiarch triplet.
func libDirs(m elf.Machine) []string {
	triplet := map[elf.Machine]string{
		elf.EM_X86_64:  "x86_64-linux-gnu",
		elf.EM_AARCH64: "aarch64-linux-gnu",
	}[m]
	return []string{"/usr/lib/" + triplet, "/usr/lib"}
}

func copyFile(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	outf, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(outf, in); err != nil {
		outf.Close()
		return err
	}
	if err := outf.Close(); err != nil {
		return err
	}
	// Keep setuid/setgid bits off: nothing in the image runs as another user.
	return os.Chmod(dst, fi.Mode().Perm())
}
