package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// udevTriggerTimeout bounds one `udevadm trigger` run.
const udevTriggerTimeout = 5 * time.Second

// FindDevice implements Ops. It looks at the by-id links first, then at the
// serials the kernel reports in sysfs, polling until the device appears or
// the bound (FindTimeout or ctx) is reached. Nova's advisory /dev/vdX name is
// never consulted: it is often wrong when several disks attach at once.
func (h *Host) FindDevice(ctx context.Context, serial string, serialLen int) (string, error) {
	if err := checkSerial(serial); err != nil {
		return "", err
	}
	if serialLen <= 0 {
		serialLen = DefaultSerialLen
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, h.cfg.FindTimeout)
	defer cancel()

	start := time.Now()
	links := ByIDCandidates(serial, serialLen)
	ticker := time.NewTicker(h.cfg.PollInterval)
	defer ticker.Stop()
	var lastTrigger time.Time
	for {
		if dev, ok := h.findOnce(serial, serialLen, links); ok {
			klog.FromContext(ctx).V(4).Info("Found device", "serial", serial, "device", dev)
			return dev, nil
		}
		if h.cfg.UdevTriggerInterval > 0 && time.Since(lastTrigger) >= h.cfg.UdevTriggerInterval {
			lastTrigger = time.Now()
			h.triggerUdev(ctx)
		}
		select {
		case <-ctx.Done():
			waited := time.Since(start).Round(time.Millisecond)
			if err := parent.Err(); err != nil {
				return "", fmt.Errorf("%w: serial %q (gave up after %s): %w", ErrDeviceNotFound, serial, waited, err)
			}
			return "", fmt.Errorf("%w: no disk with serial %q in %s or %s after %s",
				ErrDeviceNotFound, serial, h.cfg.ByIDDir, h.cfg.SysBlockDir, waited)
		case <-ticker.C:
		}
	}
}

// ByIDCandidates lists the by-id link names a disk with this serial may
// have, most likely first: virtio truncates the serial (to serialLen
// characters), QEMU's SCSI disks carry it with a prefix, and some
// hypervisors expose it as a WWN.
func ByIDCandidates(serial string, serialLen int) []string {
	short := serial
	if serialLen > 0 && len(serial) > serialLen {
		short = serial[:serialLen]
	}
	names := []string{
		"virtio-" + short,
		"virtio-" + serial,
		"scsi-0QEMU_QEMU_HARDDISK_" + short,
		"scsi-0QEMU_QEMU_HARDDISK_" + serial,
		serial,
		"wwn-0x" + strings.ReplaceAll(serial, "-", ""),
	}
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func checkSerial(serial string) error {
	// The serial becomes part of a path: refuse anything that could leave
	// the by-id directory.
	if serial == "" || serial == "." || serial == ".." ||
		strings.ContainsAny(serial, "/\x00") {
		return fmt.Errorf("invalid disk serial %q", serial)
	}
	return nil
}

func (h *Host) findOnce(serial string, serialLen int, links []string) (string, bool) {
	for _, name := range links {
		link := filepath.Join(h.cfg.ByIDDir, name)
		if _, err := os.Lstat(link); err != nil {
			continue
		}
		dev, err := filepath.EvalSymlinks(link)
		if err != nil {
			// A dangling link: udev is still at work.
			klog.V(5).InfoS("By-id link not resolvable yet", "link", link, "err", err)
			continue
		}
		if !h.usableDevice(dev) {
			klog.V(4).InfoS("By-id link does not point at a block device", "link", link, "target", dev)
			continue
		}
		if !h.sizeKnown(dev) {
			continue
		}
		// A stale link may survive a detach and name a disk that is now
		// another volume; the kernel's serial is the final word.
		if got, ok := h.sysfsSerial(filepath.Base(dev)); ok && !serialMatches(got, serial, serialLen) {
			klog.InfoS("Ignoring by-id link whose device reports another serial",
				"link", link, "device", dev, "deviceSerial", got, "serial", serial)
			continue
		}
		return dev, true
	}
	return h.scanSysfs(serial, serialLen)
}

// scanSysfs finds the disk by the serial the kernel reports, for nodes
// without udev links.
func (h *Host) scanSysfs(serial string, serialLen int) (string, bool) {
	entries, err := os.ReadDir(h.cfg.SysBlockDir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		got, ok := h.sysfsSerial(e.Name())
		if !ok || !serialMatches(got, serial, serialLen) {
			continue
		}
		// sysfs spells a '/' in a device name as '!'.
		dev := filepath.Join(h.cfg.DevDir, strings.ReplaceAll(e.Name(), "!", "/"))
		if h.usableDevice(dev) && h.sizeKnown(dev) {
			return dev, true
		}
		klog.V(4).InfoS("Disk with matching serial has no usable device node", "sysfs", e.Name(), "device", dev)
	}
	return "", false
}

// sysfsSerial reads <SysBlockDir>/<name>/serial (virtio) or
// device/serial; ok is false when neither exists or both are empty.
func (h *Host) sysfsSerial(name string) (string, bool) {
	for _, rel := range []string{"serial", "device/serial"} {
		b, err := os.ReadFile(filepath.Join(h.cfg.SysBlockDir, name, rel))
		if err != nil {
			continue
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, true
		}
	}
	return "", false
}

func serialMatches(got, serial string, serialLen int) bool {
	if got == serial {
		return true
	}
	return len(serial) > serialLen && got == serial[:serialLen]
}

// sizeKnown: a SCSI disk gets its by-id link from its identity pages
// before the kernel has read its capacity (seen with many virtio-scsi
// hot-plugs at once); until then it has 0 bytes and is not there yet,
// rather than a disk of the wrong size.
func (h *Host) sizeKnown(dev string) bool {
	size, err := h.DeviceSize(dev)
	if err != nil || size == 0 {
		klog.V(4).InfoS("Disk has no size yet", "device", dev, "size", size, "err", err)
		return false
	}
	return true
}

// usableDevice: a block device, or a regular file when the config allows.
func (h *Host) usableDevice(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if isBlock(fi) {
		return true
	}
	return h.cfg.AllowRegularFiles && fi.Mode().IsRegular()
}

func isBlock(fi os.FileInfo) bool {
	m := fi.Mode()
	return m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0
}

// triggerUdev asks udev to re-run its rules for block devices, which
// recreates by-id links lost to a udev hiccup. Best effort: skipped without
// udevadm, errors only logged.
func (h *Host) triggerUdev(ctx context.Context) {
	path, err := h.exec.LookPath("udevadm")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, udevTriggerTimeout)
	defer cancel()
	out, err := h.exec.CommandContext(ctx, path, "trigger", "--action=change", "--subsystem-match=block").CombinedOutput()
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		klog.FromContext(ctx).V(4).Info("udevadm trigger failed", "err", err, "output", strings.TrimSpace(string(out)))
	}
}
