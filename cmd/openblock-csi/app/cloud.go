// Package app wires the driver binary: it turns a cloud config into the
// provider it names. The driver package itself never names a provider.
package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/metrics"
)

// NewCloud builds the provider the cloud config's [BlockStorage] backend
// names: Cinder (authenticating against Keystone now) or Lunanode (one
// signed listing now). Both fail here when the cloud refuses the
// credentials, so a controller with a wrong secret exits at start, naming
// the cause, instead of answering Unauthenticated on every call; other
// faults at start are left to Probe and the calls' own retries.
// rec, when not nil, receives every cloud API call for metrics.
func NewCloud(ctx context.Context, cc *cloudconfig.Config, userAgent string, rec *metrics.Recorder) (cloud.Cloud, error) {
	switch cc.BlockStorage.Backend {
	case "", cloudconfig.BackendCinder:
		opts := []openstack.Option{openstack.WithUserAgent(userAgent)}
		if rec != nil {
			opts = append(opts, openstack.WithObserver(rec))
		}
		c, err := openstack.New(ctx, cc, opts...)
		if err != nil {
			return nil, err
		}
		return c, nil
	case cloudconfig.BackendLunanode:
		l := cc.Lunanode
		lc := lunanode.Config{
			APIURL: l.APIURL, APIID: l.APIID, APIKey: l.APIKey.Reveal(),
			SerialLength: l.SerialLength, Regions: l.Zones, DefaultRegion: l.DefaultZone,
		}
		if rec != nil {
			lc.Observer = rec.Lunanode()
		}
		c, err := lunanode.New(lc)
		if err != nil {
			return nil, err
		}
		if _, err := c.ListVolumes(ctx, cloud.ListOptions{Limit: 1}); errors.Is(err, cloud.ErrUnauthorized) {
			return nil, fmt.Errorf("lunanode: the API refused the api-id and api-key in the cloud config: %w", err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("cloud config: unknown backend %q (want %s or %s)", cc.BlockStorage.Backend, cloudconfig.BackendCinder, cloudconfig.BackendLunanode)
}

// ParseWaiterMode parses --waiter-mode.
func ParseWaiterMode(s string) (waiter.Mode, error) {
	switch m := waiter.Mode(s); m {
	case waiter.Batched, waiter.PerVolume:
		return m, nil
	}
	return "", fmt.Errorf("waiter mode %q: want %s or %s", s, waiter.Batched, waiter.PerVolume)
}
