package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

const gib = 1 << 30

// lifecycle is one randomized walk through a volume's life, as Kubernetes
// drives it: create, attach, stage, publish, write a pattern, derive copies
// (snapshot, backup, clone) and read the pattern back from each, expand,
// and tear everything down.
type lifecycle struct {
	e    *env
	idx  int
	base string
	rnd  *rand.Rand

	vols  []*vol   // owned volumes, the source first
	snaps []string // owned snapshot ids
	trace []string

	// Creates sent and not yet answered, by name. Kubernetes finishes
	// these even for an object deleted meanwhile (the provisioner keeps
	// a claim in progress; the snapshotter's being-created annotation
	// holds the content) and then deletes what they made: the teardown
	// does the same.
	pendingVols  map[string]*csi.CreateVolumeRequest
	pendingSnaps map[string]*csi.CreateSnapshotRequest

	dataErrors []string

	mu      sync.Mutex // guards opName, opStart (parallel senders)
	opName  string
	opStart time.Time
}

type vol struct {
	id, name string
	derived  bool
	att      *attachment // nil when not published to the node
}

type attachment struct {
	pubCtx          map[string]string
	staging, target string
	staged, mounted bool
}

func newLifecycle(e *env, idx int) *lifecycle {
	return &lifecycle{
		e: e, idx: idx,
		base: fmt.Sprintf("pvc-soak-%d-%04d", e.seed%1_000_000, idx),
		rnd:  rand.New(rand.NewPCG(uint64(e.seed), uint64(idx))),

		pendingVols:  map[string]*csi.CreateVolumeRequest{},
		pendingSnaps: map[string]*csi.CreateSnapshotRequest{},
	}
}

func (l *lifecycle) step(format string, args ...any) {
	l.trace = append(l.trace, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// op runs one step with the sidecar's retries, bounded by opBudget.
func (l *lifecycle) op(ctx context.Context, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, opBudget)
	defer cancel()
	l.mu.Lock()
	l.step("%s", what)
	l.opName, l.opStart = what, time.Now()
	l.mu.Unlock()
	return l.e.call(ctx, what, fn)
}

// current is the step under way (or last run) and how long it has taken.
func (l *lifecycle) current() (string, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.opName, time.Since(l.opStart)
}

func (l *lifecycle) run(ctx context.Context) error {
	e := l.e
	src, err := l.createVolume(ctx, "src", nil)
	if err != nil {
		return err
	}
	if err := l.attach(ctx, src); err != nil {
		return err
	}
	var pat *pattern
	if e.nodeSteps {
		p := newPattern(l.rnd)
		l.step("write %d MiB pattern", p.size/mib)
		if err := p.write(src.att.target); err != nil {
			return fmt.Errorf("writing the pattern: %w", err)
		}
		pat = &p
	}

	kinds := []string{"snapshot"}
	if e.b.Backups {
		kinds = append(kinds, "backup")
	}
	if e.clone {
		kinds = append(kinds, "clone")
	}
	l.rnd.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	kinds = kinds[:1+l.rnd.IntN(min(2, len(kinds)))]
	for _, kind := range kinds {
		if !e.b.SnapshotOfAttached && src.att != nil {
			// This cloud copies only detached volumes.
			if err := l.detach(ctx, src); err != nil {
				return err
			}
		}
		var cs *csi.VolumeContentSource
		snapID := ""
		if kind == "clone" {
			cs = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.id}}}
		} else {
			if snapID, err = l.createSnapshot(ctx, kind, src); err != nil {
				return err
			}
			cs = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
		}
		cp, err := l.createVolume(ctx, "from-"+kind, cs)
		if err != nil {
			return err
		}
		if err := l.verifyCopy(ctx, cp, pat, kind); err != nil {
			return err
		}
		if snapID != "" && l.rnd.IntN(2) == 0 {
			if err := l.deleteSnapshot(ctx, snapID); err != nil {
				return err
			}
		}
	}
	if e.expansion != csi.PluginCapability_VolumeExpansion_UNKNOWN && l.rnd.Float64() < 0.6 {
		if err := l.expand(ctx, src, pat); err != nil {
			return err
		}
	}
	return l.teardown(ctx)
}

