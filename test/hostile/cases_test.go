package hostile

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// hcase is one hostile request and the codes the spec allows for it; the
// first is the one it names. after, if set, checks what must (not) have
// happened.
type hcase struct {
	name  string
	call  func(ctx context.Context, w *world) error
	want  []codes.Code
	after func(t *testing.T, w *world)
}

func (c hcase) check(t *testing.T, w *world) {
	err := c.call(ctxT(t), w)
	if got := status.Code(err); !slices.Contains(c.want, got) {
		t.Errorf("code %s (%v), want %v", got, err, c.want)
	}
	if c.after != nil {
		c.after(t, w)
	}
}

const unknownVol = "3d1f0c2e-9b8a-4e7f-a6d5-c4b3a2918070"

var (
	invalid  = []codes.Code{codes.InvalidArgument}
	notFound = []codes.Code{codes.NotFound}
	// Health of a path that cannot hold the volume: NotFound, or
	// InvalidArgument for one that is not an absolute path at all.
	notThere = []codes.Code{codes.NotFound, codes.InvalidArgument}
)

// escaping are paths outside the kubelet directory, or inside it in name
// only: every node call that would act on one must refuse it.
func (w *world) escaping() map[string]string {
	k, out := w.sb.kubelet, w.sb.outside
	return map[string]string{
		"root":               "/",
		"etc":                "/etc",
		"etc-passwd":         "/etc/passwd",
		"etc-hostname":       "/etc/hostname",
		"etc-shadow":         "/etc/shadow",
		"usr-bin-mount":      "/usr/bin/mount",
		"srv":                "/srv",
		"media":              "/media",
		"proc":               "/proc",
		"dev-null":           "/dev/null",
		"outside-file":       filepath.Join(out, "file"),
		"outside-dir":        filepath.Join(out, "dir"),
		"outside-new":        filepath.Join(out, "new"),
		"kubelet-itself":     k,
		"kubelet-slash":      k + "/",
		"kubelet-prefix":     k + "x/pods/a",
		"dotdot":             k + "/pods/../../outside/file",
		"dotdot-root":        k + "/../../../../../../etc/passwd",
		"symlink-dir":        filepath.Join(k, "pods", "evil"),
		"symlink-dir-leaf":   filepath.Join(k, "pods", "evil", "nested-new", "leaf"),
		"symlink-file":       filepath.Join(k, "pods", "evilfile"),
		"symlink-relative":   filepath.Join(k, "pods", "dotdot", "file"),
		"symlink-etc-passwd": filepath.Join(k, "pods", "etc", "passwd"),
		"symlink-to-root":    filepath.Join(k, "pods", "root"),
		"symlink-dangling":   filepath.Join(k, "pods", "dangling"),
		"symlink-loop":       filepath.Join(k, "pods", "loop", "x"),
		"driver-plugin-dir":  filepath.Join(k, "plugins", driver.DefaultName, "csi.sock"),
		"plugins-registry":   filepath.Join(k, "plugins_registry", driver.DefaultName+"-reg.sock"),
		"device-plugins":     filepath.Join(k, "device-plugins", "kubelet.sock"),
		"node-state":         w.state,
		"node-state-file":    filepath.Join(w.state, "x.json"),
		"relative":           "pods/a/mount",
		"nul":                filepath.Join(k, "pods", "a\x00b"),
	}
}

