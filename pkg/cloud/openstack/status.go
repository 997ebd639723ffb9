package openstack

import (
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// createFailed: Cinder puts a volume whose creation failed (empty, from a
// snapshot, a clone or a backup) in plain "error".
func createFailed(raw string) bool { return strings.EqualFold(raw, "error") }

// mapStatus maps a Cinder volume, snapshot or backup status onto the
// port's. Unknown states count as busy: not usable, not failed.
func mapStatus(raw string) cloud.Status {
	s := strings.ToLower(raw)
	if strings.HasPrefix(s, "error") {
		// error, error_deleting, error_extending, error_restoring,
		// error_backing-up, error_attaching, error_detaching, ...
		return cloud.StatusError
	}
	switch s {
	case "creating":
		return cloud.StatusCreating
	case "available":
		return cloud.StatusAvailable
	case "attaching", "reserved":
		return cloud.StatusAttaching
	case "in-use":
		return cloud.StatusInUse
	case "detaching":
		return cloud.StatusDetaching
	case "deleting", "deleted":
		return cloud.StatusDeleting
	case "extending":
		return cloud.StatusExtending
	case "backing-up":
		return cloud.StatusBackingUp
	case "restoring-backup", "restoring":
		return cloud.StatusRestoring
	}
	// maintenance, uploading, downloading, retyping, awaiting-transfer,
	// migrating, unmanaging, ...
	return cloud.StatusBusy
}
