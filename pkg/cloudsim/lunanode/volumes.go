package lunanode

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// size parses a size in GB as the API sends it: a decimal string.
func (h *Handler) size(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, errorf("invalid size %q: must be a positive number of GB", s)
	}
	if n > h.cfg.MaxSizeGiB {
		return 0, errorf("size must be at most %d GB", h.cfg.MaxSizeGiB)
	}
	return n, nil
}

func notAvailable(status string) error {
	return errorf("volume is not available (status %s)", status)
}

func (h *Handler) volumeCreate(p params) (map[string]any, error) {
	region := p["region"]
	if !validRegion(region) {
		return nil, errorf("invalid region %q", region)
	}
	size, err := h.size(p["size"])
	if err != nil {
		return nil, err
	}
	if p["image"] != "" {
		return nil, apiError("image not found")
	}
	if h.cfg.VolumeLimit > 0 && len(h.st.Volumes) >= h.cfg.VolumeLimit {
		return nil, errorf("volume limit reached (%d volumes)", h.cfg.VolumeLimit)
	}
	var src *Snapshot
	if id := p["snapshot_id"]; id != "" {
		if src = h.snapshot(region, id); src == nil {
			return nil, apiError("snapshot not found")
		}
		if src.Status != stAvailable {
			return nil, errorf("snapshot is not available (status %s)", src.Status)
		}
		if size < src.SizeGiB {
			return nil, errorf("size must be at least the snapshot size (%d GB)", src.SizeGiB)
		}
	}
	v := Volume{
		ID:             h.st.NextVolumeID,
		Identification: uuid.NewString(),
		Name:           p["label"],
		Region:         region,
		SizeGiB:        size,
		Created:        h.cfg.Now().UTC().Truncate(1e9),
	}
	if s := h.cfg.Store; s != nil {
		if src != nil {
			err = s.Copy(disk.KindSnapshots, snapshotDisk(src.ID), disk.KindVolumes, volumeDisk(v.ID), int64(size)*gib)
		} else {
			err = s.Create(disk.KindVolumes, volumeDisk(v.ID), int64(size)*gib)
		}
		if err != nil {
			return nil, err
		}
	}
	if src != nil {
		v.SnapshotID = src.ID
	}
	v.Status, v.Next, v.ReadyAt = h.transition(stCreating, stAvailable, h.cfg.Durations.Create)
	h.st.NextVolumeID++
	h.st.Volumes = append(h.st.Volumes, v)
	h.dirty = true
	return map[string]any{"volume_id": strconv.Itoa(v.ID)}, nil
}

// listStatus is what volume/list says: "active" for a usable volume (the
// document's example), the transitional or error status otherwise.
func listStatus(s string) string {
	switch s {
	case stAvailable, stInUse, stAttaching, stDetaching:
		return "active"
	}
	return s
}

func (h *Handler) listEntry(v *Volume) map[string]any {
	return map[string]any{
		"id":             strconv.Itoa(v.ID),
		"identification": v.Identification,
		"name":           v.Name,
		"region":         v.Region,
		"size":           strconv.Itoa(v.SizeGiB),
		"status":         listStatus(v.Status),
		"time_created":   v.Created.UTC().Format("2006-01-02T15:04:05Z"),
		"user_id":        h.cfg.UserID,
	}
}

func (h *Handler) volumeList(p params) (map[string]any, error) {
	region := p["region"]
	if region != "" && !validRegion(region) {
		return nil, errorf("invalid region %q", region)
	}
	out := []map[string]any{}
	for i := range h.st.Volumes {
		v := &h.st.Volumes[i]
		if region == "" || v.Region == region {
			out = append(out, h.listEntry(v))
		}
	}
	return map[string]any{"volumes": out}, nil
}

func (h *Handler) volumeInfo(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"volume": map[string]any{
		"attached":       v.AttachedTo,
		"created":        v.Created.UTC().Format("2006-01-02T15:04:05Z"),
		"id":             strconv.Itoa(v.ID),
		"identification": v.Identification,
		"name":           v.Name,
		"size":           strconv.Itoa(v.SizeGiB),
		"status":         v.Status,
	}}, nil
}

var targetRE = regexp.MustCompile(`^/dev/[vh]d[a-z]$`)

