package sanity

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

// The multiattach variant's volume type and second node (a second server
// in the simulator; csi-sanity itself only ever publishes to one node).
const (
	multiattachType = "multiattach"
	secondNodeID    = "5f0c3c1e-7a2b-4d1e-9c3a-0000000000b2"
)

// multiattachTypes are the profile's volume types plus one whose volumes
// attach to several servers, as an operator defines it.
func multiattachTypes(t *testing.T, profile string) []cloudsim.VolumeType {
	types, err := cloudsim.ProfileVolumeTypes(profile)
	if err != nil {
		t.Fatal(err)
	}
	return append(types, cloudsim.VolumeType{ID: "7d3c0a2e-1f4b-4c8d-9e6a-00000000a77a", Name: multiattachType,
		ExtraSpecs: map[string]string{"multiattach": "<is> True"}})
}

// multiNodeSpecs adds the specs csi-sanity lacks for multi-attach: the
// same volume published to two nodes, each its own attachment, and the
// refusals where it cannot be.
func multiNodeSpecs(cfg *sanity.TestConfig, c cloud.Cloud, nodeID string) {
	Describe("Multi-node (openblock-csi)", func() {
		var (
			conn *grpc.ClientConn
			cc   csi.ControllerClient
			ids  []string
		)
		ctx := context.Background()
		BeforeEach(func() {
			var err error
			conn, err = grpc.NewClient(cfg.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
			Expect(err).NotTo(HaveOccurred())
			cc = csi.NewControllerClient(conn)
			ids = nil
		})
		AfterEach(func() {
			for _, id := range ids {
				_, _ = cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id})
				_, _ = cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
			}
			conn.Close()
		})
		capability := func(block bool, mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
			vc := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
			if block {
				vc.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
			} else {
				vc.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}}
			}
			return vc
		}
		create := func(name, volType string, vc *csi.VolumeCapability) (string, error) {
			params := map[string]string{}
			if volType != "" {
				params[driver.ParamType] = volType
			}
			r, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: sanity.UniqueString(name),
				CapacityRange:      &csi.CapacityRange{RequiredBytes: driver.GiB},
				VolumeCapabilities: []*csi.VolumeCapability{vc}, Parameters: params})
			if err == nil {
				ids = append(ids, r.GetVolume().GetVolumeId())
			}
			return r.GetVolume().GetVolumeId(), err
		}
		publish := func(id, node string, vc *csi.VolumeCapability) error {
			_, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: node, VolumeCapability: vc})
			return err
		}
		servers := func(id string) []string {
			v, err := c.GetVolume(ctx, id)
			Expect(err).NotTo(HaveOccurred())
			var out []string
			for _, a := range v.Attachments {
				out = append(out, a.ServerID)
			}
			return out
		}

		for _, tc := range []struct {
			block bool
			mode  csi.VolumeCapability_AccessMode_Mode
		}{
			{true, csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
			{true, csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER},
			{false, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY},
		} {
			kind := map[bool]string{true: "raw block", false: "filesystem"}[tc.block]
			It("publishes a "+kind+" "+tc.mode.String()+" volume to a second node and unpublishes only that node", func() {
				vc := capability(tc.block, tc.mode)
				id, err := create("multinode", multiattachType, vc)
				Expect(err).NotTo(HaveOccurred())
				Expect(publish(id, nodeID, vc)).To(Succeed())
				Expect(publish(id, secondNodeID, vc)).To(Succeed())
				Expect(publish(id, secondNodeID, vc)).To(Succeed(), "a repeated publish is a retry")
				Expect(servers(id)).To(ConsistOf(nodeID, secondNodeID))
				_, err = cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: secondNodeID})
				Expect(err).NotTo(HaveOccurred())
				Expect(servers(id)).To(ConsistOf(nodeID))
				_, err = cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: nodeID})
				Expect(err).NotTo(HaveOccurred())
				Expect(servers(id)).To(BeEmpty())
			})
		}

		It("answers FailedPrecondition for a second node of a volume whose type is not multi-attach", func() {
			single := capability(true, csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
			id, err := create("single", "", single)
			Expect(err).NotTo(HaveOccurred())
			Expect(publish(id, nodeID, single)).To(Succeed())
			err = publish(id, secondNodeID, capability(true, csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER))
			Expect(status.Code(err)).To(Equal(codes.FailedPrecondition), "%v", err)
			Expect(servers(id)).To(ConsistOf(nodeID))
		})

		It("refuses a multi-node volume of a type that is not multi-attach, leaving nothing", func() {
			_, err := create("not-multi", "", capability(true, csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER))
			Expect(status.Code(err)).To(Equal(codes.InvalidArgument), "%v", err)
			Expect(err.Error()).To(ContainSubstring("cannot be attached to several nodes"))
		})

		It("refuses a filesystem MULTI_NODE_MULTI_WRITER volume, saying why", func() {
			_, err := create("fs-multi", multiattachType, capability(false, csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER))
			Expect(status.Code(err)).To(Equal(codes.InvalidArgument), "%v", err)
			Expect(strings.Contains(err.Error(), "corrupted")).To(BeTrue(), "%v", err)
		})
	})
}
