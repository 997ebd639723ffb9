package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Kinds of Record.
const (
	KindStage   = "stage"
	KindPublish = "publish"
)

// Record is what the node service made at one path: which volume, which
// device, and whether it created the path itself. NodeUnstage and
// NodeUnpublish act on a mount only when a record says it is theirs, and
// remove a path only when the record says they created it.
type Record struct {
	Path     string `json:"path"`
	VolumeID string `json:"volumeID"`
	Kind     string `json:"kind"`
	// Device is the block device behind the mount.
	Device string `json:"device"`
	// Staging is the staging path a filesystem publish binds.
	Staging string `json:"staging,omitempty"`
	Block   bool   `json:"block,omitempty"`
	// ReadOnly: a raw block publish that made the device read-only;
	// SetRO says this record's publish turned the flag on (it was off).
	ReadOnly bool `json:"readOnly,omitempty"`
	SetRO    bool `json:"setRO,omitempty"`
	// Created: the path did not exist before NodeStage/NodePublish.
	Created bool `json:"created"`
}

// Ledger keeps Records as one small JSON file per path in a directory that
// survives driver restarts (under the kubelet's directory).
type Ledger struct {
	dir string
	mu  sync.Mutex
}

// OpenLedger creates dir (0700) if needed.
func OpenLedger(dir string) (*Ledger, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("state directory %q must be absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Ledger{dir: dir}, nil
}

// Dir is where the records live.
func (l *Ledger) Dir() string { return l.dir }

func (l *Ledger) file(path string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(path)))
	return filepath.Join(l.dir, hex.EncodeToString(sum[:16])+".json")
}

// Get returns the record for path, if any.
func (l *Ledger) Get(path string) (Record, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := os.ReadFile(l.file(path))
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("read the record of %s: %w", path, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil || r.Path != filepath.Clean(path) {
		return Record{}, false, fmt.Errorf("the record of %s in %s is damaged", path, l.dir)
	}
	return r, true, nil
}

// Put writes r atomically.
func (l *Ledger) Put(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Path = filepath.Clean(r.Path)
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f := l.file(r.Path)
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("record %s: %w", r.Path, err)
	}
	if err := os.Rename(tmp, f); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("record %s: %w", r.Path, err)
	}
	return nil
}

// All returns every record.
func (l *Ledger) All() ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.dir, err)
	}
	var out []Record
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(l.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r Record
		if json.Unmarshal(data, &r) == nil && r.Path != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// Delete forgets path; a missing record is fine.
func (l *Ledger) Delete(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Remove(l.file(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget %s: %w", path, err)
	}
	return nil
}
