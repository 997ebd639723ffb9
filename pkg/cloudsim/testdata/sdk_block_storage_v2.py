"""Drive the simulator with openstacksdk's block-storage v2 proxy.

Usage: python3 sdk_block_storage_v2.py AUTH_URL SERVER_ID
Prints one JSON object with the ids it created and what it observed.
"""
import json
import sys

import openstack

auth_url, server_id = sys.argv[1], sys.argv[2]
conn = openstack.connect(
    auth_url=auth_url,
    username="admin",
    password="secret",
    project_name="demo",
    user_domain_name="Default",
    project_domain_name="Default",
    region_name="RegionOne",
    block_storage_api_version="2",
    identity_api_version="3",
)
bs = conn.block_storage
out = {"block_storage_version": bs.get_endpoint()}

vol = bs.create_volume(size=1, name="sdk-vol", metadata={"owner": "sdk"})
vol = bs.wait_for_status(vol, status="available", failures=["error"], interval=0.05, wait=30)
out["volume"] = vol.id
out["volume_status"] = vol.status

snap = bs.create_snapshot(volume_id=vol.id, name="sdk-snap")
snap = bs.wait_for_status(snap, status="available", failures=["error"], interval=0.05, wait=30)
out["snapshot"] = snap.id

clone = bs.create_volume(size=2, name="sdk-clone", snapshot_id=snap.id)
clone = bs.wait_for_status(clone, status="available", failures=["error"], interval=0.05, wait=30)
out["clone"] = clone.id
out["clone_snapshot_id"] = clone.snapshot_id
out["clone_size"] = clone.size

att = conn.compute.create_volume_attachment(server_id, volume_id=vol.id)
out["device"] = att.device
vol = bs.wait_for_status(bs.get_volume(vol.id), status="in-use", failures=["error"], interval=0.05, wait=30)
out["attached_status"] = vol.status

out["names"] = sorted(v.name for v in bs.volumes(details=True, limit=1))

bs.delete_snapshot(snap.id)
bs.wait_for_delete(snap, interval=0.05, wait=30)
bs.delete_volume(clone.id)
bs.wait_for_delete(clone, interval=0.05, wait=30)
print(json.dumps(out))
