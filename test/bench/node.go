package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// nodeConfig sizes the node scenario.
type nodeConfig struct {
	volumes   int
	sizeBytes int64
	zone      string
	fsType    string
	policy    callPolicy
}

type nodeResult struct {
	// per volume, in order: the driver's NodeStage and NodePublish, and
	// the same work done by hand on an equivalent loop device.
	stage, publish, driver []time.Duration
	mkfs, mount, bind, ref []time.Duration
	overhead               []time.Duration // driver[i] - ref[i]
	leftovers              []string
}

// nodeSkipReason says why the node scenario cannot run here ("" if it can).
func nodeSkipReason() string {
	if os.Geteuid() != 0 {
		return "needs root: loop devices, mkfs and mount"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "no /dev/loop-control: loop devices unavailable"
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "needs " + tool
		}
	}
	return ""
}

// runNode publishes cfg.volumes volumes to this machine (the simulator
// backs each with a loop device), then, one volume at a time, times the
// node plugin's NodeStage + NodePublish and right after it the bare
// commands that do the same work on an equivalent loop device: mkfs,
// mount, bind mount. The difference is what the driver adds.
func runNode(ctx context.Context, e *env, ctrl, nodeDrv *driverProc, cfg nodeConfig) (res nodeResult, err error) {
	n := cfg.volumes
	vols := newFleet(n)
	pubCtx := make([]map[string]string, n)
	staging := make([]string, n)
	target := make([]string, n)
	defer func() {
		if err != nil {
			nodeTeardown(nodeDrv, vols, staging, target)
			unmountUnder(filepath.Join(e.dir, "kubelet"))
			vols.cleanup(ctrl)
		}
		res.leftovers = harness.Leftovers(e.sim)
	}()

	// Attach everything first (controller side; not timed here).
	setup := newRPCStats("node setup")
	err = forEach(ctx, n, n, func(ctx context.Context, i int) error {
		req := createRequest("pvc-"+uuid.NewString(), cfg.zone, cfg.sizeBytes)
		vols.creating(i, req)
		return cfg.policy.call(ctx, setup, func(ctx context.Context) error {
			if vols.id(i) == "" {
				resp, err := ctrl.ctrl.CreateVolume(ctx, req)
				if err != nil {
					return err
				}
				vols.setID(i, resp.GetVolume().GetVolumeId())
			}
			vols.setNode(i, harness.LocalServerID)
			resp, err := ctrl.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
				VolumeId: vols.id(i), NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount(cfg.fsType),
			})
			if err != nil {
				return err
			}
			pubCtx[i] = resp.GetPublishContext()
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("node: attaching volumes: %w", err)
	}

	stageSt, pubSt := newRPCStats("NodeStageVolume"), newRPCStats("NodePublishVolume")
	for i := range n {
		id := vols.id(i)
		// Paths laid out as kubelet lays them out; kubelet creates the
		// staging directory and the target's parent.
		staging[i] = filepath.Join(e.dir, "kubelet/plugins/kubernetes.io/csi", "block.csi.openblock.io", fmt.Sprintf("vol%03d", i), "globalmount")
		target[i] = filepath.Join(e.dir, "kubelet/pods", fmt.Sprintf("pod%03d", i), "volumes/kubernetes.io~csi", fmt.Sprintf("pv%03d", i), "mount")
		for _, dir := range []string{staging[i], filepath.Dir(target[i])} {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return res, err
			}
		}
		vc := csicap.Mount(cfg.fsType)
		t0 := time.Now()
		err := cfg.policy.call(ctx, stageSt, func(ctx context.Context) error {
			_, err := nodeDrv.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
				VolumeId: id, PublishContext: pubCtx[i], StagingTargetPath: staging[i], VolumeCapability: vc,
			})
			return err
		})
		if err != nil {
			return res, fmt.Errorf("node: %w", err)
		}
		t1 := time.Now()
		err = cfg.policy.call(ctx, pubSt, func(ctx context.Context) error {
			_, err := nodeDrv.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
				VolumeId: id, PublishContext: pubCtx[i], StagingTargetPath: staging[i], TargetPath: target[i], VolumeCapability: vc,
			})
			return err
		})
		if err != nil {
			return res, fmt.Errorf("node: %w", err)
		}
		t2 := time.Now()
		if fs := mountFSType(target[i]); fs != cfg.fsType {
			return res, fmt.Errorf("node: volume %s: %s is mounted as %q, want %s", id, target[i], fs, cfg.fsType)
		}
		res.stage = append(res.stage, t1.Sub(t0))
		res.publish = append(res.publish, t2.Sub(t1))
		res.driver = append(res.driver, t2.Sub(t0))

		r, err := referenceMount(filepath.Join(e.dir, "ref"), i, cfg.sizeBytes, cfg.fsType)
		if err != nil {
			return res, fmt.Errorf("node: reference mkfs+mount: %w", err)
		}
		res.mkfs = append(res.mkfs, r.mkfs)
		res.mount = append(res.mount, r.mount)
		res.bind = append(res.bind, r.bind)
		res.ref = append(res.ref, r.total())
		res.overhead = append(res.overhead, t2.Sub(t0)-r.total())
	}

	if err := nodeTeardown(nodeDrv, vols, staging, target); err != nil {
		return res, err
	}
	unpub := newRPCStats("node teardown")
	err = forEach(ctx, n, n, func(ctx context.Context, i int) error {
		return cfg.policy.call(ctx, unpub, func(ctx context.Context) error {
			if _, err := ctrl.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: vols.id(i), NodeId: harness.LocalServerID}); err != nil {
				return err
			}
			vols.setNode(i, "")
			if _, err := ctrl.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vols.id(i)}); err != nil {
				return err
			}
			vols.setID(i, "")
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("node: detaching and deleting: %w", err)
	}
	return res, nil
}

