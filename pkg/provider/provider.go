// Package provider is the one place that turns a cloud config into the
// provider it names (pkg/cloud/openstack or pkg/cloud/lunanode). The
// binary, the doctor and the tests build their cloud.Cloud here, so the
// driver and everything under it know only the port; each adapter takes
// its own Config, translated from the file in config.go.
package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
)

// Options change how New builds a provider.
type Options struct {
	// UserAgent marks the provider's requests in the cloud's logs (where
	// the API has one).
	UserAgent string
	// Observer, when set, is told of every API request, for metrics.
	Observer cloud.Observer
	// NoZoneDiscovery skips listing availability zones at start when the
	// config names none (the doctor lists them itself).
	NoZoneDiscovery bool
}

// New builds the provider the cloud config's [BlockStorage] backend names:
// Cinder (authenticating against Keystone now) or Lunanode (one signed
// listing now). Both fail here when the cloud refuses the credentials, so
// a controller with a wrong secret exits at start, naming the cause,
// instead of answering Unauthenticated on every call; other faults at
// start are left to Probe and the calls' own retries.
func New(ctx context.Context, cc *cloudconfig.Config, opts Options) (cloud.Cloud, error) {
	switch backend(cc) {
	case cloudconfig.BackendCinder:
		o := []openstack.Option{openstack.WithUserAgent(opts.UserAgent)}
		if opts.Observer != nil {
			o = append(o, openstack.WithObserver(opts.Observer))
		}
		if opts.NoZoneDiscovery {
			o = append(o, openstack.WithoutZoneDiscovery())
		}
		c, err := openstack.New(ctx, OpenStackConfig(cc), o...)
		if err != nil {
			return nil, err
		}
		return c, nil
	case cloudconfig.BackendLunanode:
		lc := LunanodeConfig(cc)
		lc.Observer = opts.Observer
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

// SerialLength is how much of a volume's serial the guest sees on the
// cloud cc names, as its provider reports it. The node asks it: it has the
// cloud config but no credentials, so no connected provider.
func SerialLength(cc *cloudconfig.Config) int {
	if backend(cc) == cloudconfig.BackendLunanode {
		return lunanode.SerialLength(LunanodeConfig(cc))
	}
	return openstack.SerialLength(OpenStackConfig(cc))
}

func backend(cc *cloudconfig.Config) string {
	if cc.BlockStorage.Backend == "" {
		return cloudconfig.BackendCinder
	}
	return cc.BlockStorage.Backend
}
