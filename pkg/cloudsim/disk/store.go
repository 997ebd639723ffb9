// Package disk keeps the simulator's volumes as sparse image files and, when
// the process runs as root, exposes attached volumes as real loop devices
// behind a virtio-<serial> link, the way a KVM guest sees a Cinder volume in
// /dev/disk/by-id.
package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"k8s.io/klog/v2"
)

// Kinds of image the store keeps, one directory each.
const (
	KindVolumes   = "volumes"
	KindSnapshots = "snapshots"
	KindBackups   = "backups"
)

// SerialLen is how many characters of the serial the hypervisor exposes
// (virtio-blk serials are 20 bytes).
const SerialLen = 20

// Local describes how an attached volume is visible on this machine.
type Local struct {
	// Device is the block device (/dev/loopN), or the image file when Loop is false.
	Device string
	// Link is the by-id symlink pointing at Device.
	Link string
	// Loop is true when Device is a real loop device.
	Loop bool
	// Hosted is true when the volume is plugged into the store's Host
	// (a guest) under Serial; Device and Link are then empty.
	Hosted bool
	Serial string
}

// Store keeps each volume as a sparse file <dir>/volumes/<id>.img and copies
// (snapshots/backups) as <dir>/<kind>/<id>.img.
type Store struct {
	dir     string
	byIDDir string
	useLoop bool
	host    Host // when set, attached volumes are plugged into it

	mu       sync.Mutex
	attached map[string]Local // volume id -> local view
}

// NewStore opens (creating if needed) a store under stateDir whose links go
// into byIDDir. Loop devices are used when running as root with a loop
// driver present. Loop devices and links left behind by an earlier process on
// this store's files are adopted, so Attach reuses them and Close removes them.
func NewStore(stateDir, byIDDir string) (*Store, error) {
	if stateDir == "" {
		return nil, errors.New("disk: state dir is required")
	}
	if byIDDir == "" {
		byIDDir = filepath.Join(stateDir, "by-id")
	}
	for _, d := range []string{KindVolumes, KindSnapshots, KindBackups} {
		if err := os.MkdirAll(filepath.Join(stateDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("disk: %w", err)
		}
	}
	if err := os.MkdirAll(byIDDir, 0o755); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	absByID, err := filepath.Abs(byIDDir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: abs, byIDDir: absByID, attached: map[string]Local{}, useLoop: loopAvailable()}
	if !s.useLoop {
		klog.V(2).InfoS("disk: no loop devices (needs root and /dev/loop-control); attached volumes are links to image files")
	}
	s.adopt()
	return s, nil
}

// Loop reports whether Attach creates real loop devices.
func (s *Store) Loop() bool { return s.useLoop }

// ByIDDir is where the virtio-<serial> links are created.
func (s *Store) ByIDDir() string { return s.byIDDir }

// Path is the image file of kind/id.
func (s *Store) Path(kind, id string) string {
	return filepath.Join(s.dir, kind, id+".img")
}

// LinkPath is the by-id link for a serial.
func (s *Store) LinkPath(serial string) string {
	if len(serial) > SerialLen {
		serial = serial[:SerialLen]
	}
	return filepath.Join(s.byIDDir, "virtio-"+serial)
}

func validKind(kind string) error {
	switch kind {
	case KindVolumes, KindSnapshots, KindBackups:
		return nil
	}
	return fmt.Errorf("disk: unknown kind %q", kind)
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return fmt.Errorf("disk: invalid id %q", id)
	}
	return nil
}

// Create makes a sparse image of sizeBytes.
func (s *Store) Create(kind, id string, sizeBytes int64) error {
	if err := validKind(kind); err != nil {
		return err
	}
	if err := validID(id); err != nil {
		return err
	}
	f, err := os.OpenFile(s.Path(kind, id), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disk: create: %w", err)
	}
	if err := f.Truncate(sizeBytes); err != nil {
		f.Close()
		return fmt.Errorf("disk: create: %w", err)
	}
	return f.Close()
}

// Copy copies srcKind/srcID to dstKind/dstID keeping holes, then grows the
// copy to sizeBytes (a copy is never shrunk).
func (s *Store) Copy(srcKind, srcID, dstKind, dstID string, sizeBytes int64) error {
	for _, k := range []string{srcKind, dstKind} {
		if err := validKind(k); err != nil {
			return err
		}
	}
	for _, id := range []string{srcID, dstID} {
		if err := validID(id); err != nil {
			return err
		}
	}
	src, err := os.Open(s.Path(srcKind, srcID))
	if err != nil {
		return fmt.Errorf("disk: copy: %w", err)
	}
	defer src.Close()
	tmp := s.Path(dstKind, dstID) + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disk: copy: %w", err)
	}
	n, err := sparseCopy(dst, src)
	if err == nil && sizeBytes < n {
		sizeBytes = n
	}
	if err == nil {
		err = dst.Truncate(sizeBytes)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.Path(dstKind, dstID))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("disk: copy: %w", err)
	}
	return nil
}

// Resize sets the image's size. Growing keeps the data; the caller refreshes
// an attached loop device with Refresh.
func (s *Store) Resize(kind, id string, sizeBytes int64) error {
	if err := validKind(kind); err != nil {
		return err
	}
	if err := os.Truncate(s.Path(kind, id), sizeBytes); err != nil {
		return fmt.Errorf("disk: resize: %w", err)
	}
	return nil
}

// Size is the image's current size in bytes.
func (s *Store) Size(kind, id string) (int64, error) {
	fi, err := os.Stat(s.Path(kind, id))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Exists reports whether the image exists.
func (s *Store) Exists(kind, id string) bool {
	_, err := os.Stat(s.Path(kind, id))
	return err == nil
}

// Delete removes the image; a missing image is not an error. An attached
// volume is detached first so no loop device keeps a deleted file alive.
func (s *Store) Delete(kind, id string) error {
	if err := validKind(kind); err != nil {
		return err
	}
	if kind == KindVolumes {
		s.mu.Lock()
		l, ok := s.attached[id]
		s.mu.Unlock()
		if ok {
			if err := s.detachLocal(id, l); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(s.Path(kind, id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("disk: delete: %w", err)
	}
	return nil
}

// List returns the ids of all images of a kind.
func (s *Store) List(kind string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, kind))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".img") {
			ids = append(ids, strings.TrimSuffix(n, ".img"))
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// sparseCopy copies src into dst (both at offset 0) writing only data
// regions: it walks SEEK_DATA/SEEK_HOLE and also skips zero blocks inside
// data regions. It returns the source size.
func sparseCopy(dst, src *os.File) (int64, error) {
	fi, err := src.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, 1<<20)
	var off int64
	for off < size {
		start, err := src.Seek(off, seekData)
		if err != nil {
			// ENXIO: no data after off. Other errors (no SEEK_DATA support):
			// fall back to treating everything as data.
			if isENXIO(err) {
				break
			}
			start = off
		}
		end, err := src.Seek(start, seekHole)
		if err != nil || end > size {
			end = size
		}
		for p := start; p < end; {
			n := int64(len(buf))
			if end-p < n {
				n = end - p
			}
			m, err := src.ReadAt(buf[:n], p)
			if err != nil && !(errors.Is(err, io.EOF) && m > 0) {
				return 0, err
			}
			if !allZero(buf[:m]) {
				if _, err := dst.WriteAt(buf[:m], p); err != nil {
					return 0, err
				}
			}
			p += int64(m)
		}
		off = end
	}
	return size, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
