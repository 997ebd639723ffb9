// Package csicap builds the volume capabilities the external-provisioner and
// external-attacher send for a ReadWriteOnce PVC: volumeMode Filesystem (a
// mount with its fsType) or volumeMode Block. The tests, the demo and the
// benchmarks speak to the driver with these.
package csicap

import "github.com/container-storage-interface/spec/lib/go/csi"

// Mount is a filesystem volume of fsType ("" leaves the choice to the driver).
func Mount(fsType string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}},
		AccessMode: singleNodeWriter(),
	}
}

// Block is a raw block volume.
func Block() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: singleNodeWriter(),
	}
}

// singleNodeWriter is new for each capability: callers may change it.
func singleNodeWriter() *csi.VolumeCapability_AccessMode {
	return &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}
}
