package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// source is what a new volume is made from.
type source struct {
	snapshotID string
	volumeID   string
	backupID   string
}

func (s source) String() string {
	switch {
	case s.snapshotID != "":
		return "snapshot:" + s.snapshotID
	case s.volumeID != "":
		return "volume:" + s.volumeID
	case s.backupID != "":
		return "backup:" + s.backupID
	}
	return ""
}

func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if err := checkName("volume", name); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities(), d.caps.MultiAttach); err != nil {
		return nil, err
	}
	params, err := parseVolumeParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if fs := firstMountFS(req.GetVolumeCapabilities()); fs != "" && params.fsType == "" {
		params.fsType = fs
	}
	var zone string
	params.computeZone, zone, err = d.pickZone(params.zone, req.GetAccessibilityRequirements())
	if err != nil {
		return nil, err
	}
	if len(req.GetMutableParameters()) > 0 {
		mp, err := parseMutableParams(req.GetMutableParameters())
		if err != nil {
			return nil, err
		}
		if mp.volumeType != "" {
			params.volumeType = mp.volumeType
		}
	}
	if params.encrypted && !d.caps.Encryption {
		return nil, invalid("parameter %s: this cloud's volumes do not say whether they are encrypted, so an encrypted volume cannot be guaranteed", ParamEncrypted)
	}
	if !d.inFlight.Insert("volume-name/" + name) {
		return nil, aborted("volume " + name)
	}
	defer d.inFlight.Delete("volume-name/" + name)

	src, err := d.parseSource(req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}
	if _, err := sizeRange(req.GetCapacityRange(), 0, d.caps.MinSizeGiB, d.caps.MaxSizeGiB); err != nil {
		return nil, err
	}

	// The name first: a retry of a create that went through costs no look
	// at the source (on a 1 call/s cloud every call of a retry counts).
	vol, err := d.existingVolume(ctx, name, req.GetCapacityRange(), src, params, zone)
	if err != nil {
		return nil, err
	}
	if vol == nil {
		floorGiB, err := d.checkSource(ctx, src)
		if err != nil {
			return nil, err
		}
		sizeGiB, err := sizeRange(req.GetCapacityRange(), floorGiB, d.caps.MinSizeGiB, d.caps.MaxSizeGiB)
		if err != nil {
			return nil, err
		}
		md := maps.Clone(params.metadata)
		md[MetaRequestName] = name
		if s := src.String(); s != "" {
			md[MetaSource] = s
		}
		cr := cloud.CreateVolumeRequest{
			Name: name, SizeGiB: sizeGiB, VolumeType: params.volumeType, Zone: zone,
			SnapshotID: src.snapshotID, SourceVolumeID: src.volumeID, BackupID: src.backupID,
			Metadata: md, Description: describe(params.metadata),
		}
		vol, err = d.cloud.CreateVolume(ctx, cr)
		if err != nil && cr.BackupID != "" && errors.Is(err, cloud.ErrUnsupported) {
			// No native create-from-backup (Cinder before v3.47): create it
			// empty; waitCreated restores the backup into it.
			cr.BackupID = ""
			vol, err = d.cloud.CreateVolume(ctx, cr)
		}
		if err != nil {
			return nil, failed(err, "creating volume %s (%d GiB)", name, sizeGiB)
		}
		klog.V(2).InfoS("Volume created", "name", name, "id", vol.ID, "sizeGiB", sizeGiB, "zone", vol.Zone, "source", src.String())
	}
	vol, err = d.waitCreated(ctx, vol, src)
	if err != nil {
		return nil, err
	}
	if err := d.requireEncrypted(ctx, vol, params); err != nil {
		return nil, err
	}
	return &csi.CreateVolumeResponse{Volume: d.csiVolume(vol, params, req.GetVolumeContentSource())}, nil
}

// existingVolume finds a volume a previous attempt created under name. It
// returns nil when there is none (or it was cleaned up here because it had
// failed), AlreadyExists when it does not match the request.
func (d *Driver) existingVolume(ctx context.Context, name string, cr *csi.CapacityRange, src source, params volumeParams, zone string) (*cloud.Volume, error) {
	vol, err := d.waiter.FindVolumeByName(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up volume %s", name)
	}
	if vol == nil {
		return nil, nil
	}
	if gone(vol.Status) {
		// A failed earlier attempt: remove it and start over.
		return nil, d.replaceFailed(ctx, d.volumeKind(), name, vol.ID, vol.Status, vol.RawStatus)
	}
	size := int64(vol.SizeGiB) * GiB
	if size < cr.GetRequiredBytes() || (cr.GetLimitBytes() > 0 && size > cr.GetLimitBytes()) {
		return nil, alreadyExists("volume %s exists with %d GiB, which does not fit the requested range", name, vol.SizeGiB)
	}
	// The source is compared where the cloud keeps a record of it: our
	// metadata key, else the source fields it reports. A cloud that keeps
	// neither (Lunanode has no metadata) cannot contradict the request.
	if have := vol.Metadata[MetaSource]; have != "" {
		if have != src.String() {
			return nil, alreadyExists("volume %s exists with source %q, not %q", name, have, src.String())
		}
	} else if reportsSource(vol) && !sameSource(vol, src) {
		return nil, alreadyExists("volume %s exists but was not created from %q", name, src.String())
	}
	if params.volumeType != "" && vol.VolumeType != "" && vol.VolumeType != params.volumeType {
		return nil, alreadyExists("volume %s exists with type %q, not %q", name, vol.VolumeType, params.volumeType)
	}
	if zone != "" && vol.Zone != "" && vol.Zone != zone {
		return nil, alreadyExists("volume %s exists in zone %q, not %q", name, vol.Zone, zone)
	}
	return vol, nil
}

