package contract

import (
	"context"
	"errors"
	"slices"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (s *suite) createGetDelete() {
	name := s.name("plain")
	v := s.createVolume(cloud.CreateVolumeRequest{Name: name, Description: "contract test", Metadata: map[string]string{"csi.storage.k8s.io/pv": name}})
	if v.SizeGiB != s.env.SizeGiB || v.Name != name || v.Status != cloud.StatusAvailable || v.RawStatus == "" {
		s.t.Errorf("volume = %+v", v)
	}
	if v.Serial == "" || len(v.Attachments) != 0 {
		s.t.Errorf("serial %q, attachments %v", v.Serial, v.Attachments)
	}
	if !s.env.NoMetadata && v.Metadata["csi.storage.k8s.io/pv"] != name {
		s.t.Errorf("metadata = %v", v.Metadata)
	}
	if s.env.Zone != "" && v.Zone != s.env.Zone {
		s.t.Errorf("zone = %q, want %q", v.Zone, s.env.Zone)
	} else if s.env.Zone == "" && s.caps.DefaultZone != "" && v.Zone != s.caps.DefaultZone {
		s.t.Errorf("zone = %q, want the default %q", v.Zone, s.caps.DefaultZone)
	}
	if len(s.caps.Zones) > 0 && !slices.Contains(s.caps.Zones, v.Zone) {
		s.t.Errorf("zone %q is not one of the advertised %v", v.Zone, s.caps.Zones)
	}
	s.deleteVolume(v.ID)
	err := s.call(func(ctx context.Context) error { return s.c.DeleteVolume(ctx, v.ID) })
	s.wantKind(err, cloud.ErrNotFound, "delete a deleted volume")
}

func (s *suite) listPagination() {
	var ids []string
	var names []string
	for i := 0; i < 3; i++ {
		v := s.createVolume(cloud.CreateVolumeRequest{})
		ids = append(ids, v.ID)
		names = append(names, v.Name)
	}
	seen := map[string]int{}
	marker := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			s.t.Fatalf("more than 10 pages of 2 for 3 volumes: the marker does not advance")
		}
		var p cloud.Page[cloud.Volume]
		s.must(s.call(func(ctx context.Context) (err error) {
			p, err = s.c.ListVolumes(ctx, cloud.ListOptions{Limit: 2, Marker: marker})
			return err
		}), "list volumes")
		if len(p.Items) > 2 {
			s.t.Errorf("page of %d items with limit 2", len(p.Items))
		}
		for _, v := range p.Items {
			seen[v.ID]++
			if v.Status == "" || v.SizeGiB == 0 {
				s.t.Errorf("listed volume without detail: %+v", v)
			}
		}
		if p.NextMarker == "" {
			break
		}
		if p.NextMarker == marker {
			s.t.Fatalf("NextMarker %q repeats", marker)
		}
		marker = p.NextMarker
	}
	for _, id := range ids {
		if seen[id] != 1 {
			s.t.Errorf("volume %s listed %d times, want once", id, seen[id])
		}
	}

	var p cloud.Page[cloud.Volume]
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListVolumes(ctx, cloud.ListOptions{Name: names[1]})
		return err
	}), "list volumes by name")
	if len(p.Items) != 1 || p.Items[0].ID != ids[1] || p.NextMarker != "" {
		s.t.Errorf("list by name %q = %+v", names[1], p)
	}
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListVolumes(ctx, cloud.ListOptions{Name: s.env.Prefix + "no-such-name"})
		return err
	}), "list volumes by unknown name")
	if len(p.Items) != 0 {
		s.t.Errorf("list by unknown name = %+v", p.Items)
	}
}

func (s *suite) metadata() {
	v := s.createVolume(cloud.CreateVolumeRequest{Metadata: map[string]string{"a": "1", "b": "2"}})
	s.must(s.call(func(ctx context.Context) error {
		return s.c.SetVolumeMetadata(ctx, v.ID, map[string]string{"b": "20", "c": "3"})
	}), "set metadata")
	got := s.waitVolume(v.ID, "with metadata", func(*cloud.Volume) bool { return true })
	want := map[string]string{"a": "1", "b": "20", "c": "3"}
	if s.env.NoMetadata {
		want = nil
	}
	for k, val := range want {
		if got.Metadata[k] != val {
			s.t.Errorf("metadata = %v, want %v merged", got.Metadata, want)
			break
		}
	}
	err := s.call(func(ctx context.Context) error {
		return s.c.SetVolumeMetadata(ctx, s.env.MissingID, map[string]string{"x": "y"})
	})
	s.wantKind(err, cloud.ErrNotFound, "set metadata of a missing volume")
}