func (h *Handler) volumeAttach(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	vm, ok := h.vms[p["vm_id"]]
	if !ok {
		return nil, apiError("vm not found")
	}
	target := p["target"]
	if target != "auto" && !targetRE.MatchString(target) {
		return nil, errorf("invalid target %q: use auto, /dev/vdX or /dev/hdX", target)
	}
	if v.AttachedTo != "" {
		return nil, apiError("volume is already attached to a vm")
	}
	if v.Status != stAvailable {
		return nil, notAvailable(v.Status)
	}
	if vm.Region != "" && vm.Region != v.Region {
		return nil, errorf("vm is in region %s but the volume is in region %s", vm.Region, v.Region)
	}
	var used []string
	for _, o := range h.st.Volumes {
		if o.AttachedTo == vm.ID {
			used = append(used, o.Target)
		}
	}
	if len(used) >= h.cfg.MaxVolumesPerVM {
		return nil, errorf("volume limit for this vm reached (%d)", h.cfg.MaxVolumesPerVM)
	}
	if target == "auto" {
		// vda is the boot disk; hand out the first free vdX after it.
		for c := 'b'; c <= 'z'; c++ {
			if t := "/dev/vd" + string(c); !slices.Contains(used, t) {
				target = t
				break
			}
		}
	} else if slices.Contains(used, target) || target == "/dev/vda" {
		return nil, errorf("target %s is in use on this vm", target)
	}
	if vm.ID == h.cfg.LocalVMID && h.cfg.Store != nil {
		if err := h.showDevice(v); err != nil {
			return nil, err
		}
	}
	v.AttachedTo, v.Target = vm.ID, target
	v.Status, v.Next, v.ReadyAt = h.transition(stAttaching, stInUse, h.cfg.Durations.Attach)
	h.dirty = true
	return nil, nil
}

func (h *Handler) volumeDetach(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	if v.AttachedTo == "" {
		return nil, apiError("volume is not attached")
	}
	if v.Status != stInUse {
		return nil, notAvailable(v.Status)
	}
	if v.AttachedTo == h.cfg.LocalVMID && h.cfg.Store != nil {
		h.hideDevice(v.ID)
		if err := h.cfg.Store.Detach(volumeDisk(v.ID), v.Identification); err != nil {
			return nil, err
		}
	}
	v.Status, v.Next, v.ReadyAt = h.transition(stDetaching, stAvailable, h.cfg.Durations.Detach)
	if v.Status == stAvailable {
		v.AttachedTo, v.Target = "", ""
	}
	h.dirty = true
	return nil, nil
}

func (h *Handler) volumeExtend(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	size, err := h.size(p["size"])
	if err != nil {
		return nil, err
	}
	if v.AttachedTo != "" {
		return nil, apiError("volume must be unattached to be extended")
	}
	if v.Status != stAvailable {
		return nil, notAvailable(v.Status)
	}
	if size <= v.SizeGiB {
		return nil, errorf("new size must be larger than the current size (%d GB)", v.SizeGiB)
	}
	if s := h.cfg.Store; s != nil {
		if err := s.Resize(disk.KindVolumes, volumeDisk(v.ID), int64(size)*gib); err != nil {
			return nil, err
		}
	}
	v.SizeGiB = size
	h.dirty = true
	return nil, nil
}

func (h *Handler) volumeRename(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	v.Name = p["name"]
	h.dirty = true
	return nil, nil
}

func (h *Handler) volumeDelete(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	switch {
	case v.Status == stDeleting:
		return nil, nil // already on its way
	case v.AttachedTo != "":
		return nil, apiError("volume is attached to a vm; detach it first")
	case v.Status != stAvailable && v.Status != stError:
		return nil, notAvailable(v.Status)
	}
	for _, s := range h.st.Snapshots {
		if s.VolumeID == v.ID {
			return nil, apiError("volume still has dependent snapshots")
		}
	}
	if s := h.cfg.Store; s != nil {
		if err := s.Delete(disk.KindVolumes, volumeDisk(v.ID)); err != nil {
			return nil, err
		}
	}
	h.dirty = true
	status, next, at := h.transition(stDeleting, stGone, h.cfg.Durations.Delete)
	if status == stGone {
		h.st.Volumes = slices.DeleteFunc(h.st.Volumes, func(o Volume) bool { return o.ID == v.ID })
		return nil, nil
	}
	v.Status, v.Next, v.ReadyAt = status, next, at
	return nil, nil
}
