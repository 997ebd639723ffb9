package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type rec struct {
	N    int    `json:"n"`
	Name string `json:"name"`
}

func TestRecordsOutliveTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "j.log")
	j, kept, found, err := Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if found || len(kept) != 0 {
		t.Fatalf("a new journal: found %v, records %v; want none", found, kept)
	}
	want := []rec{{1, "a"}, {2, "b"}, {3, "c"}}
	for _, r := range want {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: a killed process does not close its files.
	_, kept, found, err = Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !found || !slices.Equal(kept, want) {
		t.Fatalf("reopened: found %v, records %v; want %v", found, kept, want)
	}
}

func TestOpenKeepsOnlyWhatKeepAcceptsAndRewritesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	j, _, _, err := Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if err := j.Append(rec{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	even := func(r rec) bool { return r.N%2 == 0 }
	j2, kept, _, err := Open(path, even)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rec{{N: 2}, {N: 4}, {N: 6}}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	if err := j2.Append(rec{N: 7}); err != nil {
		t.Fatal(err)
	}
	_, kept, _, err = Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rec{{N: 2}, {N: 4}, {N: 6}, {N: 7}}; !slices.Equal(kept, want) {
		t.Fatalf("after the rewrite and one more append: %v, want %v", kept, want)
	}
}

func TestATornLastLineIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	if err := os.WriteFile(path, []byte("{\"n\":1}\n{\"n\":2}\n{\"n\":3,\"na"), 0o600); err != nil {
		t.Fatal(err)
	}
	j, kept, found, err := Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rec{{N: 1}, {N: 2}}; !found || !slices.Equal(kept, want) {
		t.Fatalf("found %v, kept %v; want %v", found, kept, want)
	}
	// The torn line is gone from the file, so the next record starts a line.
	if err := j.Append(rec{N: 4}); err != nil {
		t.Fatal(err)
	}
	_, kept, _, err = Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rec{{N: 1}, {N: 2}, {N: 4}}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
}

func TestAFailedAppendRemovesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	j, _, _, err := Open[rec](path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(rec{N: 1}); err != nil {
		t.Fatal(err)
	}
	j.f.Close() // the next write fails
	if err := j.Append(rec{N: 2}); err == nil {
		t.Fatal("append to a closed file: no error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after a failed append the file is still there (%v): a successor would trust a journal missing a record", err)
	}
	if err := j.Append(rec{N: 3}); err == nil {
		t.Fatal("append after a failure: no error")
	}
}
