// Package cloud is the provider-neutral port between the CSI driver and a
// cloud's block storage API: the Cloud interface, the domain types and the
// error kinds, nothing else. Providers (pkg/cloud/openstack,
// pkg/cloud/lunanode) implement Cloud and translate their own wire types and
// errors into the types here; nothing from an SDK or from net/http crosses
// it. What the driver builds on top of the port lives beside it: waiting
// for state changes in pkg/cloud/waiter, finding resources by name (what
// makes creates idempotent) in pkg/cloud/lookup, the behaviour every
// provider must show in pkg/cloud/contract; pkg/provider builds a provider
// from the cloud config.
package cloud