func reportsSource(v *cloud.Volume) bool {
	return v.SourceSnapshotID != "" || v.SourceVolumeID != "" || v.SourceBackupID != ""
}

// sameSource compares the reported source with the request's. A provider
// may report a bare id where the CSI id carries a prefix (region/id).
func sameSource(v *cloud.Volume, s source) bool {
	same := func(reported, want string) bool {
		return reported == want || (reported != "" && strings.HasSuffix(want, "/"+reported))
	}
	return same(v.SourceSnapshotID, s.snapshotID) && same(v.SourceVolumeID, s.volumeID) && same(v.SourceBackupID, s.backupID)
}

// waitCreated waits for a new volume to become usable; a volume that ends
// in an error state is deleted, so a failed create leaks nothing.
func (d *Driver) waitCreated(ctx context.Context, vol *cloud.Volume, src source) (*cloud.Volume, error) {
	ready := cloud.VolumeReady(cloud.StatusAvailable, cloud.StatusInUse)
	got, err := d.waiter.WaitVolume(ctx, vol.ID, ready)
	if err == nil && src.backupID != "" && got.SourceBackupID == "" && got.Metadata[MetaRestored] == "" {
		// The provider made an empty volume; restore the backup into it.
		got, err = d.restoreInto(ctx, got, src.backupID)
	}
	if err == nil {
		return got, nil
	}
	return nil, d.notReady(err, d.volumeKind(), vol.Name, vol.ID)
}

// requireEncrypted: a StorageClass that asks for encryption gets an
// encrypted volume or none. Whether a type encrypts is the operator's
// setting, known for sure only once the cloud reports the volume, so an
// unencrypted one is deleted here rather than handed out.
func (d *Driver) requireEncrypted(ctx context.Context, vol *cloud.Volume, p volumeParams) error {
	if !p.encrypted || vol.Encrypted {
		return nil
	}
	msg := fmt.Sprintf("volume %s (%s) of type %q is not encrypted, and the StorageClass asks for %s: \"true\"; name an encrypted volume type", vol.Name, vol.ID, vol.VolumeType, ParamEncrypted)
	if err := d.cloud.DeleteVolume(context.WithoutCancel(ctx), vol.ID); err != nil && !cloud.IsNotFound(err) {
		return failed(err, "%s; deleting it failed, delete it by hand", msg)
	}
	return invalid("%s; it was deleted", msg)
}

// MetaRestored marks a volume into which the driver restored a backup
// itself (clouds without native create-from-backup).
const MetaRestored = "block.csi.openblock.io/restored-backup"

