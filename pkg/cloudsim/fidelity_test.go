package cloudsim_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// The fidelity tests drive the simulator with the real OpenStack clients
// (Debian's python3-openstackclient and python3-openstacksdk) and check the
// state they leave. They show the simulator speaks the APIs as those clients
// expect: discovery, catalogs, microversions, pagination, status polling.

const (
	openstackCLI = "/usr/bin/openstack"
	systemPython = "/usr/bin/python3"
)

func needClients(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fidelity tests run the python clients (seconds per command); skipped with -short")
	}
	if _, err := os.Stat(openstackCLI); err != nil {
		t.Skip("python3-openstackclient is not installed (" + openstackCLI + " missing): apt-get install python3-openstackclient python3-openstacksdk")
	}
	if err := exec.Command(systemPython, "-c", "import openstack").Run(); err != nil {
		t.Skip("python3-openstacksdk is not installed (" + systemPython + " cannot import openstack)")
	}
}

// clientEnv is a clean environment: only our OS_* variables, a private HOME.
func clientEnv(t *testing.T, base string) []string {
	return []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
		"OS_AUTH_URL=" + base + "/identity/v3",
		"OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=" + cloudsim.DefaultUser,
		"OS_PASSWORD=" + cloudsim.DefaultPassword,
		"OS_PROJECT_NAME=" + cloudsim.DefaultProject,
		"OS_USER_DOMAIN_NAME=" + cloudsim.DefaultDomain,
		"OS_PROJECT_DOMAIN_NAME=" + cloudsim.DefaultDomain,
		"OS_REGION_NAME=" + cloudsim.DefaultRegion,
	}
}

func runCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openstackCLI, append([]string{"--os-volume-api-version", "3"}, args...)...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func cliJSON(t *testing.T, env []string, args ...string) map[string]any {
	t.Helper()
	out := runCLI(t, env, append(args, "-f", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("openstack %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// waitState polls the simulator's state until cond holds.
func waitState(t *testing.T, sim *cloudsim.Sim, what string, cond func(cloudsim.StateDump) bool) cloudsim.StateDump {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := sim.State()
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; state: %+v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func findVolume(d cloudsim.StateDump, id string) *cloudsim.Volume {
	for i := range d.Volumes {
		if d.Volumes[i].ID == id {
			return &d.Volumes[i]
		}
	}
	return nil
}

func TestFidelityOpenStackCLI(t *testing.T) {
	needClients(t)
	t.Parallel()
	sim, base := simtest.Start(t, cloudsim.Config{})
	env := clientEnv(t, base)

	v := cliJSON(t, env, "volume", "create", "--size", "2", "--property", "purpose=fidelity", "fid-vol")
	id, _ := v["id"].(string)
	if id == "" || v["name"] != "fid-vol" {
		t.Fatalf("volume create: %v", v)
	}
	waitState(t, sim, "volume available", func(d cloudsim.StateDump) bool {
		x := findVolume(d, id)
		return x != nil && x.Status == "available" && x.Size == 2 && x.Metadata["purpose"] == "fidelity"
	})
	if out := runCLI(t, env, "volume", "list", "-f", "value", "-c", "ID", "-c", "Name", "-c", "Status"); !strings.Contains(out, id+" fid-vol available") {
		t.Fatalf("volume list:\n%s", out)
	}
	if s := cliJSON(t, env, "volume", "show", "fid-vol"); s["id"] != id || s["status"] != "available" {
		t.Fatalf("volume show: %v", s)
	}

	sn := cliJSON(t, env, "volume", "snapshot", "create", "--volume", "fid-vol", "fid-snap")
	snapID, _ := sn["id"].(string)
	waitState(t, sim, "snapshot available", func(d cloudsim.StateDump) bool {
		return len(d.Snapshots) == 1 && d.Snapshots[0].ID == snapID && d.Snapshots[0].Status == "available" &&
			d.Snapshots[0].VolumeID == id && d.Snapshots[0].Name == "fid-snap"
	})

	runCLI(t, env, "server", "add", "volume", cloudsim.DefaultServerID, "fid-vol")
	waitState(t, sim, "volume in-use on the server", func(d cloudsim.StateDump) bool {
		x := findVolume(d, id)
		return x != nil && x.Status == "in-use" && len(d.Attachments) == 1 &&
			d.Attachments[0].ServerID == cloudsim.DefaultServerID && d.Attachments[0].VolumeID == id
	})

	runCLI(t, env, "volume", "snapshot", "delete", "fid-snap")
	waitState(t, sim, "snapshot gone", func(d cloudsim.StateDump) bool { return len(d.Snapshots) == 0 })

	runCLI(t, env, "server", "remove", "volume", "server-1", "fid-vol") // by server name
	waitState(t, sim, "volume detached", func(d cloudsim.StateDump) bool {
		x := findVolume(d, id)
		return x != nil && x.Status == "available" && len(d.Attachments) == 0
	})
	runCLI(t, env, "volume", "delete", "fid-vol")
	waitState(t, sim, "volume gone", func(d cloudsim.StateDump) bool { return len(d.Volumes) == 0 })
	if sim.Store().Exists("volumes", id) {
		t.Fatal("volume image left after delete")
	}
	if st := sim.Stats(); st.ByStatus["500"] != 0 || st.ByFace["keystone"] == 0 || st.ByFace["nova"] == 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestFidelityOpenStackSDKBlockStorageV2(t *testing.T) {
	needClients(t)
	t.Parallel()
	sim, base := simtest.Start(t, cloudsim.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "testdata/sdk_block_storage_v2.py", base+"/identity/v3", cloudsim.DefaultServerID)
	cmd.Env = clientEnv(t, base)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("sdk script: %v\n%s\n%s", err, out, stderr)
	}
	var res struct {
		Endpoint        string   `json:"block_storage_version"`
		Volume          string   `json:"volume"`
		Clone           string   `json:"clone"`
		CloneSnapshotID string   `json:"clone_snapshot_id"`
		Snapshot        string   `json:"snapshot"`
		CloneSize       int      `json:"clone_size"`
		Device          string   `json:"device"`
		AttachedStatus  string   `json:"attached_status"`
		Names           []string `json:"names"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output: %v\n%s", err, out)
	}
	if res.Endpoint != base+"/volume/v2/demo" {
		t.Fatalf("sdk used endpoint %q, want the v2 one", res.Endpoint)
	}
	if res.CloneSnapshotID != res.Snapshot || res.CloneSize != 2 || res.Device != "/dev/vdb" || res.AttachedStatus != "in-use" {
		t.Fatalf("sdk saw %+v", res)
	}
	// limit=1 pages were followed through volumes_links.
	if strings.Join(res.Names, ",") != "sdk-clone,sdk-vol" {
		t.Fatalf("paginated listing saw %v", res.Names)
	}
	d := waitState(t, sim, "clone and snapshot deleted", func(d cloudsim.StateDump) bool {
		return len(d.Volumes) == 1 && len(d.Snapshots) == 0
	})
	v := d.Volumes[0]
	if v.ID != res.Volume || v.Name != "sdk-vol" || v.Status != "in-use" || v.Metadata["owner"] != "sdk" ||
		len(d.Attachments) != 1 || d.Attachments[0].ServerID != cloudsim.DefaultServerID {
		t.Fatalf("state after sdk: %+v", d)
	}
	if sim.Stats().ByRoute["GET /volume/{ver}/{project}/volumes/detail"] < 2 {
		t.Fatalf("expected paginated detail listing, stats %v", sim.Stats().ByRoute)
	}
}