// createVolume creates base-suffix. Now and then it sends the request twice
// at once (a provisioner restarting mid-call) and once more after success
// (a lost answer); every answer must name the same volume.
func (l *lifecycle) createVolume(ctx context.Context, suffix string, cs *csi.VolumeContentSource) (*vol, error) {
	name := l.base + "-" + suffix
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: 1 * gib},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
		Parameters: map[string]string{
			"csi.storage.k8s.io/pvc/name":      name,
			"csi.storage.k8s.io/pvc/namespace": "soak",
			"csi.storage.k8s.io/pv/name":       "pv-" + name,
		},
		VolumeContentSource: cs,
	}
	senders := 1
	if l.rnd.Float64() < 0.2 {
		senders = 2
	}
	l.pendingVols[name] = req
	ids, err := l.parallel(ctx, senders, "CreateVolume "+name, l.sendCreateVolume(req))
	// Whatever was answered is owned, so the teardown deletes it all.
	var v *vol
	for _, id := range ids {
		nv := &vol{id: id, name: name, derived: cs != nil}
		l.vols = append(l.vols, nv)
		if v == nil {
			v = nv
		}
	}
	if len(ids) > 0 {
		delete(l.pendingVols, name)
	}
	if err != nil {
		return nil, err
	}
	if l.rnd.Float64() < 0.2 {
		again, err := l.parallel(ctx, 1, "CreateVolume "+name+" (repeated)", l.sendCreateVolume(req))
		for _, id := range again {
			if id != v.id {
				l.vols = append(l.vols, &vol{id: id, name: name, derived: cs != nil})
			}
		}
		if err != nil {
			return nil, err
		}
	}
	l.step("volume %s is %s", name, v.id)
	return v, nil
}

// parallel runs n senders of the same request, each retrying until it
// succeeds, and returns the distinct ids they got.
func (l *lifecycle) parallel(ctx context.Context, n int, what string, fn func(context.Context) (string, error)) ([]string, error) {
	var mu sync.Mutex
	var ids []string
	var errs []error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.op(ctx, what, func(ctx context.Context) error {
				id, err := fn(ctx)
				if err == nil {
					mu.Lock()
					if !slices.Contains(ids, id) {
						ids = append(ids, id)
					}
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

func (l *lifecycle) createSnapshot(ctx context.Context, kind string, v *vol) (string, error) {
	name := l.base + "-" + kind
	req := &csi.CreateSnapshotRequest{
		SourceVolumeId: v.id, Name: name,
		Parameters: map[string]string{"csi.storage.k8s.io/volumesnapshot/name": name},
	}
	if kind == "backup" {
		req.Parameters["type"] = "backup"
	}
	senders := 1
	if l.rnd.Float64() < 0.2 {
		senders = 2
	}
	l.pendingSnaps[name] = req
	ids, err := l.parallel(ctx, senders, "CreateSnapshot "+name, l.sendCreateSnapshot(req))
	l.snaps = append(l.snaps, ids...)
	if len(ids) > 0 {
		delete(l.pendingSnaps, name)
	}
	if err != nil {
		return "", err
	}
	l.step("snapshot %s is %s", name, ids[0])
	return ids[0], nil
}

func (l *lifecycle) deleteSnapshot(ctx context.Context, id string) error {
	err := l.op(ctx, "DeleteSnapshot "+id, func(ctx context.Context) error {
		_, err := l.e.cc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
		return err
	})
	if err == nil {
		l.snaps = slices.DeleteFunc(l.snaps, func(s string) bool { return s == id })
	}
	return err
}

func (l *lifecycle) deleteVolume(ctx context.Context, v *vol) error {
	err := l.op(ctx, "DeleteVolume "+v.id, func(ctx context.Context) error {
		_, err := l.e.cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.id})
		return err
	})
	if err == nil {
		l.vols = slices.DeleteFunc(l.vols, func(x *vol) bool { return x == v })
	}
	return err
}

// attach publishes v to the node and, with node steps, stages and mounts it.
func (l *lifecycle) attach(ctx context.Context, v *vol) error {
	e := l.e
	dir := filepath.Join(e.work, "mnt", v.name)
	a := &attachment{staging: filepath.Join(dir, "staging"), target: filepath.Join(dir, "target")}
	v.att = a
	if err := l.op(ctx, "ControllerPublishVolume "+v.id, func(ctx context.Context) error {
		resp, err := e.cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
			VolumeId: v.id, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4"),
		})
		if err == nil {
			a.pubCtx = resp.GetPublishContext()
		}
		return err
	}); err != nil {
		return err
	}
	if !e.nodeSteps {
		return nil
	}
	if err := os.MkdirAll(a.staging, 0o750); err != nil {
		return err
	}
	a.staged = true // from the first attempt on, unstaging is owed
	if err := l.op(ctx, "NodeStageVolume "+v.id, func(ctx context.Context) error {
		_, err := e.nc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: v.id, PublishContext: a.pubCtx, StagingTargetPath: a.staging, VolumeCapability: csicap.Mount("ext4"),
		})
		return err
	}); err != nil {
		return err
	}
	a.mounted = true
	return l.op(ctx, "NodePublishVolume "+v.id, func(ctx context.Context) error {
		_, err := e.nc.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: v.id, PublishContext: a.pubCtx, StagingTargetPath: a.staging,
			TargetPath: a.target, VolumeCapability: csicap.Mount("ext4"),
		})
		return err
	})
}