// nodeTeardown unpublishes and unstages every volume that has paths, as
// kubelet does when the pods go; the driver must leave nothing mounted.
func nodeTeardown(d *driverProc, vols *fleet, staging, target []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var first error
	for i := range staging {
		if staging[i] == "" || vols.id(i) == "" {
			continue
		}
		if _, err := d.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vols.id(i), TargetPath: target[i]}); err != nil && first == nil {
			first = fmt.Errorf("NodeUnpublishVolume %s: %w", vols.id(i), err)
		}
		if _, err := d.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vols.id(i), StagingTargetPath: staging[i]}); err != nil && first == nil {
			first = fmt.Errorf("NodeUnstageVolume %s: %w", vols.id(i), err)
		}
		for _, p := range []string{target[i], staging[i]} {
			if len(mountsUnder(p)) > 0 && first == nil {
				first = fmt.Errorf("node: %s is still mounted after unpublish/unstage", p)
			}
		}
	}
	return first
}

// refTimes is the bare-command time of one reference volume.
type refTimes struct{ mkfs, mount, bind time.Duration }

func (r refTimes) total() time.Duration { return r.mkfs + r.mount + r.bind }

// referenceMount makes a sparse image of sizeBytes (as the simulator
// does), puts it on a loop device and times the commands mount-utils runs
// for a blank disk: mkfs.<fs> -F -m0 (ext*), mount -t <fs> -o defaults,
// and the bind mount of NodePublish. Everything is undone before it
// returns.
func referenceMount(dir string, i int, sizeBytes int64, fsType string) (refTimes, error) {
	var r refTimes
	mnt := filepath.Join(dir, fmt.Sprintf("mnt%03d", i))
	bind := filepath.Join(dir, fmt.Sprintf("bind%03d", i))
	for _, d := range []string{mnt, bind} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return r, err
		}
	}
	img := filepath.Join(dir, fmt.Sprintf("img%03d", i))
	f, err := os.Create(img)
	if err != nil {
		return r, err
	}
	defer os.Remove(img)
	err = f.Truncate(sizeBytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r, err
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	defer func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: losetup -d %s: %v: %s\n", dev, err, out)
		}
	}()

	mkfsArgs := []string{dev}
	switch fsType {
	case "ext2", "ext3", "ext4":
		mkfsArgs = []string{"-F", "-m0", dev}
	case "xfs":
		mkfsArgs = []string{"-f", dev}
	}
	timed := func(d *time.Duration, name string, args ...string) error {
		t := time.Now()
		out, err := exec.Command(name, args...).CombinedOutput()
		*d = time.Since(t)
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := timed(&r.mkfs, "mkfs."+fsType, mkfsArgs...); err != nil {
		return r, err
	}
	if err := timed(&r.mount, "mount", "-t", fsType, "-o", "defaults", dev, mnt); err != nil {
		return r, err
	}
	defer exec.Command("umount", mnt).Run()
	if err := timed(&r.bind, "mount", "-o", "bind", mnt, bind); err != nil {
		return r, err
	}
	if out, err := exec.Command("umount", bind).CombinedOutput(); err != nil {
		return r, fmt.Errorf("umount %s: %v: %s", bind, err, out)
	}
	return r, nil
}

// mountFSType is the filesystem type mounted at path ("" if none).
func mountFSType(path string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	fs := ""
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(p) >= 1 && mountpath.Unescape(f[4]) == path {
			fs = p[0] // the last one mounted there wins
		}
	}
	return fs
}
