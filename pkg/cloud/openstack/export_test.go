package openstack

import "github.com/openblock-csi/openblock-csi/pkg/cloudconfig"

// SetTranslate lets hook_test.go hand in pkg/provider's translation,
// which this package's own tests cannot import.
func SetTranslate(f func(*cloudconfig.Config) Config) { translate = f }
