package node_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

// A volume ControllerPublish made read-only (publish context readOnly) is
// staged and published read-only even when NodePublish does not ask: no
// write reaches the filesystem through either path, the data written
// before is still there, and a blank volume is refused rather than
// formatted.
func TestControllerReadOnlyFilesystem(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Mount("ext4")
	payload := randomBytes(t, 4096)

	e.mustStagePublish(t, v, vc)
	writeSynced(t, filepath.Join(v.target, "data"), payload)
	e.mustTeardown(t, v)

	v.readOnly = true
	e.mustStagePublish(t, v, vc)
	for _, dir := range []string{v.staging, v.target} {
		if opts := mountOptions(t, dir); !strings.Contains(","+opts+",", ",ro,") {
			t.Errorf("%s mounted %q, want ro", dir, opts)
		}
		if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600); !errors.Is(err, unix.EROFS) {
			t.Errorf("write under %s: %v, want EROFS", dir, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(v.target, "data")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("data read through the read-only publish: %v (equal %v)", err, bytes.Equal(got, payload))
	}
	e.mustTeardown(t, v)

	blank := e.newVolume(t, 64*mib)
	blank.readOnly = true
	wantCode(t, e.stage(t, blank, vc), codes.FailedPrecondition, "read-only stage of a blank volume")
	if !blkidFindsNothing(t, blank.dev) {
		t.Error("read-only stage formatted the blank volume")
	}
}

// A raw block volume published read-only by the controller: the device
// at the target refuses writes (EPERM from its read-only flag), the bytes
// stay, and the flag is cleared again at unpublish.
func TestControllerReadOnlyBlock(t *testing.T) {
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Block()
	const off = 3 * mib
	data := randomBytes(t, 8192)
	nodetest.WriteAt(t, v.dev, off, data)

	v.readOnly = true
	e.mustStagePublish(t, v, vc)
	f, err := os.OpenFile(v.target, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteAt(bytes.Repeat([]byte{0xff}, 4096), off)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.EACCES) {
		t.Errorf("write to the read-only block target: %v, want EPERM or EROFS", err)
	}
	if got := nodetest.ReadAt(t, v.target, off, len(data)); !bytes.Equal(got, data) {
		t.Error("bytes read through the read-only target differ from those on the device")
	}
	if err := e.unpublish(t, v); err != nil {
		t.Fatalf("NodeUnpublishVolume: %v", err)
	}
	if got := nodetest.ReadAt(t, v.backing, off, len(data)); !bytes.Equal(got, data) {
		t.Error("the device's bytes changed under a read-only publish")
	}
	// Writable again for the next publish.
	nodetest.WriteAt(t, v.dev, off, data)
}
