package node

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLedger(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l, err := OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.Get("/k/a"); ok || err != nil {
		t.Fatalf("Get on empty ledger: %v %v", ok, err)
	}
	r := Record{Path: "/k/a/", VolumeID: "v1", Kind: KindStage, Device: "/dev/loop1", Created: true}
	if err := l.Put(r); err != nil {
		t.Fatal(err)
	}
	l2, _ := OpenLedger(dir) // a restarted driver reads the same records
	got, ok, err := l2.Get("/k/a")
	if !ok || err != nil || got.VolumeID != "v1" || got.Path != "/k/a" || !got.Created {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
	if err := l.Delete("/k/a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete("/k/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := l.Get("/k/a"); ok {
		t.Fatal("record survived Delete")
	}
	// A damaged record is an error, never a licence.
	_ = l.Put(Record{Path: "/k/b", VolumeID: "v2"})
	if err := os.WriteFile(l.file("/k/b"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.Get("/k/b"); ok || err == nil {
		t.Fatalf("damaged record: %v %v", ok, err)
	}
}
