package soak

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const mib = 1 << 20

// pattern is a pseudo-random file content, reproducible from its seed.
type pattern struct {
	seed uint64
	size int
}

func newPattern(rnd *rand.Rand) pattern {
	return pattern{seed: rnd.Uint64(), size: (2 + rnd.IntN(5)) * mib}
}

func (p pattern) bytes() []byte {
	var key [32]byte
	for i := 0; i < 8; i++ {
		key[i] = byte(p.seed >> (8 * i))
	}
	b := make([]byte, p.size)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

const patternFile = "soak-pattern.bin"

// write puts the pattern on the filesystem mounted at dir and flushes it
// to the device: fsync for the file, syncfs for the journal and metadata,
// as a freeze before a snapshot would.
func (p pattern) write(dir string) error {
	f, err := os.Create(filepath.Join(dir, patternFile))
	if err != nil {
		return err
	}
	if _, err := f.Write(p.bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errData marks a pattern that did not come back as written.
var errData = errors.New("data error")

// check reads the pattern back from dir and compares checksums.
func (p pattern) check(dir string) error {
	got, err := os.ReadFile(filepath.Join(dir, patternFile))
	if err != nil {
		return fmt.Errorf("%w: reading the pattern back: %v", errData, err)
	}
	want := p.bytes()
	if sha256.Sum256(got) == sha256.Sum256(want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("%w: pattern is %d bytes, wrote %d", errData, len(got), len(want))
	}
	off := 0
	for off < len(got) && got[off] == want[off] {
		off++
	}
	return fmt.Errorf("%w: pattern differs from byte %d on (sha256 %x, wrote %x)", errData, off, sha256.Sum256(got), sha256.Sum256(want))
}

// fsBytes is the size of the filesystem mounted at dir.
func fsBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * st.Bsize, nil
}

// canGrowMountedFS reports whether this process may grow a mounted ext4
// filesystem: the kernel asks for CAP_SYS_RESOURCE (bit 24), which some
// containers drop even for root.
func canGrowMountedFS() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &caps); err != nil {
				return false
			}
			return caps&(1<<24) != 0
		}
	}
	return false
}
