package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// need says how much a missing tool matters.
type need int

const (
	required need = iota // the driver cannot stage any volume without it
	perFS                // needed only for one filesystem type
	optional             // used by the simulator or as a fallback
)

// tools are the programs the node plugin runs (through k8s.io/mount-utils
// and pkg/node), with why each is needed.
var tools = []struct {
	name string
	need need
	why  string
}{
	{"mount", required, "mounts every volume"},
	{"umount", required, "unmounts every volume"},
	{"blkid", required, "tells a blank disk from one holding a filesystem; without it nothing is formatted or mounted"},
	{"mkfs.ext4", required, "formats ext4, the default fsType"},
	{"fsck", required, "checks ext filesystems before mounting"},
	{"e2fsck", required, "checks an ext filesystem before growing it unmounted"},
	{"resize2fs", required, "grows ext filesystems after expansion"},
	{"dumpe2fs", required, "reads ext filesystem size to decide whether to grow"},
	{"blockdev", required, "reads device sizes"},
	{"mkfs.xfs", perFS, "formats fsType xfs"},
	{"xfs_growfs", perFS, "grows xfs after expansion"},
	{"xfs_info", perFS, "reads xfs size to decide whether to grow"},
	{"mkfs.btrfs", perFS, "formats fsType btrfs"},
	{"btrfs", perFS, "grows btrfs after expansion"},
	{"losetup", optional, "attaches simulator volumes as loop devices"},
}

// NodeTools are the programs a node plugin image must carry: every tool
// above but the simulator's, and udevadm.
func NodeTools() []string {
	var out []string
	for _, t := range tools {
		if t.need != optional {
			out = append(out, t.name)
		}
	}
	return append(out, "udevadm")
}

func nodeChecks(ctx context.Context, opts Options, r *report) {
	path := opts.ToolPath
	if path == "" {
		path = os.Getenv("PATH")
	}
	for _, t := range tools {
		r.add(checkTool(t.name, t.need, t.why, path))
	}
	r.add(checkByID(opts))
	r.add(checkSysBlock(opts.SysBlockDir))
	udev := checkTool("udevadm", perFS, "it refreshes by-id links when a disk appears late", path)
	if udev.Status == Warn {
		udev.Fix = "install udevadm (package udev or eudev) in the node plugin image; without it the node waits for udev on its own and falls back to /sys/block/*/serial"
	}
	r.add(udev)
	r.add(checkUdevDir(opts.UdevDir))
	id, zone := resolveIdentity(ctx, opts)
	r.add(id)
	r.add(zone)
	r.add(checkKubeletDir(opts.KubeletDir))
}

func checkTool(name string, n need, why, path string) Result {
	res := Result{Name: name}
	p, err := lookPath(name, path)
	if err == nil {
		res.Status, res.Detail = Pass, p
		return res
	}
	res.Detail = "not found in PATH: " + why
	switch n {
	case required:
		res.Status = Fail
		res.Fix = fmt.Sprintf("install %s in the node plugin image (%s)", name, packageOf(name))
	case perFS:
		res.Status = Warn
		res.Fix = fmt.Sprintf("install %s if you use it (%s)", name, packageOf(name))
	default:
		res.Status = Skip
	}
	return res
}

// packageOf names the Debian/Alpine package that ships a tool.
func packageOf(tool string) string {
	switch {
	case tool == "mount" || tool == "umount" || tool == "blkid" || tool == "fsck" || tool == "blockdev" || tool == "losetup":
		return "util-linux / mount"
	case strings.HasPrefix(tool, "xfs") || tool == "mkfs.xfs":
		return "xfsprogs"
	case strings.Contains(tool, "btrfs"):
		return "btrfs-progs"
	case tool == "udevadm":
		return "udev / eudev"
	}
	return "e2fsprogs"
}

// lookPath finds an executable regular file named name in a PATH-style
// list, like exec.LookPath but on the list given.
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// diskLinkPrefixes are the by-id link forms the node looks volumes up by.
var diskLinkPrefixes = []string{"virtio-", "scsi-0QEMU_QEMU_HARDDISK_", "wwn-0x"}

