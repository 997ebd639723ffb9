package contract

import (
	"context"
	"errors"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// createVolume creates a volume, registers its removal, and waits until
// it is available.
func (s *suite) createVolume(req cloud.CreateVolumeRequest) *cloud.Volume {
	s.t.Helper()
	if req.Name == "" {
		req.Name = s.name("vol")
	}
	if req.SizeGiB == 0 {
		req.SizeGiB = s.env.SizeGiB
	}
	if req.Zone == "" && req.SnapshotID == "" && req.SourceVolumeID == "" {
		req.Zone = s.env.Zone
	}
	var v *cloud.Volume
	s.must(s.call(func(ctx context.Context) (err error) {
		v, err = s.c.CreateVolume(ctx, req)
		return err
	}), "create volume "+req.Name)
	s.t.Cleanup(func() { s.cleanupVolume(v.ID) })
	if v.ID == "" || v.Name != req.Name {
		s.t.Errorf("created volume = %+v: want an id and the name %q", v, req.Name)
	}
	if v.Status.IsError() {
		s.t.Fatalf("created volume is in state %s", v.RawStatus)
	}
	// The serial is needed from attach on; a cloud may learn it only once
	// the volume exists (Lunanode: volume/info).
	got := s.waitVolume(v.ID, "available", func(v *cloud.Volume) bool { return v.Status == cloud.StatusAvailable })
	if got.Serial == "" {
		s.t.Errorf("available volume %s has no serial", got.ID)
	}
	return got
}

// waitVolume polls GetVolume until ok, failing on error states.
func (s *suite) waitVolume(id, what string, ok func(*cloud.Volume) bool) *cloud.Volume {
	s.t.Helper()
	deadline := time.Now().Add(s.env.Timeout)
	var last *cloud.Volume
	for time.Now().Before(deadline) {
		var v *cloud.Volume
		err := s.call(func(ctx context.Context) (err error) {
			v, err = s.c.GetVolume(ctx, id)
			return err
		})
		s.must(err, "get volume "+id)
		if ok(v) {
			return v
		}
		if v.Status.IsError() {
			s.t.Fatalf("volume %s went to %s waiting for %s", id, v.RawStatus, what)
		}
		last = v
		time.Sleep(s.env.Poll)
	}
	s.t.Fatalf("volume %s not %s after %s; last %+v", id, what, s.env.Timeout, last)
	return nil
}

// waitGone polls get until it answers ErrNotFound.
func (s *suite) waitGone(what string, get func(ctx context.Context) error) {
	s.t.Helper()
	deadline := time.Now().Add(s.env.Timeout)
	for time.Now().Before(deadline) {
		err := s.call(get)
		if cloud.IsNotFound(err) {
			return
		}
		if err != nil {
			s.t.Fatalf("%s: waiting for deletion: %v", what, err)
		}
		time.Sleep(s.env.Poll)
	}
	s.t.Fatalf("%s still exists after %s", what, s.env.Timeout)
}

func (s *suite) deleteVolume(id string) {
	s.t.Helper()
	s.must(s.call(func(ctx context.Context) error { return s.c.DeleteVolume(ctx, id) }), "delete volume "+id)
	s.waitGone("volume "+id, func(ctx context.Context) error { _, err := s.c.GetVolume(ctx, id); return err })
}

func (s *suite) createSnapshot(req cloud.CreateSnapshotRequest) *cloud.Snapshot {
	s.t.Helper()
	if req.Name == "" {
		req.Name = s.name("snap")
	}
	var sn *cloud.Snapshot
	s.must(s.call(func(ctx context.Context) (err error) {
		sn, err = s.c.CreateSnapshot(ctx, req)
		return err
	}), "create snapshot "+req.Name)
	s.t.Cleanup(func() {
		s.cleanup("snapshot "+sn.ID, func(ctx context.Context) error { return s.c.DeleteSnapshot(ctx, sn.ID) })
	})
	if sn.ID == "" || sn.Name != req.Name || sn.VolumeID != req.VolumeID {
		s.t.Errorf("created snapshot = %+v for %+v", sn, req)
	}
	return s.waitSnapshot(sn.ID)
}

func (s *suite) waitSnapshot(id string) *cloud.Snapshot {
	s.t.Helper()
	deadline := time.Now().Add(s.env.Timeout)
	for time.Now().Before(deadline) {
		var sn *cloud.Snapshot
		s.must(s.call(func(ctx context.Context) (err error) {
			sn, err = s.c.GetSnapshot(ctx, id)
			return err
		}), "get snapshot "+id)
		switch {
		case sn.Status == cloud.StatusAvailable:
			return sn
		case sn.Status.IsError():
			s.t.Fatalf("snapshot %s went to %s", id, sn.RawStatus)
		}
		time.Sleep(s.env.Poll)
	}
	s.t.Fatalf("snapshot %s not available after %s", id, s.env.Timeout)
	return nil
}

func (s *suite) waitBackup(id string) *cloud.Backup {
	s.t.Helper()
	deadline := time.Now().Add(s.env.Timeout)
	for time.Now().Before(deadline) {
		var b *cloud.Backup
		s.must(s.call(func(ctx context.Context) (err error) {
			b, err = s.c.GetBackup(ctx, id)
			return err
		}), "get backup "+id)
		switch {
		case b.Status == cloud.StatusAvailable:
			return b
		case b.Status.IsError():
			s.t.Fatalf("backup %s went to %s", id, b.RawStatus)
		}
		time.Sleep(s.env.Poll)
	}
	s.t.Fatalf("backup %s not available after %s", id, s.env.Timeout)
	return nil
}

// cleanupVolume detaches and deletes a test volume, best effort: the
// simulator is thrown away anyway, a real cloud should not keep leftovers.
func (s *suite) cleanupVolume(id string) {
	ctx, cancel := s.ctx()
	defer cancel()
	if v, err := s.c.GetVolume(ctx, id); err == nil {
		for _, a := range v.Attachments {
			_ = s.c.DetachVolume(ctx, a.ServerID, id)
		}
	}
	s.cleanup("volume "+id, func(ctx context.Context) error { return s.c.DeleteVolume(ctx, id) })
}

// cleanup repeats del while the resource is busy (detaching, snapshots
// still being deleted) until it is gone or accepted.
func (s *suite) cleanup(what string, del func(ctx context.Context) error) {
	ctx, cancel := s.ctx()
	defer cancel()
	for {
		err := del(ctx)
		if err == nil || cloud.IsNotFound(err) {
			return
		}
		if !(errors.Is(err, cloud.ErrWrongState) || cloud.IsRetryable(err)) || ctx.Err() != nil {
			s.t.Logf("cleanup of %s: %v", what, err)
			return
		}
		time.Sleep(max(s.env.Poll, cloud.RetryAfterOf(err)))
	}
}
