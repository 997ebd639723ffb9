// Package lunanode implements cloud.Cloud on the LunaNode Dynamic API
// (volume/* actions, https://dynamic.lunanode.com/api/{category}/{action}/).
//
// Identifiers. LunaNode volume ids are numeric and scoped to a region, and
// snapshot calls need the region, so the ids this package hands out carry it:
// volumes are "region/volumeid" (toronto/4682), snapshots
// "region/snapshotuuid". Parsing is strict: an id that is not of this form,
// or names a region this client is not configured for, cannot name an
// existing resource and is reported as cloud.ErrNotFound (so a lookup or
// delete of a garbage id behaves like one of a deleted resource, which is
// what CSI expects of "non-existent" ids).
//
// What LunaNode does not have. There is no metadata and no description on
// volumes or snapshots: the request Name becomes the LunaNode label (the
// idempotency key, found again through ListOptions.Name), Description and
// Metadata are dropped. There are no backups, no quota call and no clone
// (Capabilities says so); a volume can only be extended while detached.
package lunanode