func checkByID(opts Options) Result {
	res := Result{Name: "disk by-id links"}
	entries, err := os.ReadDir(opts.ByIDDir)
	if err != nil {
		res.Detail = fmt.Sprintf("%s: %v", opts.ByIDDir, plainErr(err))
		res.Fix = "mount the host's /dev into the node plugin (hostPath /dev); udev creates " + DefaultByIDDir +
			" once a disk with an id is attached, and until then the node falls back to /sys/block/*/serial"
		res.Status = Warn
		if opts.ByIDDir != DefaultByIDDir {
			// A directory named on the command line must exist.
			res.Status = Fail
			res.Fix = "check --by-id-dir: " + opts.ByIDDir + " does not exist or cannot be read"
		}
		return res
	}
	var disks []string
	for _, e := range entries {
		for _, p := range diskLinkPrefixes {
			if strings.HasPrefix(e.Name(), p) && !strings.Contains(e.Name(), "-part") {
				disks = append(disks, e.Name())
				break
			}
		}
	}
	sort.Strings(disks)
	res.Status = Pass
	res.Detail = fmt.Sprintf("%s: %d entries, %d volume link(s)", opts.ByIDDir, len(entries), len(disks))
	if len(disks) > 0 {
		res.Detail += ": " + short(disks, 5)
	}
	return res
}

func checkSysBlock(dir string) Result {
	res := Result{Name: "block devices"}
	entries, err := os.ReadDir(dir)
	if err != nil {
		res.Status, res.Detail = Fail, fmt.Sprintf("%s: %v", dir, plainErr(err))
		res.Fix = "the node plugin needs /sys from the host (hostPath /sys) to find disks by serial"
		return res
	}
	var withSerial, all []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		all = append(all, name)
		if b, err := os.ReadFile(filepath.Join(dir, name, "serial")); err == nil && strings.TrimSpace(string(b)) != "" {
			withSerial = append(withSerial, name+"="+strings.TrimSpace(string(b)))
		}
	}
	sort.Strings(all)
	sort.Strings(withSerial)
	res.Status = Pass
	res.Detail = fmt.Sprintf("%d disks (%s), %d with a serial", len(all), short(all, 8), len(withSerial))
	if len(withSerial) > 0 {
		res.Detail += ": " + short(withSerial, 5)
	}
	if len(all) == 0 {
		res.Status = Warn
		res.Detail = dir + " lists no disks"
		res.Fix = "mount the host's /sys into the node plugin"
	}
	return res
}

func checkUdevDir(dir string) Result {
	res := Result{Name: "udev database"}
	if _, err := os.ReadDir(dir); err != nil {
		res.Status, res.Detail = Warn, fmt.Sprintf("%s: %v", dir, plainErr(err))
		res.Fix = "mount the host's /run/udev into the node plugin (read-only) so that blkid and udevadm see the host's device database"
		return res
	}
	res.Status, res.Detail = Pass, dir+" readable"
	return res
}

func checkKubeletDir(dir string) Result {
	res := Result{Name: "kubelet directory"}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		res.Status, res.Detail = Warn, fmt.Sprintf("%s: %v", dir, plainErr(err))
		res.Fix = "mount the kubelet directory into the node plugin with mountPropagation: Bidirectional; if your distribution moved it (k0s, microk8s), pass --kubelet-dir and set the chart's kubeletDir"
	case !st.IsDir():
		res.Status, res.Detail = Warn, dir+" is not a directory"
		res.Fix = "pass the kubelet root directory with --kubelet-dir"
	default:
		res.Status, res.Detail = Pass, dir
		if _, err := os.Stat(filepath.Join(dir, "plugins")); err != nil {
			res.Detail += " (no plugins/ yet)"
		}
	}
	return res
}

// plainErr drops the "open PATH:" wrapper the detail already names.
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func short(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(", ... (%d more)", len(list)-n)
}
