package cloudsim_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// fidelityQuota is set on the simulators the client tests start, so that
// quota-show and absolute-limits must print these and not the defaults.
var fidelityQuota = cloudsim.Quota{Volumes: 17, Snapshots: 19, Gigabytes: 230, Backups: 11, BackupGigabytes: 240}

// TestFidelityCinderClient drives the generic cloud's Cinder v3 with
// python3-cinderclient at three microversions: the oldest (3.0), the one
// that extends in-use volumes (3.42) and the newest the simulator offers
// (3.70, past 3.66 where a snapshot of an in-use volume needs no force).
func TestFidelityCinderClient(t *testing.T) {
	needTool(t, cinderCLI, "python3-cinderclient")
	t.Parallel()
	for _, ver := range []string{"3.0", "3.42", "3.70"} {
		t.Run(ver, func(t *testing.T) {
			t.Parallel()
			q := fidelityQuota
			sim, base := simtest.Start(t, cloudsim.Config{Quota: &q})
			cinderClientAt(t, sim, base, ver)
		})
	}
}

func cinderClientAt(t *testing.T, sim *cloudsim.Sim, base, ver string) {
	env := clientEnv(t, base)
	cinder := func(args ...string) string {
		t.Helper()
		return mustTool(t, env, cinderCLI, append([]string{"--os-volume-api-version", ver}, args...)...)
	}
	cinderFails := func(args ...string) string {
		t.Helper()
		out, errOut, ok := runTool(t, env, cinderCLI, append([]string{"--os-volume-api-version", ver}, args...)...)
		if ok {
			t.Fatalf("cinder %s succeeded, want a refusal:\n%s", strings.Join(args, " "), out)
		}
		return errOut
	}
	micro := func(minor int) bool { m, _ := strconv.Atoi(strings.TrimPrefix(ver, "3.")); return m >= minor }
	name := "fid-" + ver

	// create, then list.
	created := props(t, cinder("create", "--name", name, "--metadata", "purpose=fidelity", "--", "1"))
	id := created["id"]
	if id == "" || created["name"] != name || created["size"] != "1" {
		t.Fatalf("create printed %v", created)
	}
	// cinderclient shows the volume as the microversion has it.
	if _, has := created["group_id"]; has != micro(13) {
		t.Fatalf("create at %s: group_id shown %v", ver, has)
	}
	waitState(t, sim, "volume available", func(d cloudsim.StateDump) bool {
		v := findVolume(d, id)
		return v != nil && v.Status == "available" && v.Size == 1 && v.Metadata["purpose"] == "fidelity"
	})

	// The volume goes in-use through Nova, as a CO's attach would.
	api := login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	if r := api.attach(cloudsim.DefaultServerID, id); r.code != 200 {
		t.Fatalf("attach: %d %s", r.code, r.raw)
	}
	d := waitState(t, sim, "volume in-use", func(d cloudsim.StateDump) bool {
		v := findVolume(d, id)
		return v != nil && v.Status == "in-use" && len(d.Attachments) == 1 && d.Attachments[0].Status == "attached"
	})
	attachmentID := d.Attachments[0].ID
	row := rowWith(table(t, cinder("list")), "ID", id)
	if row == nil || row["Name"] != name || row["Status"] != "in-use" || row["Size"] != "1" || row["Attached to"] != cloudsim.DefaultServerID {
		t.Fatalf("list at %s: %v", ver, row)
	}

	// extend in-use: refused before 3.42 as Cinder refuses it, done after.
	if !micro(42) {
		if e := cinderFails("extend", id, "2"); !strings.Contains(e, "status must be 'available' to extend, currently in-use") || !strings.Contains(e, "HTTP 400") {
			t.Fatalf("extend in-use at %s: %s", ver, e)
		}
		if v := findVolume(sim.State(), id); v.Size != 1 || v.Status != "in-use" {
			t.Fatalf("refused extend changed the volume: %+v", v)
		}
	} else {
		cinder("extend", id, "2")
		waitState(t, sim, "volume extended in use", func(d cloudsim.StateDump) bool {
			v := findVolume(d, id)
			return v != nil && v.Size == 2 && v.Status == "in-use" && len(v.Attachments) == 1
		})
	}
	size := findVolume(sim.State(), id).Size

	// snapshot of the in-use volume: force before 3.66, none after.
	var snapArgs []string
	if micro(66) {
		snapArgs = []string{"snapshot-create", "--name", name + "-snap", id}
	} else {
		if e := cinderFails("snapshot-create", "--name", name+"-snap", id); !strings.Contains(e, "status must be available, but current status is: in-use") {
			t.Fatalf("snapshot of in-use without force at %s: %s", ver, e)
		}
		snapArgs = []string{"snapshot-create", "--force", "True", "--name", name + "-snap", id}
	}
	snapID := props(t, cinder(snapArgs...))["id"]
	waitState(t, sim, "snapshot available", func(d cloudsim.StateDump) bool {
		s := findSnapshot(d, snapID)
		return s != nil && s.Status == "available" && s.VolumeID == id && s.Size == size && s.Name == name+"-snap"
	})

	// backup of the in-use volume (force, at every version), then restore.
	backupID := props(t, cinder("backup-create", "--force", "--name", name+"-backup", id))["id"]
	waitState(t, sim, "backup available", func(d cloudsim.StateDump) bool {
		b := findBackup(d, backupID)
		v := findVolume(d, id)
		return b != nil && b.Status == "available" && b.VolumeID == id && b.Size == size && v.Status == "in-use"
	})
	restoreArgs := []string{"backup-restore", "--name", name + "-restored", backupID}
	if micro(47) {
		// From 3.47 cinderclient restores a typed volume through a volume
		// create with backup_id.
		restoreArgs = []string{"backup-restore", "--name", name + "-restored", "--volume-type", "lvmdriver-1", backupID}
	}
	restored := props(t, cinder(restoreArgs...))
	restoredID := restored["volume_id"]
	if restoredID == "" || restoredID == id {
		t.Fatalf("restore printed %v", restored)
	}
	d = waitState(t, sim, "backup restored to a new volume", func(d cloudsim.StateDump) bool {
		v := findVolume(d, restoredID)
		b := findBackup(d, backupID)
		return v != nil && v.Status == "available" && v.Size == size && b.Status == "available"
	})
	if v := findVolume(d, restoredID); v.Metadata["purpose"] != "fidelity" || v.Name != name+"-restored" || v.VolumeType != "lvmdriver-1" {
		t.Fatalf("restored volume: %+v", v)
	}

	// attachment-list exists from 3.27 (cinderclient offers no such
	// command below it).
	if micro(27) {
		rows := table(t, cinder("attachment-list"))
		a := rowWith(rows, "ID", attachmentID)
		if len(rows) != 1 || a == nil || a["Volume ID"] != id || a["Status"] != "attached" || a["Server ID"] != cloudsim.DefaultServerID {
			t.Fatalf("attachment-list at %s, attachment %s: %v", ver, attachmentID, rows)
		}
	}

	// quota-show and absolute-limits print the simulator's quota and usage.
	quota := props(t, cinder("quota-show", cloudsim.DefaultProject))
	for k, want := range map[string]int{"volumes": fidelityQuota.Volumes, "snapshots": fidelityQuota.Snapshots,
		"gigabytes": fidelityQuota.Gigabytes, "backups": fidelityQuota.Backups, "backup_gigabytes": fidelityQuota.BackupGigabytes} {
		if quota[k] != strconv.Itoa(want) {
			t.Fatalf("quota-show at %s: %s = %q, want %d (%v)", ver, k, quota[k], want, quota)
		}
	}
	d = sim.State()
	limits := props(t, cinder("absolute-limits"))
	for k, want := range map[string]int{
		"maxTotalVolumes": fidelityQuota.Volumes, "maxTotalVolumeGigabytes": fidelityQuota.Gigabytes,
		"maxTotalSnapshots": fidelityQuota.Snapshots, "maxTotalBackups": fidelityQuota.Backups,
		"totalVolumesUsed": len(d.Volumes), "totalSnapshotsUsed": len(d.Snapshots), "totalBackupsUsed": len(d.Backups),
		"totalGigabytesUsed": usedGigabytes(d, cloudsim.DefaultProject), "totalBackupGigabytesUsed": size,
	} {
		if limits[k] != strconv.Itoa(want) {
			t.Fatalf("absolute-limits at %s: %s = %q, want %d (%v)", ver, k, limits[k], want, limits)
		}
	}
	if st := sim.Stats(); st.ByStatus["500"] != 0 {
		t.Fatalf("simulator answered 500: %+v", st.ByStatus)
	}
}
