package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestAccountsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts")
	if err := os.WriteFile(p, []byte("# users\nu1:pw1:p1\n\nadm:pw2:p2:admin,member\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a accountFlags
	if err := a.readFile(p); err != nil {
		t.Fatal(err)
	}
	want := accountFlags{{Name: "u1", Password: "pw1", Project: "p1"},
		{Name: "adm", Password: "pw2", Project: "p2", Roles: []string{"admin", "member"}}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("accounts %+v, want %+v", a, want)
	}
	if err := os.WriteFile(p, []byte("nopassword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&accountFlags{}).readFile(p); err == nil {
		t.Fatal("a malformed line was accepted")
	}
}