func (s *suite) extend() {
	v := s.createVolume(cloud.CreateVolumeRequest{})
	newSize := v.SizeGiB + 1
	err := s.call(func(ctx context.Context) error { return s.c.ExtendVolume(ctx, v.ID, newSize) })
	if s.caps.Expansion == cloud.ExpansionNone {
		s.wantKind(err, cloud.ErrUnsupported, "extend where the size is fixed")
		return
	}
	s.must(err, "extend")
	s.waitVolume(v.ID, "extended", func(v *cloud.Volume) bool {
		return v.SizeGiB == newSize && v.Status == cloud.StatusAvailable
	})
	err = s.call(func(ctx context.Context) error { return s.c.ExtendVolume(ctx, v.ID, newSize-1) })
	if err == nil {
		s.t.Errorf("shrinking a volume succeeded")
	}
}

func (s *suite) attachDetach() {
	if s.env.ServerID == "" {
		s.t.Skip("no server to attach to (Env.ServerID)")
	}
	v := s.createVolume(cloud.CreateVolumeRequest{})
	var a *cloud.Attachment
	s.must(s.call(func(ctx context.Context) (err error) {
		a, err = s.c.AttachVolume(ctx, s.env.ServerID, v.ID)
		return err
	}), "attach")
	if a.ServerID != s.env.ServerID || a.VolumeID != v.ID {
		s.t.Errorf("attachment = %+v", a)
	}
	att := s.waitVolume(v.ID, "in-use", func(v *cloud.Volume) bool {
		return v.Status == cloud.StatusInUse && v.AttachedTo(s.env.ServerID)
	})
	if len(att.Attachments) != 1 || att.Attachments[0].VolumeID != v.ID {
		s.t.Errorf("attachments = %+v", att.Attachments)
	}

	err := s.call(func(ctx context.Context) error { return s.c.DeleteVolume(ctx, v.ID) })
	s.wantKind(err, cloud.ErrWrongState, "delete an attached volume")

	// Online expansion is what the cloud advertises it to be.
	if s.caps.Expansion == cloud.ExpansionOnline {
		newSize := att.SizeGiB + 1
		s.must(s.call(func(ctx context.Context) error { return s.c.ExtendVolume(ctx, v.ID, newSize) }), "extend an attached volume")
		s.waitVolume(v.ID, "extended while in-use", func(v *cloud.Volume) bool {
			return v.SizeGiB == newSize && v.Status == cloud.StatusInUse
		})
	}

	// A snapshot of an attached volume follows the advertised policy.
	if s.caps.Snapshots {
		s.snapshotAttached(v.ID)
	}

	err = s.call(func(ctx context.Context) error { _, err := s.c.AttachVolume(ctx, s.env.MissingID, v.ID); return err })
	s.wantKind(err, cloud.ErrNotFound, "attach to a missing server")

	s.must(s.call(func(ctx context.Context) error { return s.c.DetachVolume(ctx, s.env.ServerID, v.ID) }), "detach")
	s.waitVolume(v.ID, "detached", func(v *cloud.Volume) bool {
		return v.Status == cloud.StatusAvailable && len(v.Attachments) == 0
	})
	err = s.call(func(ctx context.Context) error { return s.c.DetachVolume(ctx, s.env.ServerID, v.ID) })
	s.wantKind(err, cloud.ErrNotFound, "detach a detached volume")
	err = s.call(func(ctx context.Context) error { return s.c.DetachVolume(ctx, s.env.MissingID, v.ID) })
	s.wantKind(err, cloud.ErrNotFound, "detach from a missing server")
	s.deleteVolume(v.ID)
}

func (s *suite) snapshotAttached(volumeID string) {
	try := func(force bool) (*cloud.Snapshot, error) {
		var sn *cloud.Snapshot
		err := s.call(func(ctx context.Context) (err error) {
			sn, err = s.c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: s.name("snap-attached"), VolumeID: volumeID, Force: force})
			return err
		})
		if err == nil {
			s.t.Cleanup(func() {
				s.cleanup("snapshot "+sn.ID, func(ctx context.Context) error { return s.c.DeleteSnapshot(ctx, sn.ID) })
			})
		}
		return sn, err
	}
	switch s.caps.SnapshotAttached {
	case cloud.SnapshotAttachedForbidden:
		_, err := try(true)
		s.wantKind(err, cloud.ErrWrongState, "snapshot an attached volume where forbidden")
	case cloud.SnapshotAttachedForce:
		_, err := try(false)
		s.wantKind(err, cloud.ErrWrongState, "snapshot an attached volume without force")
		sn, err := try(true)
		s.must(err, "snapshot an attached volume with force")
		s.dropSnapshot(s.waitSnapshot(sn.ID).ID)
	case cloud.SnapshotAttachedAllowed:
		sn, err := try(false)
		s.must(err, "snapshot an attached volume")
		s.dropSnapshot(s.waitSnapshot(sn.ID).ID)
	}
}

