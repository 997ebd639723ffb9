package hygiene

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unmountUnder lazily unmounts whatever a failed run left mounted below
// dir, deepest first, so the loop devices and the directory can go.
func unmountUnder(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err == nil {
			t.Logf("unmounted %s, left mounted by the run", m)
		}
	}
}
