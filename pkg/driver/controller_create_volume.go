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
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
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

func (c *Controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if err := checkName("volume", name); err != nil {
		return nil, err
	}
	params, zone, err := c.volumeRequest(req)
	if err != nil {
		return nil, err
	}
	release, err := hold(&c.inFlight, "volume-name/"+name, "volume "+name)
	if err != nil {
		return nil, err
	}
	defer release()

	src, err := c.parseSource(req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}
	if _, err := sizeRange(req.GetCapacityRange(), 0, c.caps.MinSizeGiB, c.caps.MaxSizeGiB); err != nil {
		return nil, err
	}

	c.probePredecessor(ctx)
	// The name first: a retry of a create that went through costs no look
	// at the source (on a 1 call/s cloud every call of a retry counts).
	vol, err := c.existingVolume(ctx, name, req.GetCapacityRange(), src, params, zone)
	if err != nil {
		return nil, err
	}
	// Only a volume still being made is made again if the cloud fails it;
	// one made already (a retry whose answer was lost) may hold data.
	remakable := vol == nil || stillMaking(vol, src)
	madeHere := false
	for try := 1; ; try++ {
		if vol == nil {
			if vol, err = c.newVolume(ctx, name, req.GetCapacityRange(), src, params, zone); err != nil {
				return nil, err
			}
			madeHere = true
		}
		got, err := c.waitCreated(ctx, vol, src)
		if err == nil {
			vol = got
			break
		}
		if !remakable || !c.dropFailed(ctx, c.volumeKind(), vol.ID, try, err) {
			return nil, c.notReady(ctx, err, c.volumeKind(), vol.Name, vol.ID)
		}
		vol = nil
	}
	if err := c.checkTwins(ctx, c.volumeTwins(), name, vol.ID, vol.CreatedAt, madeHere); err != nil {
		return nil, err
	}
	if src.backupID != "" {
		if err := c.reclaimRestored(ctx, vol, src); err != nil {
			return nil, err
		}
	}
	if err := c.requireEncrypted(ctx, vol, params); err != nil {
		return nil, err
	}
	if err := c.requireMultiattach(ctx, vol, req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	return &csi.CreateVolumeResponse{Volume: c.csiVolume(vol, params, req.GetVolumeContentSource())}, nil
}

// volumeRequest reads what a CreateVolume asks for from the request alone:
// its parameters and the volume zone to create it in.
func (c *Controller) volumeRequest(req *csi.CreateVolumeRequest) (params volumeParams, zone string, err error) {
	if err := checkCapabilities(req.GetVolumeCapabilities(), c.caps.MultiAttach); err != nil {
		return params, "", err
	}
	params, err = parseVolumeParams(req.GetParameters())
	if err != nil {
		return params, "", err
	}
	if fs := firstMountFS(req.GetVolumeCapabilities()); fs != "" && params.fsType == "" {
		params.fsType = fs
	}
	params.computeZone, zone, err = c.pickZone(params.zone, req.GetAccessibilityRequirements())
	if err != nil {
		return params, "", err
	}
	if len(req.GetMutableParameters()) > 0 {
		mp, err := parseMutableParams(req.GetMutableParameters())
		if err != nil {
			return params, "", err
		}
		if mp.volumeType != "" {
			params.volumeType = mp.volumeType
		}
	}
	if params.encrypted && !c.caps.Encryption {
		return params, "", invalid("parameter %s: this cloud's volumes do not say whether they are encrypted, so an encrypted volume cannot be guaranteed", ParamEncrypted)
	}
	return params, zone, nil
}

// newVolume creates the volume no earlier attempt made: its source must
// be ready, and sets the floor of its size.
func (c *Controller) newVolume(ctx context.Context, name string, cr *csi.CapacityRange, src source, params volumeParams, zone string) (*cloud.Volume, error) {
	floorGiB, err := c.checkSource(ctx, src)
	if err != nil {
		return nil, err
	}
	sizeGiB, err := sizeRange(cr, floorGiB, c.caps.MinSizeGiB, c.caps.MaxSizeGiB)
	if err != nil {
		return nil, err
	}
	md := maps.Clone(params.metadata)
	md[MetaRequestName] = name
	if s := src.String(); s != "" {
		md[MetaSource] = s
	}
	vr := cloud.CreateVolumeRequest{
		Name: name, SizeGiB: sizeGiB, VolumeType: params.volumeType, Zone: zone,
		SnapshotID: src.snapshotID, SourceVolumeID: src.volumeID, BackupID: src.backupID,
		Metadata: md, Description: describe(params.metadata),
	}
	if src.backupID != "" {
		vr.Description += restoreNote + src.backupID + ")"
	}
	answered := c.twins.sending(c.volumeTwins().name, name)
	vol, err := c.cloud.CreateVolume(ctx, vr)
	if err != nil && vr.BackupID != "" && errors.Is(err, cloud.ErrUnsupported) {
		// No native create-from-backup (Cinder before v3.47): create it
		// empty; waitCreated restores the backup into it.
		vr.BackupID = ""
		vol, err = c.cloud.CreateVolume(ctx, vr)
	}
	answered(err)
	if err != nil {
		return nil, failed(err, "creating volume %s (%d GiB)", name, sizeGiB)
	}
	klog.FromContext(ctx).V(2).Info("Volume created", "id", vol.ID, "sizeGiB", sizeGiB, "zone", vol.Zone, "source", src.String())
	return vol, nil
}

// existingVolume finds a volume a previous attempt created under name. It
// returns nil when there is none (or it was cleaned up here because it had
// failed), AlreadyExists when it does not match the request.
func (c *Controller) existingVolume(ctx context.Context, name string, cr *csi.CapacityRange, src source, params volumeParams, zone string) (*cloud.Volume, error) {
	vol, err := c.lookup.Volume(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up volume %s", name)
	}
	if vol == nil {
		return nil, nil
	}
	if gone(vol.Status) {
		// A failed earlier attempt: remove it and start over.
		return nil, c.replaceFailed(ctx, c.volumeKind(), name, vol.ID, vol.Status, vol.RawStatus)
	}
	size := int64(vol.SizeGiB) * GiB
	if size < cr.GetRequiredBytes() || (cr.GetLimitBytes() > 0 && size > cr.GetLimitBytes()) {
		return nil, alreadyExists("volume %s exists with %d GiB, which does not fit the requested range", name, vol.SizeGiB)
	}
	// The source is compared where the cloud keeps a record of it: our
	// metadata key, else the source fields it reports. A cloud that keeps
	// neither (Lunanode has no metadata) cannot contradict the request, nor
	// can metadata a restore put in place of ours (restoreReplacedMetadata):
	// it describes the backed-up volume.
	if have := vol.Metadata[MetaSource]; have != "" && !restoreReplacedMetadata(vol) {
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

// stillMaking: vol, found under the request's name, is still being made
// (created, or an empty volume for src's backup not yet restored into).
func stillMaking(vol *cloud.Volume, src source) bool {
	switch {
	case vol.Status == cloud.StatusCreating, vol.Status == cloud.StatusRestoring:
		return true
	case src.backupID != "" && vol.SourceBackupID == "":
		return vol.Status == cloud.StatusAvailable && vol.Metadata[MetaRestored] != src.backupID && !restoreReplacedMetadata(vol)
	}
	return false
}

// waitCreated waits for a new volume to become usable. Its error is the
// cloud's (cloud.ErrFailed: the volume ended in an error state), for the
// caller to remake the volume or hand it to the janitor.
func (c *Controller) waitCreated(ctx context.Context, vol *cloud.Volume, src source) (*cloud.Volume, error) {
	if src.backupID != "" && vol.SourceBackupID == "" {
		// The provider made an empty volume; the backup is restored into it.
		return c.restoreInto(ctx, vol, src)
	}
	op := waiter.OpCreate
	if src != (source{}) {
		op = waiter.OpRestore // copying data in takes longer than an empty create
	}
	return c.waiter.WaitVolumeOp(ctx, op, vol.ID, waiter.VolumeReady(cloud.StatusAvailable, cloud.StatusInUse))
}

// requireEncrypted: a StorageClass that asks for encryption gets an
// encrypted volume or none. Whether a type encrypts is the operator's
// setting, known for sure only once the cloud reports the volume, so an
// unencrypted one is deleted here rather than handed out.
func (c *Controller) requireEncrypted(ctx context.Context, vol *cloud.Volume, p volumeParams) error {
	if !p.encrypted || vol.Encrypted {
		return nil
	}
	msg := fmt.Sprintf("volume %s (%s) of type %q is not encrypted, and the StorageClass asks for %s: \"true\"; name an encrypted volume type", vol.Name, vol.ID, vol.VolumeType, ParamEncrypted)
	return c.refuseCreated(ctx, vol, msg)
}

// requireMultiattach: a volume asked for with a multi-node access mode
// must be one the cloud attaches to several servers, which its type
// decides (Cinder: extra spec multiattach="<is> True"); one that is not is
// deleted rather than handed out for a second node's attach to fail.
func (c *Controller) requireMultiattach(ctx context.Context, vol *cloud.Volume, vcs []*csi.VolumeCapability) error {
	mode := multiNodeMode(vcs)
	if mode == "" || vol.Multiattach {
		return nil
	}
	msg := fmt.Sprintf("volume %s (%s) of type %q cannot be attached to several nodes, and access mode %s needs that; name a multi-attach volume type (extra spec multiattach=\"<is> True\")", vol.Name, vol.ID, vol.VolumeType, mode)
	return c.refuseCreated(ctx, vol, msg)
}

func (c *Controller) csiVolume(v *cloud.Volume, p volumeParams, cs *csi.VolumeContentSource) *csi.Volume {
	out := &csi.Volume{
		VolumeId:      v.ID,
		CapacityBytes: int64(v.SizeGiB) * GiB,
		VolumeContext: p.volumeContext(),
		ContentSource: cs,
	}
	out.AccessibleTopology = c.topology(v, p.computeZone)
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

// restoreNote marks the description of a volume made to restore a
// backup into. A restore replaces the volume's metadata with the
// backed-up volume's and keeps its name and description, so until the
// driver writes its own keys back (reclaimRestored) the description is
// what says the volume is the driver's (unreclaimedRestore).
const restoreNote = " (from backup "

func describe(md map[string]string) string {
	if ns, pvc := md[ParamPVCNamespace], md[ParamPVCName]; pvc != "" {
		return fmt.Sprintf("Kubernetes volume for PVC %s/%s", ns, pvc)
	}
	return "Kubernetes volume"
}

// refuseCreated deletes a volume the cloud made but the request cannot
// use, and waits until it is gone: the refusal leaves nothing behind, not
// even a volume still deleting that a listing or a retry by name would see.
func (c *Controller) refuseCreated(ctx context.Context, vol *cloud.Volume, msg string) error {
	if err := c.cloud.DeleteVolume(context.WithoutCancel(ctx), vol.ID); err != nil && !cloud.IsNotFound(err) {
		return failed(err, "%s; deleting it failed, delete it by hand", msg)
	}
	if err := c.waiter.WaitVolumeGone(ctx, vol.ID); err != nil {
		return failed(err, "%s; its deletion did not finish, check it is gone", msg)
	}
	return invalid("%s; it was deleted", msg)
}
