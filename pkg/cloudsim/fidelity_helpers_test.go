package cloudsim_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// Helpers for the fidelity tests that run Debian's cinder and nova
// commands (python3-cinderclient, python3-novaclient), which print tables
// only: these run them and read their tables.

const (
	cinderCLI = "/usr/bin/cinder"
	novaCLI   = "/usr/bin/nova"
)

// needTool skips when a client command is missing, naming its package.
func needTool(t *testing.T, path, pkg string) {
	t.Helper()
	needClients(t)
	if _, err := os.Stat(path); err != nil {
		t.Skip(pkg + " is not installed (" + path + " missing): apt-get install " + pkg)
	}
}

// runTool runs a client command in env and returns its stdout, its stderr
// and whether it succeeded.
func runTool(t *testing.T, env []string, bin string, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out\n%s%s", bin, strings.Join(args, " "), o.String(), e.String())
	}
	return o.String(), e.String(), err == nil
}

// mustTool runs a client command that must succeed.
func mustTool(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	out, errOut, ok := runTool(t, env, bin, args...)
	if !ok {
		t.Fatalf("%s %s failed:\n%s%s", bin, strings.Join(args, " "), out, errOut)
	}
	return out
}

// tables reads the prettytable tables in a client's output: each table is
// its rows, keyed by the header's column names.
func tables(out string) [][]map[string]string {
	var all [][]map[string]string
	var header []string
	var rows []map[string]string
	border := 0 // +---+ lines seen in the current table
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "+"):
			border++
			if border == 3 { // the closing border
				all = append(all, rows)
				header, rows, border = nil, nil, 0
			}
		case strings.HasPrefix(line, "|") && border > 0:
			var cells []string
			for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
				cells = append(cells, strings.TrimSpace(c))
			}
			if header == nil {
				header = cells
				continue
			}
			row := map[string]string{}
			for i, h := range header {
				if i < len(cells) {
					row[h] = cells[i]
				}
			}
			rows = append(rows, row)
		}
	}
	return all
}

// table is the only table in out.
func table(t *testing.T, out string) []map[string]string {
	t.Helper()
	all := tables(out)
	if len(all) != 1 {
		t.Fatalf("want one table, found %d in:\n%s", len(all), out)
	}
	return all[0]
}

// props reads a two-column table (Property | Value, Name | Value) as a map.
func props(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, row := range table(t, out) {
		var k, v string
		for h, c := range row {
			if h == "Value" || h == "Max" {
				v = c
			} else if h == "Property" || h == "Name" {
				k = c
			}
		}
		m[k] = v
	}
	return m
}

// rowWith is the first row whose column col is want.
func rowWith(rows []map[string]string, col, want string) map[string]string {
	for _, r := range rows {
		if r[col] == want {
			return r
		}
	}
	return nil
}

func findSnapshot(d cloudsim.StateDump, id string) *cloudsim.Snapshot {
	for i := range d.Snapshots {
		if d.Snapshots[i].ID == id {
			return &d.Snapshots[i]
		}
	}
	return nil
}

func findBackup(d cloudsim.StateDump, id string) *cloudsim.Backup {
	for i := range d.Backups {
		if d.Backups[i].ID == id {
			return &d.Backups[i]
		}
	}
	return nil
}

// usedGigabytes is what Cinder counts against a project's gigabytes quota:
// its volumes' and snapshots' sizes.
func usedGigabytes(d cloudsim.StateDump, project string) int {
	n := 0
	for _, v := range d.Volumes {
		if v.ProjectID == project {
			n += v.Size
		}
	}
	for _, s := range d.Snapshots {
		if s.ProjectID == project {
			n += s.Size
		}
	}
	return n
}