func (d *Driver) restoreInto(ctx context.Context, vol *cloud.Volume, backupID string) (*cloud.Volume, error) {
	if err := d.cloud.RestoreBackup(ctx, backupID, vol.ID); err != nil {
		return nil, err
	}
	got, err := d.waiter.WaitVolume(ctx, vol.ID, func(v *cloud.Volume) (bool, error) {
		return v.Status == cloud.StatusAvailable, nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.cloud.SetVolumeMetadata(ctx, vol.ID, map[string]string{MetaRestored: backupID}); err != nil {
		return nil, err
	}
	return got, nil
}

// parseSource reads a content source from the request alone: ids the
// cloud cannot hold are NotFound, kinds it does not offer InvalidArgument.
func (d *Driver) parseSource(cs *csi.VolumeContentSource) (source, error) {
	if cs == nil {
		return source{}, nil
	}
	if s := cs.GetSnapshot(); s != nil {
		id := s.GetSnapshotId()
		if id == "" {
			return source{}, invalid("content source snapshot id is missing")
		}
		if backupID, ok := strings.CutPrefix(id, BackupPrefix); ok {
			if !d.caps.Backups {
				return source{}, invalid("snapshot %s is a backup, but this cloud has no backups", id)
			}
			if !wellFormedID(backupID) {
				return source{}, notFound("snapshot %s not found", id)
			}
			return source{backupID: backupID}, nil
		}
		if !d.caps.Snapshots {
			return source{}, invalid("this cloud has no snapshots")
		}
		if !wellFormedID(id) {
			return source{}, notFound("snapshot %s not found", id)
		}
		return source{snapshotID: id}, nil
	}
	if v := cs.GetVolume(); v != nil {
		id := v.GetVolumeId()
		if id == "" {
			return source{}, invalid("content source volume id is missing")
		}
		if !d.caps.Clone {
			return source{}, invalid("this cloud cannot clone volumes")
		}
		if !wellFormedID(id) {
			return source{}, notFound("volume %s not found", id)
		}
		return source{volumeID: id}, nil
	}
	return source{}, invalid("unknown volume content source")
}

// checkSource asks the cloud about the source of a volume about to be
// created: it must exist (and a snapshot be ready); its size is the floor
// of the new volume's.
func (d *Driver) checkSource(ctx context.Context, src source) (int, error) {
	switch {
	case src.backupID != "":
		id := BackupPrefix + src.backupID
		b, err := d.cloud.GetBackup(ctx, src.backupID)
		if err != nil {
			return 0, failed(err, "source snapshot %s", id)
		}
		if b.Status != cloud.StatusAvailable {
			return 0, precondition("source snapshot %s is %s, not available", id, b.RawStatus)
		}
		return b.SizeGiB, nil
	case src.snapshotID != "":
		snap, err := d.cloud.GetSnapshot(ctx, src.snapshotID)
		if err != nil {
			return 0, failed(err, "source snapshot %s", src.snapshotID)
		}
		if snap.Status != cloud.StatusAvailable {
			return 0, precondition("source snapshot %s is %s, not available", src.snapshotID, snap.RawStatus)
		}
		return snap.SizeGiB, nil
	case src.volumeID != "":
		vol, err := d.cloud.GetVolume(ctx, src.volumeID)
		if err != nil {
			return 0, failed(err, "source volume %s", src.volumeID)
		}
		return vol.SizeGiB, nil
	}
	return 0, nil
}

func (d *Driver) csiVolume(v *cloud.Volume, p volumeParams, cs *csi.VolumeContentSource) *csi.Volume {
	out := &csi.Volume{
		VolumeId:      v.ID,
		CapacityBytes: int64(v.SizeGiB) * GiB,
		VolumeContext: p.volumeContext(),
		ContentSource: cs,
	}
	out.AccessibleTopology = d.topology(v, p.computeZone)
	return out
}

func firstMountFS(vcs []*csi.VolumeCapability) string {
	for _, vc := range vcs {
		if fs := vc.GetMount().GetFsType(); fs != "" {
			return strings.ToLower(fs)
		}
	}
	return ""
}

func describe(md map[string]string) string {
	if ns, pvc := md[ParamPVCNamespace], md[ParamPVCName]; pvc != "" {
		return fmt.Sprintf("Kubernetes volume for PVC %s/%s", ns, pvc)
	}
	return "Kubernetes volume"
}

func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	if !wellFormedID(id) {
		// Cannot exist, so it is already deleted.
		return &csi.DeleteVolumeResponse{}, nil
	}
	if !d.inFlight.Insert("volume/" + id) {
		return nil, aborted("volume " + id)
	}
	defer d.inFlight.Delete("volume/" + id)

	err := d.cloud.DeleteVolume(ctx, id)
	switch {
	case err == nil:
	case cloud.IsNotFound(err):
		return &csi.DeleteVolumeResponse{}, nil
	case errors.Is(err, cloud.ErrWrongState):
		// Only now look at the volume, to say why.
		vol, gerr := d.cloud.GetVolume(ctx, id)
		switch {
		case cloud.IsNotFound(gerr):
			return &csi.DeleteVolumeResponse{}, nil
		case gerr != nil:
			return nil, failed(err, "deleting volume %s", id)
		case vol.Status == cloud.StatusDeleting:
			// Already going; wait below.
		case len(vol.Attachments) > 0:
			return nil, precondition("volume %s is attached to %s; unpublish it first", id, servers(vol))
		case vol.Status == cloud.StatusAvailable:
			if cerr := d.clearFailedSnapshots(ctx, id); cerr != nil {
				return nil, cerr
			}
			if err := d.cloud.DeleteVolume(ctx, id); err != nil && !cloud.IsNotFound(err) {
				return nil, failed(err, "deleting volume %s", id)
			}
		case vol.Status.IsError():
			return nil, failed(err, "deleting volume %s: it is in %s and the cloud refused to delete it", id, vol.RawStatus)
		default:
			return nil, failed(err, "deleting volume %s: it is %s; retry once that finishes", id, vol.RawStatus)
		}
	default:
		return nil, failed(err, "deleting volume %s", id)
	}
	if err := d.waiter.WaitVolumeGone(ctx, id); err != nil {
		return nil, failed(err, "waiting for volume %s to be deleted", id)
	}
	klog.V(2).InfoS("Volume deleted", "id", id)
	return &csi.DeleteVolumeResponse{}, nil
}

func servers(v *cloud.Volume) string {
	var s []string
	for _, a := range v.Attachments {
		s = append(s, a.ServerID)
	}
	return strings.Join(s, ", ")
}