// dropSnapshot deletes a snapshot and waits until it is gone, so that its
// volume can be deleted.
func (s *suite) dropSnapshot(id string) {
	s.t.Helper()
	s.must(s.call(func(ctx context.Context) error { return s.c.DeleteSnapshot(ctx, id) }), "delete snapshot "+id)
	s.waitGone("snapshot "+id, func(ctx context.Context) error { _, err := s.c.GetSnapshot(ctx, id); return err })
}

func (s *suite) snapshots() {
	if !s.caps.Snapshots {
		s.t.Skip("the cloud has no snapshots")
	}
	v := s.createVolume(cloud.CreateVolumeRequest{})
	sn := s.createSnapshot(cloud.CreateSnapshotRequest{VolumeID: v.ID, Description: "contract"})
	if sn.VolumeID != v.ID || sn.SizeGiB != v.SizeGiB {
		s.t.Errorf("snapshot = %+v", sn)
	}

	var p cloud.Page[cloud.Snapshot]
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListSnapshots(ctx, cloud.ListOptions{VolumeID: v.ID})
		return err
	}), "list snapshots by volume")
	if len(p.Items) != 1 || p.Items[0].ID != sn.ID {
		s.t.Errorf("snapshots of %s = %+v", v.ID, p.Items)
	}
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListSnapshots(ctx, cloud.ListOptions{Name: sn.Name})
		return err
	}), "list snapshots by name")
	if len(p.Items) != 1 || p.Items[0].ID != sn.ID {
		s.t.Errorf("snapshots named %s = %+v", sn.Name, p.Items)
	}

	err := s.call(func(ctx context.Context) error { return s.c.DeleteVolume(ctx, v.ID) })
	s.wantKind(err, cloud.ErrWrongState, "delete a volume that has snapshots")

	restored := s.createVolume(cloud.CreateVolumeRequest{SnapshotID: sn.ID, SizeGiB: sn.SizeGiB})
	if (restored.SourceSnapshotID != sn.ID && !s.env.NoSourceRecord) || restored.SizeGiB != sn.SizeGiB {
		s.t.Errorf("volume from snapshot = %+v", restored)
	}
	if v.Zone != "" && restored.Zone != v.Zone {
		s.t.Errorf("volume from snapshot in zone %q, source in %q", restored.Zone, v.Zone)
	}

	s.dropSnapshot(sn.ID)
	s.deleteVolume(v.ID)
	s.deleteVolume(restored.ID)
}

func (s *suite) clone() {
	if !s.caps.Clone {
		s.t.Skip("the cloud does not clone volumes")
	}
	v := s.createVolume(cloud.CreateVolumeRequest{})
	c := s.createVolume(cloud.CreateVolumeRequest{SourceVolumeID: v.ID, SizeGiB: v.SizeGiB})
	if c.SourceVolumeID != v.ID || c.ID == v.ID {
		s.t.Errorf("clone = %+v", c)
	}
}

