package mountpath

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/kubelet/pods/x/volumes`: `/var/lib/kubelet/pods/x/volumes`,
		`/mnt/with\040space`:              "/mnt/with space",
		`/a\011b\012c\134d`:               "/a\tb\nc\\d",
		`/trailing\04`:                    `/trailing\04`,
		`/not\999octal`:                   `/not\999octal`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
