package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// cloudState is what the simulated cloud holds, by id.
type cloudState struct {
	volumes     map[string]cloudsim.Volume
	snapshots   map[string]cloudsim.Snapshot
	backups     map[string]cloudsim.Backup
	attachments map[string]cloudsim.AttachmentDump // by volume/attachment id
}

func simState(t *testing.T, e env) cloudState {
	t.Helper()
	resp, err := http.Get(e.simURL + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sim/state: %s", resp.Status)
	}
	var d cloudsim.StateDump
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	s := cloudState{
		volumes: map[string]cloudsim.Volume{}, snapshots: map[string]cloudsim.Snapshot{},
		backups: map[string]cloudsim.Backup{}, attachments: map[string]cloudsim.AttachmentDump{},
	}
	for _, v := range d.Volumes {
		s.volumes[v.ID] = v
	}
	for _, sn := range d.Snapshots {
		s.snapshots[sn.ID] = sn
	}
	for _, b := range d.Backups {
		s.backups[b.ID] = b
	}
	for _, a := range d.Attachments {
		s.attachments[a.VolumeID+"/"+a.ID] = a
	}
	// Lunanode keeps its own books.
	if ln := d.Lunanode; ln != nil {
		for _, v := range ln.Volumes {
			id := fmt.Sprintf("lunanode/%s/%d", v.Region, v.ID)
			s.volumes[id] = cloudsim.Volume{ID: id, Name: v.Name, Status: v.Status}
			if v.AttachedTo != "" {
				s.attachments[id] = cloudsim.AttachmentDump{VolumeID: id, Attachment: cloudsim.Attachment{ServerID: v.AttachedTo}}
			}
		}
		for _, sn := range ln.Snapshots {
			id := "lunanode/" + sn.Region + "/" + sn.ID
			s.snapshots[id] = cloudsim.Snapshot{ID: id, Name: sn.Name, Status: sn.Status}
		}
	}
	return s
}

// newSince lists what s has that before had not.
func (s cloudState) newSince(before cloudState) []string {
	var out []string
	for id, v := range s.volumes {
		if _, ok := before.volumes[id]; !ok {
			out = append(out, fmt.Sprintf("volume %s (%s, %s)", id, v.Name, v.Status))
		}
	}
	for id, sn := range s.snapshots {
		if _, ok := before.snapshots[id]; !ok {
			out = append(out, fmt.Sprintf("snapshot %s (%s, %s)", id, sn.Name, sn.Status))
		}
	}
	for id, b := range s.backups {
		if _, ok := before.backups[id]; !ok {
			out = append(out, fmt.Sprintf("backup %s (%s, %s)", id, b.Name, b.Status))
		}
	}
	for id, a := range s.attachments {
		if _, ok := before.attachments[id]; !ok {
			out = append(out, fmt.Sprintf("attachment %s to server %s", id, a.ServerID))
		}
	}
	sort.Strings(out)
	return out
}

// leakCheck waits until the cloud holds nothing the test made: no volume,
// snapshot, backup or attachment beyond what was there before it.
func leakCheck(t *testing.T, e env, before cloudState) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		left := simState(t, e).newSince(before)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left in the cloud after the test:\n  %s", strings.Join(left, "\n  "))
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// setFaults replaces the simulator's fault injection.
func setFaults(t *testing.T, e env, f cloudsim.Faults) {
	t.Helper()
	b, _ := json.Marshal(f)
	req, _ := http.NewRequest(http.MethodPut, e.simURL+"/_sim/faults", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sim/faults: %s", resp.Status)
	}
}
