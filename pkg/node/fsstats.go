package node

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FSStats implements Ops with statfs(2). Used bytes count everything not
// free (metadata included), as df does.
func (h *Host) FSStats(path string) (FSStats, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return FSStats{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	// Block counts are in fragment-size units (f_frsize).
	bs := int64(s.Frsize)
	if bs == 0 {
		bs = int64(s.Bsize)
	}
	st := FSStats{
		TotalBytes:     int64(s.Blocks) * bs,
		AvailableBytes: int64(s.Bavail) * bs,
		UsedBytes:      int64(s.Blocks-s.Bfree) * bs,
		TotalInodes:    int64(s.Files),
		FreeInodes:     int64(s.Ffree),
	}
	st.UsedInodes = st.TotalInodes - st.FreeInodes
	return st, nil
}