// detach undoes attach, node side first, as kubelet and the attacher do.
func (l *lifecycle) detach(ctx context.Context, v *vol) error {
	e, a := l.e, v.att
	if a == nil {
		return nil
	}
	if a.mounted {
		if err := l.op(ctx, "NodeUnpublishVolume "+v.id, func(ctx context.Context) error {
			_, err := e.nc.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: a.target})
			return err
		}); err != nil {
			return err
		}
		a.mounted = false
	}
	if a.staged {
		if err := l.op(ctx, "NodeUnstageVolume "+v.id, func(ctx context.Context) error {
			_, err := e.nc.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: a.staging})
			return err
		}); err != nil {
			return err
		}
		a.staged = false
	}
	if err := l.op(ctx, "ControllerUnpublishVolume "+v.id, func(ctx context.Context) error {
		_, err := e.cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.id, NodeId: harness.LocalServerID})
		return err
	}); err != nil {
		return err
	}
	v.att = nil
	return nil
}

// verifyCopy attaches a restored or cloned volume, reads the pattern back,
// and deletes the copy again.
func (l *lifecycle) verifyCopy(ctx context.Context, v *vol, pat *pattern, kind string) error {
	if err := l.attach(ctx, v); err != nil {
		return err
	}
	if pat != nil {
		if err := pat.check(v.att.target); err != nil {
			if !errors.Is(err, errData) {
				return err
			}
			l.dataErrors = append(l.dataErrors, fmt.Sprintf("%s from %s: %v", v.name, kind, err))
			l.step("DATA ERROR: %v", err)
		} else {
			l.step("pattern intact on %s", v.name)
		}
	}
	if err := l.detach(ctx, v); err != nil {
		return err
	}
	return l.deleteVolume(ctx, v)
}

// expand grows the source to 2 GiB, online or offline as the cloud allows,
// then checks that the filesystem grew and the pattern survived.
func (l *lifecycle) expand(ctx context.Context, v *vol, pat *pattern) error {
	e := l.e
	const newSize = 2 * gib
	// Growing a mounted ext4 needs CAP_SYS_RESOURCE; without it the volume
	// is expanded detached, and NodeStage grows the filesystem before
	// mounting it when it is attached again.
	online := e.expansion == csi.PluginCapability_VolumeExpansion_ONLINE && (!e.nodeSteps || e.growFS)
	if !online && v.att != nil {
		if err := l.detach(ctx, v); err != nil {
			return err
		}
	}
	var nodeExpansion bool
	if err := l.op(ctx, "ControllerExpandVolume "+v.id, func(ctx context.Context) error {
		resp, err := e.cc.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
			VolumeId: v.id, CapacityRange: &csi.CapacityRange{RequiredBytes: newSize}, VolumeCapability: csicap.Mount("ext4"),
		})
		if err != nil {
			return err
		}
		if resp.GetCapacityBytes() < newSize {
			return fmt.Errorf("expanded to %d bytes, asked for %d", resp.GetCapacityBytes(), newSize)
		}
		nodeExpansion = resp.GetNodeExpansionRequired()
		return nil
	}); err != nil {
		return err
	}
	if v.att == nil {
		if err := l.attach(ctx, v); err != nil {
			return err
		}
	}
	if !e.nodeSteps {
		return nil
	}
	if nodeExpansion {
		if err := l.op(ctx, "NodeExpandVolume "+v.id, func(ctx context.Context) error {
			_, err := e.nc.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
				VolumeId: v.id, VolumePath: v.att.target, StagingTargetPath: v.att.staging,
				CapacityRange: &csi.CapacityRange{RequiredBytes: newSize}, VolumeCapability: csicap.Mount("ext4"),
			})
			return err
		}); err != nil {
			return err
		}
	}
	size, err := fsBytes(v.att.target)
	if err != nil {
		return err
	}
	if size <= 1*gib {
		return fmt.Errorf("after expanding %s to 2 GiB its filesystem is still %d bytes", v.id, size)
	}
	l.step("filesystem grown to %d MiB", size/mib)
	if pat != nil {
		if err := pat.check(v.att.target); err != nil {
			if !errors.Is(err, errData) {
				return err
			}
			l.dataErrors = append(l.dataErrors, fmt.Sprintf("%s after expansion: %v", v.name, err))
		}
	}
	return nil
}

