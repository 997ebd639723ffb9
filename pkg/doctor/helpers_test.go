package doctor

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// line is one printed check and the fix printed under it.
type line struct {
	status Status
	name   string
	detail string
	fix    string
}

// run runs the doctor and returns its output, parsed lines by check name,
// and ok.
func run(t *testing.T, opts Options) (string, map[string]line, bool) {
	t.Helper()
	var buf bytes.Buffer
	ok := Run(context.Background(), opts, &buf)
	out := buf.String()
	t.Logf("doctor output:\n%s", out)
	lines := map[string]line{}
	var last string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		s := sc.Text()
		if strings.HasPrefix(s, "       fix: ") {
			l := lines[last]
			l.fix = strings.TrimPrefix(s, "       fix: ")
			lines[last] = l
			continue
		}
		if len(s) < 7 || s[0] != '[' || s[5] != ']' {
			continue
		}
		rest := s[7:]
		name := strings.TrimSpace(rest[:min(nameWidth, len(rest))])
		detail := ""
		if len(rest) > nameWidth {
			detail = strings.TrimSpace(rest[nameWidth:])
		}
		if _, dup := lines[name]; dup {
			t.Errorf("check %q printed twice", name)
		}
		lines[name] = line{status: Status(s[1:5]), name: name, detail: detail}
		last = name
	}
	return out, lines, ok
}

func expect(t *testing.T, lines map[string]line, name string, want Status, detailHas ...string) line {
	t.Helper()
	l, ok := lines[name]
	if !ok {
		t.Errorf("no %q line", name)
		return l
	}
	if l.status != want {
		t.Errorf("%s: %s (%s), want %s", name, l.status, l.detail, want)
	}
	for _, s := range detailHas {
		if !strings.Contains(l.detail, s) {
			t.Errorf("%s: detail %q lacks %q", name, l.detail, s)
		}
	}
	if (l.status == Fail) && l.fix == "" {
		t.Errorf("%s failed without a fix line", name)
	}
	return l
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Replace, never rewrite in place: a file written read-only (as the
	// DMI file is) cannot be opened for writing again by a non-root user,
	// and os.WriteFile keeps an existing file's mode instead of applying
	// mode.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
