package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The host is a Debian system too: its / serves as a sysroot.
func writeTools(t *testing.T, tools ...string) string {
	f := filepath.Join(t.TempDir(), "tools.txt")
	if err := os.WriteFile(f, []byte("# a comment\n"+strings.Join(tools, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRootfsCopiesProgramLinksAndLibraries(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mke2fs"); err != nil {
		t.Skip("needs e2fsprogs on this machine to serve as the sysroot")
	}
	out := filepath.Join(t.TempDir(), "root")
	if err := rootfsCmd([]string{"-sysroot", "/", "-out", out, "-tools", writeTools(t, "mkfs.ext4", "sh"), "-file", "/etc/mke2fs.conf"}); err != nil {
		t.Fatal(err)
	}
	// mkfs.ext4 is a link to mke2fs; sh to dash.
	for link, target := range map[string]string{"usr/sbin/mkfs.ext4": "mke2fs", "usr/bin/sh": "dash", "bin": "usr/bin"} {
		got, err := os.Readlink(filepath.Join(out, link))
		if err != nil || got != target {
			t.Errorf("/%s -> %q (%v), want -> %s", link, got, err, target)
		}
	}
	ldd, err := exec.Command("ldd", "/usr/sbin/mke2fs").Output()
	if err != nil {
		t.Skipf("ldd: %v", err)
	}
	for _, line := range strings.Split(string(ldd), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
			lib := filepath.Join(out, "usr", strings.TrimPrefix(strings.TrimPrefix(f[2], "/usr"), "/"))
			if _, err := os.Stat(lib); err != nil {
				t.Errorf("mke2fs needs %s, which is not in the root: %v", f[2], err)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "etc/mke2fs.conf")); err != nil || !strings.Contains(string(b), "ext4") {
		t.Errorf("/etc/mke2fs.conf not copied: %v", err)
	}
	if os.Geteuid() == 0 {
		if o, err := exec.Command("chroot", out, "mkfs.ext4", "-V").CombinedOutput(); err != nil {
			t.Errorf("mkfs.ext4 -V in the root: %v\n%s", err, o)
		}
	}
}

func TestRootfsNamesTheMissingLibrary(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mke2fs"); err != nil {
		t.Skip("needs e2fsprogs on this machine")
	}
	// A sysroot with the program but none of its libraries.
	sys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sys, "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile("/usr/sbin/mke2fs", filepath.Join(sys, "sbin/mke2fs")); err != nil {
		t.Fatal(err)
	}
	err := rootfsCmd([]string{"-sysroot", sys, "-out", filepath.Join(t.TempDir(), "root"), "-tools", writeTools(t, "mke2fs")})
	if err == nil || !strings.Contains(err.Error(), "libext2fs.so.2") || !strings.Contains(err.Error(), "add its package") {
		t.Errorf("err = %v, want one naming libext2fs.so.2", err)
	}
	err = rootfsCmd([]string{"-sysroot", sys, "-out", filepath.Join(t.TempDir(), "root"), "-tools", writeTools(t, "no-such-tool")})
	if err == nil || !strings.Contains(err.Error(), "no-such-tool") {
		t.Errorf("err = %v, want one naming no-such-tool", err)
	}
}
