package main

import (
	"strings"
	"testing"
)

func TestRunRegisterFlags(t *testing.T) {
	if err := runRegister([]string{"--no-such-flag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
	// Without --kubelet-registration-path the kubelet could not find the
	// driver: refused before anything is served.
	err := runRegister([]string{"--registration-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "registration path must be absolute") {
		t.Errorf("runRegister without --kubelet-registration-path = %v", err)
	}
}
