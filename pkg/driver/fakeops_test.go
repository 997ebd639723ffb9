package driver

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// fakeOps is an in-memory node.Ops: disks by serial, a mount table, and a
// record of what was formatted and resized.
type fakeOps struct {
	mu      sync.Mutex
	disks   map[string]*fakeDisk // device path → disk
	mounts  map[string]fakeMount // target → mount
	dirs    map[string]bool      // paths that exist without a mount
	formats []string             // "device fs mkfsopts… | mountopts…" per FormatAndMount
	resized []string
	// failMount makes FormatAndMount create the mount point and then fail,
	// as a mount(8) error does on the host.
	failMount bool
	roDevs    map[string]bool
}

type fakeDisk struct {
	serial string
	size   int64
	fs     string
	fsSize int64
}

type fakeMount struct {
	source   string // device, or staging dir for binds
	device   string
	readOnly bool
	options  []string
	block    bool // a bind of a device file (raw block publish)
	gone     bool // its disk was unplugged under it
}

func newFakeOps() *fakeOps {
	return &fakeOps{disks: map[string]*fakeDisk{}, mounts: map[string]fakeMount{}, dirs: map[string]bool{}}
}

// addDisk makes a disk with serial visible at /dev/<name>.
func (f *fakeOps) addDisk(name, serial string, size int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	dev := "/dev/" + name
	f.disks[dev] = &fakeDisk{serial: serial, size: size}
	return dev
}

func (f *fakeOps) FindDevice(_ context.Context, serial string, serialLen int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if serialLen == 0 {
		serialLen = 20
	}
	want := serial
	if len(want) > serialLen {
		want = want[:serialLen]
	}
	for dev, d := range f.disks {
		got := d.serial
		if len(got) > serialLen {
			got = got[:serialLen]
		}
		if got == want {
			return dev, nil
		}
	}
	return "", fmt.Errorf("serial %s: %w", serial, node.ErrDeviceNotFound)
}

func (f *fakeOps) DeviceSize(device string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.mounts[device]; ok && m.device != "" {
		device = m.device
	}
	d, ok := f.disks[device]
	if !ok {
		return 0, fmt.Errorf("%s: no such device", device)
	}
	return d.size, nil
}

func (f *fakeOps) FormatAndMount(_ context.Context, device, target, fsType string, mkfsOptions, mountOptions []string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.disks[device]
	if !ok {
		return false, fmt.Errorf("%s: no such device", device)
	}
	if m, ok := f.mounts[target]; ok {
		if m.device == device {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s holds %s", node.ErrMountedElsewhere, target, m.device)
	}
	if d.fs != "" && d.fs != fsType {
		return false, fmt.Errorf("%w: %s holds %s", node.ErrFilesystemMismatch, device, d.fs)
	}
	f.dirs[target] = true
	if f.failMount {
		return false, fmt.Errorf("mount %s at %s: exit status 32", device, target)
	}
	formatted := d.fs == ""
	if formatted {
		d.fs, d.fsSize = fsType, d.size
	}
	f.formats = append(f.formats, strings.Join(append(append([]string{device, fsType}, mkfsOptions...), append([]string{"|"}, mountOptions...)...), " "))
	f.mounts[target] = fakeMount{source: device, device: device, options: mountOptions}
	return formatted, nil
}

func (f *fakeOps) DiskFormat(device string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.disks[device]; ok {
		return d.fs, nil
	}
	return "", fmt.Errorf("%s: no such device", device)
}

func (f *fakeOps) BindMount(source, target string, readOnly bool, options []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dev, block := "", false
	if m, ok := f.mounts[source]; ok {
		dev = m.device
	} else if _, ok := f.disks[source]; ok {
		dev, block = source, true
	} else {
		return fmt.Errorf("bind source %s does not exist", source)
	}
	if f.failMount {
		f.dirs[target] = true
		return fmt.Errorf("mount --bind %s %s: exit status 32", source, target)
	}
	if m, ok := f.mounts[target]; ok {
		if m.device != dev {
			return fmt.Errorf("%w: %s holds %s", node.ErrMountedElsewhere, target, m.device)
		}
		if readOnly && !m.readOnly {
			return fmt.Errorf("%w: %s is read-write", node.ErrMountedElsewhere, target)
		}
		return nil
	}
	f.mounts[target] = fakeMount{source: source, device: dev, readOnly: readOnly, options: options, block: block}
	return nil
}

func (f *fakeOps) SetDeviceReadOnly(device string, ro bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.disks[device]; !ok {
		return false, fmt.Errorf("%s: no such device", device)
	}
	if f.roDevs == nil {
		f.roDevs = map[string]bool{}
	}
	was := f.roDevs[device]
	f.roDevs[device] = ro
	return was, nil
}

func (f *fakeOps) UnmountTop(target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.mounts[target]; ok {
		delete(f.mounts, target)
		f.dirs[target] = true // the mount point stays
	}
	return nil
}

func (f *fakeOps) RemoveIfEmpty(path string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.mounts[path]; ok || !f.dirs[path] {
		return false, nil
	}
	delete(f.dirs, path)
	return true, nil
}

func (f *fakeOps) MountState(target string) (node.MountState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.mounts[target]
	if !ok {
		return node.MountState{}, nil
	}
	return node.MountState{Mounted: true, Device: m.device, ReadOnly: m.readOnly, DeviceGone: m.gone}, nil
}

func (f *fakeOps) DeviceForMount(target string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.mounts[target]
	if !ok {
		return "", fmt.Errorf("%s is not a mount point", target)
	}
	return m.device, nil
}

func (f *fakeOps) NeedResize(device, _ string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.disks[device]
	if !ok {
		return false, fmt.Errorf("%s: no such device", device)
	}
	return d.fsSize < d.size, nil
}

func (f *fakeOps) Resize(device, mountPath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.disks[device]
	if !ok {
		return fmt.Errorf("%s: no such device", device)
	}
	d.fsSize = d.size
	f.resized = append(f.resized, device+" "+mountPath)
	return nil
}

func (f *fakeOps) FSStats(path string) (node.FSStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.mounts[path]
	if !ok {
		return node.FSStats{}, fmt.Errorf("%s is not mounted", path)
	}
	size := f.disks[m.device].fsSize
	return node.FSStats{TotalBytes: size, AvailableBytes: size - 4096, UsedBytes: 4096, TotalInodes: 1000, FreeInodes: 990, UsedInodes: 10}, nil
}

func (f *fakeOps) PathExists(path string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, m := f.mounts[path]
	_, d := f.disks[path]
	return m || d || f.dirs[path], nil
}

func (f *fakeOps) IsBlockDevice(path string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, dev := f.disks[path]
	return dev || f.mounts[path].block, nil
}

var _ node.Ops = (*fakeOps)(nil)
