package cloudsim

import (
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/openstack"
)

// The OpenStack face's records, named here because StateDump carries them.
type (
	Volume         = openstack.Volume
	Attachment     = openstack.Attachment
	Snapshot       = openstack.Snapshot
	Backup         = openstack.Backup
	AttachmentDump = openstack.AttachmentDump
)

// StateDump is every resource of every project, for leak checks.
type StateDump struct {
	Volumes   []Volume   `json:"volumes"`
	Snapshots []Snapshot `json:"snapshots"`
	Backups   []Backup   `json:"backups"`
	// Attachments flattens every volume's attachments.
	Attachments []AttachmentDump `json:"attachments"`
	// Lunanode is the Lunanode face's state, when it is mounted.
	Lunanode *lunanode.State `json:"lunanode,omitempty"`
}
