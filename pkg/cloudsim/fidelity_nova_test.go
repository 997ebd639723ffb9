package cloudsim_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// TestFidelityNovaClient drives the simulator's Nova with python3-novaclient
// at 2.90: a tagged attach that deletes on termination, the attachment
// listing, the detach, limits and the zone listing.
func TestFidelityNovaClient(t *testing.T) {
	needTool(t, novaCLI, "python3-novaclient")
	t.Parallel()
	sim, base := simtest.Start(t, cloudsim.Config{})
	env := clientEnv(t, base)
	nova := func(args ...string) string {
		t.Helper()
		return mustTool(t, env, novaCLI, append([]string{"--os-compute-api-version", "2.90"}, args...)...)
	}
	api := login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	vol := api.createVolume(map[string]any{"size": 1, "name": "fid-nova"})
	api.waitVolume(vol, "available")
	server := cloudsim.DefaultServerID

	att := props(t, nova("volume-attach", "--tag", "fid-tag", "--delete-on-termination", server, vol))
	if att["volumeId"] != vol || att["serverId"] != server || att["tag"] != "fid-tag" || att["delete_on_termination"] != "True" || att["device"] != "/dev/vdb" {
		t.Fatalf("volume-attach printed %v", att)
	}
	d := waitState(t, sim, "volume in-use", func(d cloudsim.StateDump) bool {
		v := findVolume(d, vol)
		return v != nil && v.Status == "in-use" && len(d.Attachments) == 1 && d.Attachments[0].Status == "attached"
	})
	if a := d.Attachments[0]; a.ServerID != server || a.VolumeID != vol || a.Tag != "fid-tag" || !a.DeleteOnTermination || a.Device != "/dev/vdb" {
		t.Fatalf("attachment in state: %+v", a)
	}

	rows := table(t, nova("volume-attachments", server))
	row := rowWith(rows, "VOLUME ID", vol)
	if len(rows) != 1 || row == nil || row["ATTACHMENT ID"] != d.Attachments[0].ID || row["TAG"] != "fid-tag" ||
		row["DELETE ON TERMINATION"] != "True" || row["DEVICE"] != "/dev/vdb" || row["SERVER ID"] != server {
		t.Fatalf("volume-attachments: %v", rows)
	}

	nova("volume-detach", server, vol)
	waitState(t, sim, "volume detached", func(d cloudsim.StateDump) bool {
		v := findVolume(d, vol)
		return v != nil && v.Status == "available" && len(d.Attachments) == 0
	})
	if out := nova("volume-attachments", server); len(table(t, out)) != 0 {
		t.Fatalf("volume-attachments after detach:\n%s", out)
	}

	// limits: the rate table is empty (Nova dropped rate limits), the
	// absolute one counts the simulator's servers.
	servers := sim.Config().Servers
	lt := tables(nova("limits"))
	if len(lt) != 2 || len(lt[0]) != 0 {
		t.Fatalf("limits: want an empty rate table and the absolute one, got %v", lt)
	}
	inst := rowWith(lt[1], "Name", "Instances")
	ram := rowWith(lt[1], "Name", "RAM")
	if inst == nil || inst["Used"] != strconv.Itoa(len(servers)) || inst["Max"] != "10" || ram == nil || ram["Used"] != strconv.Itoa(2048*len(servers)) {
		t.Fatalf("limits absolute: %v", lt[1])
	}
	if rowWith(lt[1], "Name", "SecurityGroups") != nil || rowWith(lt[1], "Name", "Personality") != nil {
		t.Fatalf("limits at 2.90 keep what 2.36 and 2.57 dropped: %v", lt[1])
	}

	// availability-zone-list (admin: the detail view) names every server's zone.
	zones := table(t, nova("availability-zone-list"))
	for _, srv := range servers {
		if z := rowWith(zones, "Name", srv.Zone); z == nil || z["Status"] != "available" {
			t.Fatalf("availability-zone-list lacks %s: %v", srv.Zone, zones)
		}
	}
	if rowWith(zones, "Name", "internal") == nil {
		t.Fatalf("availability-zone-list lacks the internal zone: %v", zones)
	}
	if st := sim.Stats(); st.ByStatus["500"] != 0 || st.ByFace["nova"] == 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestFidelityOpenStackCLIAttachmentsAndLimits: python3-openstackclient's
// Cinder attachment listing (3.27+) and the absolute limits of Nova and
// Cinder together, against the simulator's state.
func TestFidelityOpenStackCLIAttachmentsAndLimits(t *testing.T) {
	needClients(t)
	t.Parallel()
	q := fidelityQuota
	sim, base := simtest.Start(t, cloudsim.Config{Quota: &q})
	env := clientEnv(t, base)
	osc := func(args ...string) []map[string]any {
		t.Helper()
		out := mustTool(t, env, openstackCLI, append([]string{"--os-volume-api-version", "3.27"}, append(args, "-f", "json")...)...)
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("openstack %s: not a JSON list: %v\n%s", strings.Join(args, " "), err, out)
		}
		return rows
	}
	api := login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	vol := api.createVolume(map[string]any{"size": 3, "name": "fid-osc"})
	api.waitVolume(vol, "available")
	if r := api.attach(cloudsim.DefaultServerID, vol); r.code != 200 {
		t.Fatalf("attach: %d %s", r.code, r.raw)
	}
	d := waitState(t, sim, "volume in-use", func(d cloudsim.StateDump) bool {
		return len(d.Attachments) == 1 && d.Attachments[0].Status == "attached"
	})

	rows := osc("volume", "attachment", "list")
	if len(rows) != 1 || rows[0]["ID"] != d.Attachments[0].ID || rows[0]["Volume ID"] != vol ||
		rows[0]["Server ID"] != cloudsim.DefaultServerID || rows[0]["Status"] != "attached" {
		t.Fatalf("volume attachment list: %v; state %+v", rows, d.Attachments)
	}

	limits := map[string]float64{}
	for _, r := range osc("limits", "show", "--absolute") {
		name, _ := r["Name"].(string)
		limits[name], _ = r["Value"].(float64)
	}
	for k, want := range map[string]int{
		"maxTotalVolumes": q.Volumes, "maxTotalVolumeGigabytes": q.Gigabytes, "maxTotalSnapshots": q.Snapshots,
		"totalVolumesUsed": len(d.Volumes), "totalGigabytesUsed": usedGigabytes(d, cloudsim.DefaultProject),
		"maxTotalInstances": 10, "totalInstancesUsed": len(sim.Config().Servers),
	} {
		if v, ok := limits[k]; !ok || v != float64(want) {
			t.Fatalf("limits show --absolute: %s = %v, want %d (%v)", k, limits[k], want, limits)
		}
	}
}
