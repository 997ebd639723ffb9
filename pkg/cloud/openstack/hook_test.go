package openstack_test

import (
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

func init() { openstack.SetTranslate(provider.OpenStackConfig) }
