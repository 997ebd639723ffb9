package driver

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// fuzzDriver is a controller over the fake cloud with short waits.
func fuzzDriver(t testing.TB) *Controller {
	c := fake.New(fake.Config{Servers: []string{"server-1"}, Delay: time.Millisecond})
	w := waiter.New(c, waiter.Options{InitialDelay: time.Millisecond, Interval: 2 * time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	d, err := New(Config{Mode: ModeController, Cloud: c, Waiter: w})
	if err != nil {
		t.Fatal(err)
	}
	return d.controller
}

// fuzzCodes are the answers a request may get for bad input; Internal or
// Unknown would mean the driver failed on input it should have refused.
var fuzzCodes = map[codes.Code]bool{
	codes.InvalidArgument: true, codes.NotFound: true, codes.AlreadyExists: true,
	codes.OutOfRange: true, codes.FailedPrecondition: true, codes.ResourceExhausted: true,
	codes.Aborted: true, codes.Unimplemented: true,
}

func checkFuzzErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	s, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s: not a gRPC status: %v", what, err)
	}
	if !fuzzCodes[s.Code()] {
		t.Fatalf("%s: code %s for bad input: %v", what, s.Code(), err)
	}
}

func fuzzCap(block bool, mode int32, fs string) *csi.VolumeCapability {
	vc := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_Mode(mode)}}
	if block {
		vc.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		vc.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}}
	}
	return vc
}

// FuzzCreateVolumeRequest sends CreateVolume requests with arbitrary names,
// parameters, sizes, capabilities and content sources to a controller over
// the fake cloud: every answer is a volume of the asked size or an error
// with a code the CO can act on.
func FuzzCreateVolumeRequest(f *testing.F) {
	f.Add("pvc-1", "type", "lvmdriver-1", int64(1<<30), int64(0), false, int32(1), "ext4", "", "")
	f.Add("pvc-2", "csi.storage.k8s.io/fstype", "xfs", int64(5<<30), int64(10<<30), false, int32(1), "", "", "")
	f.Add("pvc-3", "availability", "az2", int64(1), int64(1), true, int32(5), "", "", "")
	f.Add("pvc-4", "mkfsOptions", "-E 'nodiscard' \"-O ^64bit\"", int64(0), int64(0), false, int32(7), "ext3", "", "")
	f.Add("pvc-5", "unknown", "x", int64(-1), int64(0), false, int32(99), "ntfs", "backup:../../etc", "")
	f.Add("", "type", "", int64(1<<62), int64(0), false, int32(0), "", "", "vol/../x?y#z")
	f.Add(strings.Repeat("n", 300), "mkfsOptions", "'unterminated", int64(1<<30), int64(1<<29), false, int32(1), "EXT4", "snap-1", "")
	f.Add("pvc\x00ctl", "availability", "nowhere", int64(3<<30), int64(0), false, int32(1), "btrfs", "", "vol-\u00e9")
	f.Fuzz(func(t *testing.T, name, pk, pv string, req, lim int64, block bool, mode int32, fs, snapID, volID string) {
		d := fuzzDriver(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cr := &csi.CreateVolumeRequest{
			Name:               name,
			CapacityRange:      &csi.CapacityRange{RequiredBytes: req, LimitBytes: lim},
			VolumeCapabilities: []*csi.VolumeCapability{fuzzCap(block, mode, fs)},
			Parameters:         map[string]string{pk: pv},
		}
		switch {
		case snapID != "":
			cr.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
		case volID != "":
			cr.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: volID}}}
		}
		resp, err := d.CreateVolume(ctx, cr)
		checkFuzzErr(t, "CreateVolume", err)
		if err != nil {
			return
		}
		v := resp.GetVolume()
		if v.GetVolumeId() == "" {
			t.Fatal("CreateVolume succeeded without a volume id")
		}
		if v.GetCapacityBytes() < req || (lim > 0 && v.GetCapacityBytes() > lim) {
			t.Fatalf("capacity %d outside [%d, %d]", v.GetCapacityBytes(), req, lim)
		}
		// The same request again is the same volume.
		again, err := d.CreateVolume(ctx, cr)
		if err != nil {
			t.Fatalf("repeated CreateVolume: %v", err)
		}
		if again.GetVolume().GetVolumeId() != v.GetVolumeId() {
			t.Fatalf("repeated CreateVolume made %s, first %s", again.GetVolume().GetVolumeId(), v.GetVolumeId())
		}
	})
}

