// Package app wires the driver binary: it turns a cloud config into the
// provider it names. The driver package itself never names a provider.
package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
)

// NewCloud builds the provider the cloud config's [BlockStorage] backend
// names: Cinder (authenticating against Keystone now) or Lunanode.
func NewCloud(ctx context.Context, cc *cloudconfig.Config, userAgent string) (cloud.Cloud, error) {
	switch cc.BlockStorage.Backend {
	case "", cloudconfig.BackendCinder:
		c, err := openstack.New(ctx, cc, openstack.WithUserAgent(userAgent))
		if err != nil {
			return nil, err
		}
		return c, nil
	case cloudconfig.BackendLunanode:
		l := cc.Lunanode
		c, err := lunanode.New(lunanode.Config{
			APIURL: l.APIURL, APIID: l.APIID, APIKey: l.APIKey.Reveal(),
			SerialLength: l.SerialLength, Regions: l.Zones, DefaultRegion: l.DefaultZone,
		})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("cloud config: unknown backend %q (want %s or %s)", cc.BlockStorage.Backend, cloudconfig.BackendCinder, cloudconfig.BackendLunanode)
}

// ParseWaiterMode parses --waiter-mode.
func ParseWaiterMode(s string) (cloud.WaiterMode, error) {
	switch m := cloud.WaiterMode(s); m {
	case cloud.WaitBatched, cloud.WaitPerVolume:
		return m, nil
	}
	return "", fmt.Errorf("waiter mode %q: want %s or %s", s, cloud.WaitBatched, cloud.WaitPerVolume)
}

// HTTPHandlers are mounted on --http-endpoint next to /healthz, keyed by
// path. Metrics register theirs here.
var HTTPHandlers = map[string]http.Handler{}
