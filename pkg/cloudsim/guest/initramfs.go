package guest

import (
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// File is a file the run adds to the guest's root, as a second initramfs
// archive after the cached one (the kernel unpacks both in order).
type File struct {
	Path string // absolute, in the guest
	Mode uint32 // permission bits
	Data []byte
}

// writeOverlay writes files as a gzip-compressed newc cpio archive, with
// the directories they need.
func writeOverlay(w io.Writer, files []File) error {
	zw := gzip.NewWriter(w)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/" && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds) // parents first
	ino := 1
	for _, d := range ds {
		if err := cpioEntry(zw, ino, d, 0o040755, nil); err != nil {
			return err
		}
		ino++
	}
	for _, f := range files {
		if err := cpioEntry(zw, ino, f.Path, 0o100000|f.Mode, f.Data); err != nil {
			return err
		}
		ino++
	}
	if err := cpioEntry(zw, 0, "TRAILER!!!", 0, nil); err != nil {
		return err
	}
	return zw.Close()
}

func cpioEntry(w io.Writer, ino int, name string, mode uint32, data []byte) error {
	name = strings.TrimPrefix(name, "/")
	nlink := 1
	if mode&0o040000 != 0 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, data...)
	buf = pad4(buf)
	_, err := w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
