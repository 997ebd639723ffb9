// Package lunanode is the simulator's LunaNode face: the Dynamic API's
// volume/* actions at /lunanode/api/{category}/{action}/ (it also answers
// when mounted with the prefix stripped, at /api/...).
//
// It checks requests the way LunaNode documents them (api_id, api_partialkey,
// HMAC-SHA512 signature over handler|req|nonce, nonce = UTC seconds) and
// answers with LunaNode's envelopes ({"success": "yes"|"no", "error": ...}).
// LunaNode's clients send the time in seconds as the nonce, so several
// requests legitimately share a nonce; what is refused is a nonce far from
// the server's clock and a request replayed with the same nonce (the same
// api_id and signature seen again).
//
// Business rules, from the API document: regions toronto, montreal, roubaix;
// numeric volume ids and sizes in GB, both sent as strings; extend only
// while unattached and only to grow; snapshot-list and snapshot-delete need
// the region; a volume attached to a VM cannot be deleted; attach needs a
// known VM. Where the document is silent the simulator does what the
// OpenStack Cinder underneath LunaNode does: a volume with snapshots cannot
// be deleted, a volume is attached to at most one VM, and statuses move
// creating -> available, attaching -> in-use, detaching -> available,
// deleting -> gone after configurable durations. volume/list reports a usable
// volume as "active" (as in the document's example) while volume/info
// reports the Cinder status.
//
// Volume data lives in a disk.Store: a volume is a sparse file, a snapshot a
// copy, a volume from a snapshot a copy back. Attaching to the VM configured
// as the local machine exposes the volume through Store.Attach with the
// volume's identification UUID as the disk serial, Durations.Device after
// the attachment is done.
package lunanode