// teardown releases everything the lifecycle still owns, in the order the
// cloud allows: detach, copies, snapshots, then the source.
func (l *lifecycle) teardown(ctx context.Context) error {
	if err := l.finishCreates(ctx); err != nil {
		return err
	}
	for _, v := range slices.Clone(l.vols) {
		if err := l.detach(ctx, v); err != nil {
			return err
		}
	}
	for _, v := range slices.Clone(l.vols) {
		if v.derived {
			if err := l.deleteVolume(ctx, v); err != nil {
				return err
			}
		}
	}
	for _, s := range slices.Clone(l.snaps) {
		if err := l.deleteSnapshot(ctx, s); err != nil {
			return err
		}
	}
	for _, v := range slices.Clone(l.vols) {
		if err := l.deleteVolume(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// finishCreates sends the creates left unanswered again until each is
// answered, so that the teardown deletes what they made. Their sources
// are still there: the teardown removes them after.
func (l *lifecycle) finishCreates(ctx context.Context) error {
	for name, req := range l.pendingSnaps {
		ids, err := l.parallel(ctx, 1, "CreateSnapshot "+name+" (finishing)", l.sendCreateSnapshot(req))
		if err != nil {
			return err
		}
		l.snaps = append(l.snaps, ids...)
		delete(l.pendingSnaps, name)
	}
	for name, req := range l.pendingVols {
		ids, err := l.parallel(ctx, 1, "CreateVolume "+name+" (finishing)", l.sendCreateVolume(req))
		if err != nil {
			return err
		}
		for _, id := range ids {
			l.vols = append(l.vols, &vol{id: id, name: name, derived: req.VolumeContentSource != nil})
		}
		delete(l.pendingVols, name)
	}
	return nil
}

// sendCreateVolume is one CreateVolume attempt of req, its answer noted in
// the ledger.
func (l *lifecycle) sendCreateVolume(req *csi.CreateVolumeRequest) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		resp, err := l.e.cc.CreateVolume(ctx, req)
		if err != nil {
			return "", err
		}
		l.e.led.answered("volume", req.GetName(), resp.GetVolume().GetVolumeId())
		return resp.GetVolume().GetVolumeId(), nil
	}
}

// sendCreateSnapshot is one CreateSnapshot attempt of req, its answer
// noted in the ledger.
func (l *lifecycle) sendCreateSnapshot(req *csi.CreateSnapshotRequest) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		resp, err := l.e.cc.CreateSnapshot(ctx, req)
		if err != nil {
			return "", err
		}
		if !resp.GetSnapshot().GetReadyToUse() {
			// The driver waits for the cloud; a snapshot it calls done
			// must be usable as a source.
			return "", fmt.Errorf("snapshot %s answered but not ready to use", resp.GetSnapshot().GetSnapshotId())
		}
		l.e.led.answered("snapshot", req.GetName(), resp.GetSnapshot().GetSnapshotId())
		return resp.GetSnapshot().GetSnapshotId(), nil
	}
}
