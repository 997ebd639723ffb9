// Package cloud is the provider-neutral port between the CSI driver and a
// cloud's block storage API. Providers (pkg/cloud/openstack,
// pkg/cloud/lunanode) implement Cloud and translate their own wire types and
// errors into the types here; nothing from an SDK or from net/http crosses it.
package cloud
