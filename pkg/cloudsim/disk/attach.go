package disk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/klog/v2"
)

const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

func isENXIO(err error) bool { return errors.Is(err, syscall.ENXIO) }

func loopAvailable() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return false
	}
	_, err := exec.LookPath("losetup")
	return err == nil
}

// Attach makes the volume visible as a local disk: as root a loop device and
// a link <byIDDir>/virtio-<serial[:20]> -> /dev/loopN; without root the link
// points at the image file and the returned Local has Loop=false. Attaching
// an attached volume returns the existing view.
func (s *Store) Attach(id, serial string) (Local, error) {
	if err := validID(id); err != nil {
		return Local{}, err
	}
	if serial == "" {
		serial = id
	}
	img := s.Path(KindVolumes, id)
	if _, err := os.Stat(img); err != nil {
		return Local{}, fmt.Errorf("disk: attach %s: %w", id, err)
	}
	s.mu.Lock()
	if s.host != nil {
		s.mu.Unlock()
		return s.hostAttach(id, serial, img)
	}
	defer s.mu.Unlock()
	l, ok := s.attached[id]
	if !ok {
		l = Local{Device: img, Link: s.LinkPath(serial)}
		if s.useLoop {
			dev, err := losetup("--find", "--show", img)
			if err != nil {
				return Local{}, fmt.Errorf("disk: attach %s: %w", id, err)
			}
			l.Device, l.Loop = dev, true
		}
	}
	l.Link = s.LinkPath(serial)
	if err := replaceLink(l.Device, l.Link); err != nil {
		if l.Loop && !ok {
			_, _ = losetup("-d", l.Device)
		}
		return Local{}, fmt.Errorf("disk: attach %s: %w", id, err)
	}
	s.attached[id] = l
	if l.Loop {
		klog.V(2).InfoS("disk: attached", "volume", id, "device", l.Device, "link", l.Link)
	} else {
		klog.V(2).InfoS("disk: attached without a loop device (not root): link points at the image file", "volume", id, "link", l.Link)
	}
	return l, nil
}

// Detach removes the link and the loop device. Detaching a volume that is not
// attached is not an error.
func (s *Store) Detach(id, serial string) error {
	s.mu.Lock()
	l, ok := s.attached[id]
	s.mu.Unlock()
	if !ok {
		// Not ours (any more); still remove a link that points at our image.
		if serial == "" {
			serial = id
		}
		link := s.LinkPath(serial)
		if t, err := os.Readlink(link); err == nil && t == s.Path(KindVolumes, id) {
			_ = os.Remove(link)
		}
		return nil
	}
	return s.detachLocal(id, l)
}

func (s *Store) detachLocal(id string, l Local) error {
	if l.Hosted {
		return s.hostDetach(id, l)
	}
	if t, err := os.Readlink(l.Link); err == nil && t == l.Device {
		if err := os.Remove(l.Link); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("disk: detach %s: %w", id, err)
		}
	}
	if l.Loop {
		if _, err := losetup("-d", l.Device); err != nil && loopBackFile(l.Device) != "" {
			return fmt.Errorf("disk: detach %s: %w", id, err)
		}
	}
	s.mu.Lock()
	delete(s.attached, id)
	s.mu.Unlock()
	klog.V(2).InfoS("disk: detached", "volume", id, "device", l.Device)
	return nil
}

// Refresh makes an attached loop device see its image's new size (after Resize).
func (s *Store) Refresh(id string) error {
	s.mu.Lock()
	l, ok := s.attached[id]
	s.mu.Unlock()
	if ok && l.Hosted {
		return s.hostRefresh(id, l)
	}
	if !ok || !l.Loop {
		return nil
	}
	if _, err := losetup("-c", l.Device); err != nil {
		return fmt.Errorf("disk: refresh %s: %w", id, err)
	}
	return nil
}

// Attached returns the local view of every attached volume, by volume id.
func (s *Store) Attached() map[string]Local {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Local, len(s.attached))
	for k, v := range s.attached {
		out[k] = v
	}
	return out
}

// Close detaches every loop device and link this store holds.
func (s *Store) Close() error {
	var errs []error
	for id, l := range s.Attached() {
		if err := s.detachLocal(id, l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// adopt finds loop devices and links left on this store's volume images by
// an earlier process, so they are reused by Attach and removed by Close.
func (s *Store) adopt() {
	volDir := filepath.Join(s.dir, KindVolumes) + string(filepath.Separator)
	loops := map[string]string{} // image -> loop device
	if s.useLoop {
		for dev, file := range listLoops() {
			if strings.HasPrefix(file, volDir) {
				if strings.HasSuffix(file, " (deleted)") {
					// Image is gone: the loop device is pure garbage.
					_, _ = losetup("-d", dev)
					continue
				}
				loops[file] = dev
			}
		}
	}
	ents, _ := os.ReadDir(s.byIDDir)
	for _, e := range ents {
		link := filepath.Join(s.byIDDir, e.Name())
		target, err := os.Readlink(link)
		if err != nil || !strings.HasPrefix(e.Name(), "virtio-") {
			continue
		}
		img := target
		if strings.HasPrefix(target, "/dev/loop") {
			img = loopBackFile(target)
		}
		if !strings.HasPrefix(img, volDir) {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(img), ".img")
		if _, err := os.Stat(img); err != nil {
			_ = os.Remove(link) // dangling
			continue
		}
		l := Local{Device: target, Link: link, Loop: strings.HasPrefix(target, "/dev/loop")}
		s.attached[id] = l
		delete(loops, img)
		klog.V(2).InfoS("disk: adopted attachment from an earlier run", "volume", id, "device", target)
	}
	// Loop devices without a link: adopt without a link so Attach reuses them.
	for img, dev := range loops {
		id := strings.TrimSuffix(filepath.Base(img), ".img")
		s.attached[id] = Local{Device: dev, Link: "", Loop: true}
	}
}

func replaceLink(target, link string) error {
	if t, err := os.Readlink(link); err == nil && t == target {
		return nil
	}
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func losetup(args ...string) (string, error) {
	out, err := exec.Command("losetup", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// listLoops returns loop device -> backing file for all configured loops.
func listLoops() map[string]string {
	out, err := exec.Command("losetup", "-J", "-l").Output()
	if err != nil {
		return nil
	}
	var doc struct {
		Loopdevices []struct {
			Name     string `json:"name"`
			BackFile string `json:"back-file"`
		} `json:"loopdevices"`
	}
	if json.Unmarshal(out, &doc) != nil {
		return nil
	}
	m := map[string]string{}
	for _, d := range doc.Loopdevices {
		m[d.Name] = d.BackFile
	}
	return m
}

// loopBackFile is the backing file of a loop device, "" if it is unused.
func loopBackFile(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func statImage(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
