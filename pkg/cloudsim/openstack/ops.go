package openstack

// Operations of the state machine that faults can target (FailNext, Stuck).
const (
	OpCreate         = "create"
	OpDelete         = "delete"
	OpAttach         = "attach"
	OpDetach         = "detach"
	OpExtend         = "extend"
	OpSnapshot       = "snapshot"
	OpSnapshotDelete = "snapshot_delete"
	OpBackup         = "backup"
	OpBackupDelete   = "backup_delete"
	OpRestore        = "restore"
	// OpDevice is the guest seeing an attached disk: stuck, the attachment
	// completes but no disk ever appears on the local server.
	OpDevice = "device"
)
