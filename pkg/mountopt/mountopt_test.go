package mountopt

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := [][]string{
		nil,
		{"noatime"},
		{"rw,noatime", "discard"},
		{"ro"},
		{"nouuid"},
		{"data=ordered", "commit=30"},
		{"context=system_u:object_r:container_file_t:s0"},
	}
	for _, f := range ok {
		if err := Check(f); err != nil {
			t.Errorf("Check(%q) = %v, want nil", f, err)
		}
	}
	bad := map[string][]string{
		"remount":             {"remount,ro"},
		"bind":                {"noatime", "bind"},
		"RBIND":               {"RBIND"},
		"move":                {"move"},
		"loop=/x":             {"loop=/x"},
		"loop":                {"loop"},
		"X-mount.mkdir":       {"X-mount.mkdir"},
		"x-systemd.automount": {"x-systemd.automount"},
		"helper=none":         {"helper=none"},
		"exec;reboot":         {"rw,exec;reboot"},
		"":                    {"rw,,noatime"},
		"a b":                 {"a b"},
		"o=$(x)":              {"o=$(x)"},
		"shared":              {"shared"},
		"make-private":        {"make-private"},
		"-o":                  {"-o"},
		"uid=\n":              {"uid=\n"},
	}
	for want, f := range bad {
		err := Check(f)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Check(%q) = %v, want *Error", f, err)
			continue
		}
		if e.Option != want {
			t.Errorf("Check(%q) names %q, want %q", f, e.Option, want)
		}
	}
}