func (s *suite) backups() {
	if !s.caps.Backups {
		err := s.call(func(ctx context.Context) error {
			_, err := s.c.CreateBackup(ctx, cloud.CreateBackupRequest{Name: s.name("bk"), VolumeID: s.env.MissingID})
			return err
		})
		s.wantKind(err, cloud.ErrUnsupported, "backup where backups are not offered")
		return
	}
	v := s.createVolume(cloud.CreateVolumeRequest{})
	name := s.name("bk")
	var b *cloud.Backup
	s.must(s.call(func(ctx context.Context) (err error) {
		b, err = s.c.CreateBackup(ctx, cloud.CreateBackupRequest{Name: name, VolumeID: v.ID})
		return err
	}), "create backup")
	s.t.Cleanup(func() {
		s.cleanup("backup "+b.ID, func(ctx context.Context) error { return s.c.DeleteBackup(ctx, b.ID) })
	})
	if b.ID == "" || b.Name != name || b.VolumeID != v.ID {
		s.t.Errorf("created backup = %+v", b)
	}
	b = s.waitBackup(b.ID)
	if b.VolumeID != v.ID || b.SizeGiB != v.SizeGiB {
		s.t.Errorf("backup = %+v", b)
	}
	// The volume is usable again once the backup is done.
	s.waitVolume(v.ID, "available after backup", func(v *cloud.Volume) bool { return v.Status == cloud.StatusAvailable })

	var p cloud.Page[cloud.Backup]
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListBackups(ctx, cloud.ListOptions{VolumeID: v.ID})
		return err
	}), "list backups by volume")
	if len(p.Items) != 1 || p.Items[0].ID != b.ID {
		s.t.Errorf("backups of %s = %+v", v.ID, p.Items)
	}
	s.must(s.call(func(ctx context.Context) (err error) {
		p, err = s.c.ListBackups(ctx, cloud.ListOptions{Name: name})
		return err
	}), "list backups by name")
	if len(p.Items) != 1 || p.Items[0].ID != b.ID {
		s.t.Errorf("backups named %s = %+v", name, p.Items)
	}

	target := s.createVolume(cloud.CreateVolumeRequest{SizeGiB: b.SizeGiB})
	s.must(s.call(func(ctx context.Context) error { return s.c.RestoreBackup(ctx, b.ID, target.ID) }), "restore backup")
	s.waitVolume(target.ID, "restored", func(v *cloud.Volume) bool { return v.Status == cloud.StatusAvailable })

	err := s.call(func(ctx context.Context) error { return s.c.RestoreBackup(ctx, b.ID, s.env.MissingID) })
	s.wantKind(err, cloud.ErrNotFound, "restore into a missing volume")

	s.must(s.call(func(ctx context.Context) error { return s.c.DeleteBackup(ctx, b.ID) }), "delete backup")
	s.waitGone("backup "+b.ID, func(ctx context.Context) error { _, err := s.c.GetBackup(ctx, b.ID); return err })
}

func (s *suite) notFound() {
	id := s.env.MissingID
	checks := map[string]func(ctx context.Context) error{
		"get volume":      func(ctx context.Context) error { _, err := s.c.GetVolume(ctx, id); return err },
		"delete volume":   func(ctx context.Context) error { return s.c.DeleteVolume(ctx, id) },
		"get snapshot":    func(ctx context.Context) error { _, err := s.c.GetSnapshot(ctx, id); return err },
		"delete snapshot": func(ctx context.Context) error { return s.c.DeleteSnapshot(ctx, id) },
		"snapshot a missing volume": func(ctx context.Context) error {
			_, err := s.c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: s.name("snap"), VolumeID: id})
			return err
		},
		"volume from a missing snapshot": func(ctx context.Context) error {
			_, err := s.c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: s.name("vol"), SizeGiB: s.env.SizeGiB, SnapshotID: id})
			return err
		},
		"get volume, empty id": func(ctx context.Context) error { _, err := s.c.GetVolume(ctx, ""); return err },
	}
	if s.caps.Expansion != cloud.ExpansionNone {
		checks["extend volume"] = func(ctx context.Context) error { return s.c.ExtendVolume(ctx, id, 100) }
	}
	if s.caps.Backups {
		checks["get backup"] = func(ctx context.Context) error { _, err := s.c.GetBackup(ctx, id); return err }
		checks["delete backup"] = func(ctx context.Context) error { return s.c.DeleteBackup(ctx, id) }
	}
	if s.env.ServerID != "" {
		checks["attach a missing volume"] = func(ctx context.Context) error { _, err := s.c.AttachVolume(ctx, s.env.ServerID, id); return err }
		checks["detach a missing volume"] = func(ctx context.Context) error { return s.c.DetachVolume(ctx, s.env.ServerID, id) }
	}
	for what, fn := range checks {
		s.wantKind(s.call(fn), cloud.ErrNotFound, what)
	}
}

func (s *suite) limits() {
	var before *cloud.Limits
	err := s.call(func(ctx context.Context) (err error) {
		before, err = s.c.GetLimits(ctx)
		return err
	})
	if errors.Is(err, cloud.ErrUnsupported) {
		s.wantKind(err, cloud.ErrUnsupported, "get limits")
		s.t.Skip("the cloud reports no quota (ErrUnsupported)")
	}
	s.must(err, "get limits")
	if before.MaxTotalGiB == 0 || before.MaxVolumes == 0 {
		s.t.Errorf("limits = %+v: the maxima are unset (want a value, or negative for unlimited)", before)
	}
	if before.UsedGiB < 0 || before.UsedVolumes < 0 {
		s.t.Errorf("negative usage: %+v", before)
	}
}
