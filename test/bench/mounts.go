package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
)

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := mountpath.Unescape(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unmountUnder unmounts whatever is left below dir (after a failure or an
// interrupt), lazily if a plain unmount is refused.
func unmountUnder(dir string) {
	for _, mp := range mountsUnder(dir) {
		if out, err := exec.Command("umount", mp).CombinedOutput(); err != nil {
			if out2, err2 := exec.Command("umount", "-l", mp).CombinedOutput(); err2 != nil {
				fmt.Fprintf(os.Stderr, "bench: cannot unmount %s: %v %s / %v %s\n", mp, err, out, err2, out2)
			}
		}
	}
}