func cases(w *world) []hcase {
	var cs []hcase
	a, b, c := w.a, w.b, w.c
	fresh := func(name string) string { return filepath.Join(w.sb.kubelet, "pods", "fresh", name) }
	notCreated := func(p string) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s created by a refused request", p)
			}
		}
	}

	for name, p := range w.escaping() {
		cs = append(cs,
			hcase{"unpublish-unknown/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: unknownVol, TargetPath: p})
				return err
			}, invalid, nil},
			hcase{"unpublish-a/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: a.id, TargetPath: p})
				return err
			}, invalid, nil},
			hcase{"unstage-unknown/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: unknownVol, StagingTargetPath: p})
				return err
			}, invalid, nil},
			hcase{"unstage-a/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: a.id, StagingTargetPath: p})
				return err
			}, invalid, nil},
			hcase{"stage-blank/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: p, VolumeCapability: csicap.Mount("ext4"), PublishContext: c.pc})
				return err
			}, invalid, nil},
			hcase{"publish-block/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging, TargetPath: p, VolumeCapability: csicap.Block(), PublishContext: c.pc})
				return err
			}, invalid, nil},
			hcase{"publish-fs/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: p, VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc})
				return err
			}, invalid, nil},
			hcase{"publish-from-staging/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: p, TargetPath: fresh("from-staging"), VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc})
				return err
			}, invalid, notCreated(fresh("from-staging"))},
			hcase{"stats/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: a.id, VolumePath: p})
				return err
			}, notFound, nil},
			hcase{"expand/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: a.id, VolumePath: p, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
				return err
			}, notFound, nil},
			hcase{"health/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: a.id, StagingTargetPath: p})
				return err
			}, notThere, nil},
		)
	}

	// Another volume's paths, inside the kubelet directory.
	cs = append(cs,
		hcase{"unpublish-unknown-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: unknownVol, TargetPath: a.target})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		hcase{"unpublish-b-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: b.id, TargetPath: a.target})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		hcase{"unstage-unknown-at-a-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: unknownVol, StagingTargetPath: a.staging})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		hcase{"unpublish-a-at-a-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: a.id, TargetPath: a.staging})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		hcase{"unstage-a-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: a.id, StagingTargetPath: a.target})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		hcase{"unpublish-unknown-at-b-block-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: unknownVol, TargetPath: b.target})
			return err
		}, []codes.Code{codes.FailedPrecondition}, nil},
		// Not mounted, not the driver's: OK, and nothing removed.
		hcase{"unpublish-unknown-at-kubelet-file", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: unknownVol, TargetPath: filepath.Join(w.sb.kubelet, "pods", "p2", "file")})
			return err
		}, []codes.Code{codes.OK}, nil},
		hcase{"unpublish-unknown-at-kubelet-dir", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: unknownVol, TargetPath: filepath.Join(w.sb.kubelet, "pods", "p2", "data")})
			return err
		}, []codes.Code{codes.OK}, nil},
		hcase{"unstage-unknown-at-kubelet-empty-dir", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: unknownVol, StagingTargetPath: filepath.Join(w.sb.kubelet, "pods", "p2", "empty")})
			return err
		}, []codes.Code{codes.OK}, nil},
		hcase{"unpublish-a-at-never-used-path", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: a.id, TargetPath: fresh("never")})
			return err
		}, []codes.Code{codes.OK}, notCreated(fresh("never"))},
		// Mounting over another volume.
		hcase{"publish-block-c-over-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging, TargetPath: a.target, VolumeCapability: csicap.Block(), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		hcase{"publish-block-c-over-b-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging, TargetPath: b.target, VolumeCapability: csicap.Block(), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		hcase{"publish-block-c-over-a-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging, TargetPath: a.staging, VolumeCapability: csicap.Block(), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		hcase{"stage-blank-c-over-a-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: a.staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		hcase{"stage-blank-c-over-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: a.target, VolumeCapability: csicap.Mount("ext4"), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		hcase{"publish-c-from-a-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: a.staging, TargetPath: c.target, VolumeCapability: csicap.Mount("ext4"), PublishContext: c.pc})
			return err
		}, []codes.Code{codes.FailedPrecondition}, notCreated(c.target)},
		hcase{"publish-a-onto-its-staging", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: a.staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc})
			return err
		}, invalid, nil},
		// The same volume again is idempotent and changes nothing.
		hcase{"publish-a-again", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: a.target, VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc})
			return err
		}, []codes.Code{codes.OK}, nil},
		hcase{"stage-a-again", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc})
			return err
		}, []codes.Code{codes.OK}, nil},
		hcase{"publish-a-readonly-over-rw", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: a.target, VolumeCapability: csicap.Mount("ext4"), PublishContext: a.pc, Readonly: true})
			return err
		}, []codes.Code{codes.AlreadyExists}, nil},
		// Read-only raw block: nothing can write to the device while
		// published so; afterwards it is writable again and the target gone.
		hcase{"publish-block-readonly", func(ctx context.Context, w *world) error {
			p := fresh("ro-block")
			if _, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging, TargetPath: p, VolumeCapability: csicap.Block(), PublishContext: c.pc, Readonly: true}); err != nil {
				return err
			}
			writeErr := writeBlock(p)
			_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: c.id, TargetPath: p})
			if writeErr == nil {
				return status.Error(codes.Unknown, "wrote through a read-only raw block publish")
			}
			return err
		}, []codes.Code{codes.OK}, func(t *testing.T, w *world) {
			notCreated(fresh("ro-block"))(t, w)
			if ro, err := deviceReadOnly(w.sb.devOf(t, c)); err != nil || ro {
				t.Errorf("device of c after its read-only publish is gone: read-only %v, %v", ro, err)
			}
		}},
		// Stats and health of one volume at another's path.
		hcase{"stats-b-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: b.id, VolumePath: a.target})
			return err
		}, notFound, nil},
		hcase{"stats-unknown-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: unknownVol, VolumePath: a.target})
			return err
		}, notFound, nil},
		hcase{"stats-a-at-kubelet-dir", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: a.id, VolumePath: filepath.Join(w.sb.kubelet, "pods", "p2", "data")})
			return err
		}, notFound, nil},
		hcase{"health-b-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: b.id, VolumePublishPath: a.target})
			return err
		}, notFound, nil},
		hcase{"expand-c-at-a-target", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: c.id, VolumePath: a.target})
			return err
		}, notFound, nil},
		// A volume that does not exist, or was never published here.
		hcase{"stage-nonexistent-volume", func(ctx context.Context, w *world) error {
			_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: unknownVol, StagingTargetPath: fresh("nonexistent"), VolumeCapability: csicap.Mount("ext4")})
			return err
		}, notFound, notCreated(fresh("nonexistent"))},
		hcase{"publish-block-nonexistent-volume", func(ctx context.Context, w *world) error {
			_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: unknownVol, StagingTargetPath: fresh("s"), TargetPath: fresh("nonexistent-block"), VolumeCapability: csicap.Block()})
			return err
		}, notFound, notCreated(fresh("nonexistent-block"))},
		// A stage that fails at mount(8) leaves no directory it made.
		hcase{"stage-failing-mount-cleans-up", func(ctx context.Context, w *world) error {
			vc := csicap.Mount("ext4")
			vc.GetMount().MountFlags = []string{"data=bogus"}
			_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: fresh("failing-stage"), VolumeCapability: vc, PublishContext: c.pc})
			return err
		}, []codes.Code{codes.Internal}, notCreated(fresh("failing-stage"))},
	)

	// Mount options that change what or where is mounted.
	for _, flag := range []string{"remount,ro", "remount", "ro,remount", "bind", "rbind", "move", "loop", "loop=/dev/loop0",
		"offset=0", "X-mount.mkdir", "X-mount.subdir=etc", "x-systemd.automount", "helper=none", "rw,exec;reboot",
		"o=$(reboot)", "a b", "", "rw,,", "shared", "make-rprivate", "user", "nofail", "-o", "context=\"a,b\"", "noatime\n"} {
		vc := csicap.Mount("ext4")
		vc.GetMount().MountFlags = []string{flag}
		cs = append(cs,
			hcase{"flags-publish-over-a/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: a.target, VolumeCapability: vc, PublishContext: a.pc})
				return err
			}, invalid, nil},
			hcase{"flags-publish-fresh/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: fresh("flags"), VolumeCapability: vc, PublishContext: a.pc})
				return err
			}, invalid, notCreated(fresh("flags"))},
			hcase{"flags-stage-a-again/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, VolumeCapability: vc, PublishContext: a.pc})
				return err
			}, invalid, nil},
			hcase{"flags-stage-blank/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: fresh("flags-stage"), VolumeCapability: vc, PublishContext: c.pc})
				return err
			}, invalid, notCreated(fresh("flags-stage"))},
			hcase{"flags-validate/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.ctrl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: a.id, VolumeCapabilities: []*csi.VolumeCapability{vc}})
				return err
			}, invalid, nil},
			hcase{"flags-create/" + flag, func(ctx context.Context, w *world) error {
				_, err := w.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "hostile-flags", VolumeCapabilities: []*csi.VolumeCapability{vc}})
				return err
			}, invalid, nil},
		)
	}

	// Capabilities that cannot be honoured.
	badCaps := map[string]*csi.VolumeCapability{
		"none":            nil,
		"no-access-mode":  {AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
		"no-access-type":  {AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}},
		"fstype-path":     csicap.Mount("../../etc"),
		"fstype-unknown":  csicap.Mount("ntfs"),
		"multi-writer-fs": {AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}, AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}},
		"mode-unknown":    {AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}, AccessMode: &csi.VolumeCapability_AccessMode{Mode: 99}},
		"mount-group":     {AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{VolumeMountGroup: "0"}}, AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}},
	}
	for name, vc := range badCaps {
		cs = append(cs,
			hcase{"caps-stage/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: c.id, StagingTargetPath: fresh("caps"), VolumeCapability: vc, PublishContext: c.pc})
				return err
			}, invalid, notCreated(fresh("caps"))},
			hcase{"caps-publish/" + name, func(ctx context.Context, w *world) error {
				_, err := w.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: a.id, StagingTargetPath: a.staging, TargetPath: fresh("caps"), VolumeCapability: vc, PublishContext: a.pc})
				return err
			}, invalid, notCreated(fresh("caps"))},
		)
	}

	// Ids: never a path, never a panic.
	ids := map[string]string{"dotdot-etc": "../../etc", "etc-passwd": "/etc/passwd", "query": "a?b#c", "nul": "x\x00y",
		"space": "a b", "dotdot": "..", "escaped-dotdot": "%2e%2e", "300-nuls": string(make([]byte, 300))}
	for label, id := range ids {
		cs = append(cs,
			hcase{"id-stage/" + label, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: fresh("ids"), VolumeCapability: csicap.Mount("ext4")})
				return err
			}, []codes.Code{codes.NotFound, codes.InvalidArgument}, notCreated(fresh("ids"))},
			hcase{"id-unpublish/" + label, func(ctx context.Context, w *world) error {
				_, err := w.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: a.target})
				return err
			}, []codes.Code{codes.FailedPrecondition, codes.InvalidArgument}, nil},
			hcase{"id-controller-publish/" + label, func(ctx context.Context, w *world) error {
				_, err := w.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4")})
				return err
			}, []codes.Code{codes.NotFound, codes.InvalidArgument}, nil},
			hcase{"id-delete/" + label, func(ctx context.Context, w *world) error {
				_, err := w.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
				return err
			}, []codes.Code{codes.OK, codes.InvalidArgument}, nil},
		)
	}

	// The controller's share.
	zone := func(segs map[string]string) *csi.TopologyRequirement {
		return &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: segs}}}
	}
	cs = append(cs,
		// a is published read-write to this node: a read-only publish
		// there is incompatible (AlreadyExists) where PUBLISH_READONLY is
		// offered, and refused outright where not (Lunanode).
		hcase{"controller-publish-readonly", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: a.id, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4"), Readonly: true})
			return err
		}, []codes.Code{codes.AlreadyExists, codes.InvalidArgument}, nil},
		hcase{"create-topology-empty-segments", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "hostile-topo", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, AccessibilityRequirements: zone(map[string]string{})})
			return err
		}, invalid, nil},
		hcase{"create-topology-unknown-key", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "hostile-topo", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
				AccessibilityRequirements: &csi.TopologyRequirement{Preferred: []*csi.Topology{{Segments: map[string]string{"badinput.example/../zone": "../../x\x00"}}}}})
			return err
		}, invalid, nil},
		hcase{"create-topology-extra-key", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "hostile-topo", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, AccessibilityRequirements: zone(map[string]string{driver.TopologyZoneKey: w.zone, "rack": "1"})})
			return err
		}, invalid, nil},
		hcase{"create-topology-bad-zone", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "hostile-topo", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, AccessibilityRequirements: zone(map[string]string{driver.TopologyZoneKey: "../" + w.zone})})
			return err
		}, invalid, nil},
		hcase{"controller-expand-no-range", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: a.id})
			return err
		}, w.expandCodes(codes.InvalidArgument), nil},
		hcase{"controller-expand-unknown", func(ctx context.Context, w *world) error {
			_, err := w.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: unknownVol, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}})
			return err
		}, w.expandCodes(codes.NotFound), nil},
	)
	return cs
}

// expandCodes: without EXPAND_VOLUME the spec's answer is Unimplemented,
// whatever else is wrong; with it, the code for what is wrong.
func (w *world) expandCodes(otherwise codes.Code) []codes.Code {
	resp, err := w.ctrl.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		return []codes.Code{otherwise}
	}
	for _, c := range resp.GetCapabilities() {
		if c.GetRpc().GetType() == csi.ControllerServiceCapability_RPC_EXPAND_VOLUME {
			return []codes.Code{otherwise}
		}
	}
	return []codes.Code{codes.Unimplemented}
}