// FuzzVolumeIDRequests sends arbitrary volume, snapshot and node ids to the
// calls that take them: no panic, and only actionable codes.
func FuzzVolumeIDRequests(f *testing.F) {
	f.Add("vol-1", "server-1", "snap-1")
	f.Add("../../etc/passwd", "server-1/../x", "backup:")
	f.Add("toronto/4682", "", "toronto/484a06d3-7ea6-40d6-8e72-9e7e23f6826b")
	f.Add("a?b#c%00", "\x00", "backup:x/y")
	f.Add(strings.Repeat("x", 400), "node\n", "backup:"+strings.Repeat("b", 300))
	f.Fuzz(func(t *testing.T, volID, nodeID, snapID string) {
		d := fuzzDriver(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		vc := fuzzCap(false, int32(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER), "ext4")
		_, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: nodeID, VolumeCapability: vc})
		checkFuzzErr(t, "ControllerPublishVolume", err)
		_, err = d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volID, NodeId: nodeID})
		checkFuzzErr(t, "ControllerUnpublishVolume", err)
		_, err = d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
		checkFuzzErr(t, "DeleteVolume", err)
		_, err = d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s-" + volID, SourceVolumeId: volID})
		checkFuzzErr(t, "CreateSnapshot", err)
		_, err = d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID})
		checkFuzzErr(t, "DeleteSnapshot", err)
		_, err = d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}})
		checkFuzzErr(t, "ControllerExpandVolume", err)
		_, err = d.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: volID})
		checkFuzzErr(t, "ControllerGetVolume", err)
		_, err = d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snapID, SourceVolumeId: volID, StartingToken: nodeID})
		checkFuzzErr(t, "ListSnapshots", err)
		_, err = d.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: volID})
		checkFuzzErr(t, "ListVolumes", err)
	})
}

// FuzzWellFormedID checks the guard in front of every URL an id ends up in.
func FuzzWellFormedID(f *testing.F) {
	for _, s := range []string{"vol-1", "toronto/4682", "..", "a/../b", "a/./b", "/x", "x/", "a?b", "a#b", "a%2e", "é", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !wellFormedID(id) {
			return
		}
		if id == "" || len(id) > maxIDLength || strings.ContainsAny(id, "?#%\\ \t\n") || !utf8.ValidString(id) {
			t.Fatalf("wellFormedID(%q) = true", id)
		}
		for _, seg := range strings.Split(id, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("wellFormedID(%q) = true with a %q segment", id, seg)
			}
		}
	})
}

// FuzzSplitArgs checks mkfs option splitting: what it accepts splits into
// non-empty words without NULs, and quoting those words again gives them back.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{"-E nodiscard", `-L "my label"`, `-O '^64bit,metadata_csum'`, `a\ b c`, `"unterminated`, `x\`, "a\x00b", `''`, `-m 0 -i 4096`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := splitArgs(s)
		if err != nil {
			return
		}
		var quoted []string
		for _, a := range args {
			if a == "" || strings.ContainsRune(a, 0) {
				t.Fatalf("splitArgs(%q) gave %q", s, args)
			}
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		back, err := splitArgs(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("re-splitting %q: %v", quoted, err)
		}
		if strings.Join(back, "\x00") != strings.Join(args, "\x00") || len(back) != len(args) {
			t.Fatalf("splitArgs(%q) = %q, re-quoted gives %q", s, args, back)
		}
	})
}

// FuzzParseEndpoint checks the --endpoint parser: no panic, and a unix
// endpoint always names a path.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"unix:///csi/csi.sock", "unix:/tmp/x.sock", "/var/lib/csi.sock", "tcp://127.0.0.1:10000", "unix://", "tcp://", "http://x", "unix:relative", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ep string) {
		network, addr, err := ParseEndpoint(ep)
		if err != nil {
			return
		}
		if addr == "" || (network != "unix" && network != "tcp") {
			t.Fatalf("ParseEndpoint(%q) = %q, %q", ep, network, addr)
		}
	})
}

// A NUL byte can never reach mkfs's argv, quoted or escaped: refuse it at
// CreateVolume rather than fail at mkfs time (found by FuzzSplitArgs).
func TestSplitArgsRejectsQuotedNUL(t *testing.T) {
	for _, s := range []string{"'\x00'", "\"\x00\"", "\\\x00", "-L 'a\x00b'"} {
		if args, err := splitArgs(s); err == nil {
			t.Errorf("splitArgs(%q) = %q, want an error", s, args)
		}
	}
}
