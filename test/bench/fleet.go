package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fleet remembers which volumes a scenario created and where they are
// published, so that a failed or interrupted run still removes them.
type fleet struct {
	mu   sync.Mutex
	ids  []string
	node []string // published to; "" when not published
	// create is the CreateVolume request of a volume whose id is not
	// known yet (a create that failed or was cut short may still have
	// made it); cleanup repeats it, as the provisioner would, to learn the id.
	create []*csi.CreateVolumeRequest
}

func newFleet(n int) *fleet {
	return &fleet{ids: make([]string, n), node: make([]string, n), create: make([]*csi.CreateVolumeRequest, n)}
}

// creating records the request before it is sent.
func (f *fleet) creating(i int, req *csi.CreateVolumeRequest) {
	f.mu.Lock()
	f.create[i] = req
	f.mu.Unlock()
}

// setID records a volume's id ("" once deleted).
func (f *fleet) setID(i int, id string) {
	f.mu.Lock()
	f.ids[i] = id
	f.create[i] = nil
	f.mu.Unlock()
}

func (f *fleet) id(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[i]
}

func (f *fleet) setNode(i int, node string) {
	f.mu.Lock()
	f.node[i] = node
	f.mu.Unlock()
}

// remaining counts volumes not yet deleted.
func (f *fleet) remaining() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, id := range f.ids {
		if id != "" || f.create[i] != nil {
			n++
		}
	}
	return n
}

// cleanup unpublishes and deletes what is left, through the driver, with
// its own deadline (the run's context may be cancelled already).
func (f *fleet) cleanup(d *driverProc) {
	if d == nil || f.remaining() == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "bench: cleaning up %d volumes through %s\n", f.remaining(), d.name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := callPolicy{timeout: time.Minute, maxAttempts: 5, backoff: time.Second}
	st := newRPCStats("cleanup")
	_ = forEach(ctx, len(f.ids), 20, func(_ context.Context, i int) error {
		f.mu.Lock()
		id, node, req := f.ids[i], f.node[i], f.create[i]
		f.mu.Unlock()
		if id == "" && req != nil {
			// The driver's idempotency by name returns the volume an
			// earlier attempt made (or makes one, deleted right below).
			err := p.call(ctx, st, func(ctx context.Context) error {
				resp, err := d.ctrl.CreateVolume(ctx, req)
				if err == nil {
					id = resp.GetVolume().GetVolumeId()
				}
				return err
			})
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: cleanup: finding volume %s: %v\n", req.GetName(), err)
				return nil
			}
			f.setID(i, id)
		}
		if id == "" {
			return nil
		}
		// Errors here must not stop the other cleanups.
		if node != "" {
			err := p.call(ctx, st, func(ctx context.Context) error {
				_, err := d.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: node})
				return err
			})
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: cleanup: unpublish %s: %v\n", id, err)
				return nil
			}
			f.setNode(i, "")
		}
		err := p.call(ctx, st, func(ctx context.Context) error {
			_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
			if status.Code(err) == codes.NotFound {
				return nil
			}
			return err
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: delete %s: %v\n", id, err)
			return nil
		}
		f.setID(i, "")
		return nil
	})
}
