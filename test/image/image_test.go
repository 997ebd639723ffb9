// Package image checks the image users deploy: the OCI archives `make
// image` writes under bin/, built from the root Dockerfile. It reads their
// labels and size, unpacks them, and (as root) runs every program the node
// plugin needs inside the amd64 image, with a real mkfs and blkid; the
// arm64 image's programs are checked to be arm64. Without an archive the
// image tests skip saying so, unless REQUIRE_IMAGE=1 (CI) makes that a
// failure.
package image

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/internal/ociarchive"
	"github.com/openblock-csi/openblock-csi/pkg/doctor"
)

// repoFile is a path in the repository.
func repoFile(rel string) string { return filepath.Join("..", "..", rel) }

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoFile(rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// version is the release version every artifact must carry.
func version(t *testing.T) string {
	return strings.TrimSpace(readRepoFile(t, "VERSION"))
}

// recipeTools are the programs hack/image/node-tools.txt puts in the image.
func recipeTools(t *testing.T) []string {
	var out []string
	for _, line := range strings.Split(readRepoFile(t, "hack/image/node-tools.txt"), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// TestRecipeNamesNodeTools needs no image: the recipe lists every program
// the doctor says a node plugin image must carry.
func TestRecipeNamesNodeTools(t *testing.T) {
	have := map[string]bool{}
	for _, tool := range recipeTools(t) {
		have[tool] = true
	}
	for _, tool := range doctor.NodeTools() {
		if !have[tool] {
			t.Errorf("hack/image/node-tools.txt lacks %s, a program the node plugin runs", tool)
		}
	}
}

// image opens the archive `make image` wrote for arch.
func image(t *testing.T, arch string) *ociarchive.Image {
	t.Helper()
	file := repoFile("bin/openblock-csi-" + version(t) + "-linux-" + arch + ".oci.tar")
	if _, err := os.Stat(file); err != nil {
		if os.Getenv("REQUIRE_IMAGE") == "1" {
			t.Fatalf("REQUIRE_IMAGE=1 and no image archive: %v (run make image)", err)
		}
		t.Skipf("no image archive %s: run `make image` (as root) to check the image", file)
	}
	a, err := ociarchive.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := a.Only()
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// unpack writes the image's files into a temporary directory.
func unpack(t *testing.T, img *ociarchive.Image) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := img.Unpack(root); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestImageLabelsUserAndArchitecture(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			img := image(t, arch)
			c := img.Config
			if c.Architecture != arch || c.OS != "linux" {
				t.Errorf("platform %s/%s, want linux/%s", c.OS, c.Architecture, arch)
			}
			if c.Config.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (the controller runs non-root)", c.Config.User)
			}
			if strings.Join(c.Config.Entrypoint, " ") != "/usr/local/bin/openblock-csi" {
				t.Errorf("entrypoint %q", c.Config.Entrypoint)
			}
			want := map[string]string{
				"org.opencontainers.image.title":    "openblock-csi",
				"org.opencontainers.image.version":  version(t),
				"org.opencontainers.image.licenses": "Apache-2.0",
			}
			for k, v := range want {
				if got := c.Config.Labels[k]; got != v {
					t.Errorf("label %s = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"description", "source", "revision", "created"} {
				if c.Config.Labels["org.opencontainers.image."+k] == "" {
					t.Errorf("label org.opencontainers.image.%s is missing", k)
				}
			}
			if rev := c.Config.Labels["org.opencontainers.image.revision"]; len(strings.TrimSuffix(rev, "-dirty")) != 40 {
				t.Errorf("revision label %q is not a commit id", rev)
			}
		})
	}
}

// maxSize is the uncompressed size the image must stay within.
const maxSize = 45_000_000

func TestImageSize(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			n, err := image(t, arch).UncompressedSize()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes uncompressed", arch, n)
			if n > maxSize {
				t.Errorf("%d bytes uncompressed, over the %d target", n, maxSize)
			}
		})
	}
}

// TestImageHoldsNothingElse: the programs are the recipe's and the driver;
// no package manager, no general-purpose shell, no hardware database.
func TestImageHoldsNothingElse(t *testing.T) {
	root := unpack(t, image(t, "amd64"))
	allowed := map[string]bool{"openblock-csi": true}
	for _, tool := range recipeTools(t) {
		allowed[tool] = true
	}
	// Names a tool reaches its program through (sh → dash).
	allowed["dash"] = true
	allowed["mke2fs"] = true
	for _, dir := range []string{"usr/bin", "usr/sbin", "usr/local/bin"} {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !allowed[e.Name()] {
				t.Errorf("/%s/%s is in the image but not in the recipe", dir, e.Name())
			}
		}
	}
	for _, p := range []string{"usr/bin/apt-get", "usr/bin/dpkg", "usr/bin/bash", "usr/lib/udev/hwdb.bin", "etc/udev/hwdb.bin", "usr/lib/udev/hwdb.d"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("/%s is in the image", p)
		}
	}
	for _, p := range []string{"etc/mke2fs.conf", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "usr/local/bin/openblock-csi"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the image lacks /%s: %v", p, err)
		}
	}
}

// TestArm64ImageIsArm64 reads the ELF headers: the driver and every
// program of the arm64 image are built for arm64.
func TestArm64ImageIsArm64(t *testing.T) {
	root := unpack(t, image(t, "arm64"))
	progs := []string{"usr/local/bin/openblock-csi"}
	for _, tool := range doctor.NodeTools() {
		progs = append(progs, findProgram(t, root, tool))
	}
	for _, p := range progs {
		f, err := elf.Open(filepath.Join(root, p))
		if err != nil {
			if strings.Contains(err.Error(), "bad magic") {
				continue // a script
			}
			t.Errorf("%s: %v", p, err)
			continue
		}
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("%s is built for %s, not arm64", p, f.Machine)
		}
		f.Close()
	}
}

// findProgram is the image path of a program, following links inside root.
func findProgram(t *testing.T, root, name string) string {
	t.Helper()
	for _, dir := range []string{"usr/sbin", "usr/bin"} {
		p := filepath.Join(dir, name)
		for i := 0; i < 10; i++ {
			fi, err := os.Lstat(filepath.Join(root, p))
			if err != nil {
				break
			}
			if fi.Mode()&os.ModeSymlink == 0 {
				return p
			}
			target, _ := os.Readlink(filepath.Join(root, p))
			if filepath.IsAbs(target) {
				p = strings.TrimPrefix(target, "/")
			} else {
				p = filepath.Join(filepath.Dir(p), target)
			}
		}
	}
	t.Errorf("the image has no program %s", name)
	return "usr/bin/" + name
}

func TestChartAppVersionIsVERSION(t *testing.T) {
	chart := readRepoFile(t, "charts/openblock-csi/Chart.yaml")
	if !strings.Contains(chart, "\nappVersion: \""+version(t)+"\"\n") {
		t.Errorf("charts/openblock-csi/Chart.yaml's appVersion is not %q (the file VERSION)", version(t))
	}
	values := readRepoFile(t, "charts/openblock-csi/values.yaml")
	if !strings.Contains(values, "\n  repository: openblock-csi\n") || !strings.Contains(values, "\n  tag: \"\"\n") {
		t.Error("values.yaml's image.tag is no longer empty (defaulting to appVersion)")
	}
}
