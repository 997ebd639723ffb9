package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// startBinary runs the real driver binary (controller mode) against a
// simulator of backend and returns it with its metrics address.
func startBinary(t *testing.T, backend string) (*harness.DriverProcess, *harness.Sim, string, string) {
	t.Helper()
	b, err := harness.Lookup(backend)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := harness.BuildDriver(dir)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := harness.StartSim(b.SimConfig(filepath.Join(dir, "sim"), filepath.Join(dir, "by-id")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg, err := b.WriteCloudConfig(dir, sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "driver.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: bin, Dir: dir, CloudConfig: cfg, Mode: "controller",
		ExtraArgs: []string{"--http-endpoint=" + addr},
		Stdout:    logf, Stderr: logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p, sim, addr, cfg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	var lastErr error
	for i := 0; i < 50; i++ {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return 0, ""
}

// sampleValue returns the value of the first sample of metric whose labels
// contain every given label pair.
func sampleValue(body, metric string, labels ...string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(metric) + `\{([^}]*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		ok := true
		for _, l := range labels {
			if !strings.Contains(m[1], l) {
				ok = false
			}
		}
		if ok {
			v, err := strconv.ParseFloat(m[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestBinaryServesMetricsAfterCreateVolume(t *testing.T) {
	p, _, addr, _ := startBinary(t, "cinder-v3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q, want 200", code, body)
	}
	ctrl := csi.NewControllerClient(p.Conn)
	resp, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name:               "metrics-vol",
		CapacityRange:      &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
	})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	t.Cleanup(func() {
		_, _ = ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: resp.Volume.VolumeId})
	})
	_, body := httpGet(t, "http://"+addr+"/metrics")

	if v, ok := sampleValue(body, "openblock_csi_rpc_duration_seconds_count", `method="CreateVolume"`, `code="OK"`); !ok || v < 1 {
		t.Errorf("no CreateVolume RPC sample with a count (got %v, %v)", v, ok)
	}
	if v, ok := sampleValue(body, "openblock_csi_cloud_requests_total", `service="volume"`, `code="202"`); !ok || v < 1 {
		t.Errorf("no accepted cloud volume request counted (got %v, %v)", v, ok)
	}
	if v, ok := sampleValue(body, "openblock_csi_waiter_batch_size_count", `kind="volume`); !ok || v < 1 {
		t.Errorf("no waiter poll counted (got %v, %v)", v, ok)
	}
	if strings.Contains(body, resp.Volume.VolumeId) {
		t.Errorf("a volume id leaked into metric labels")
	}
}

func TestBinaryDoctor(t *testing.T) {
	p, _, _, cfg := startBinary(t, "cinder-v2")
	bin := p.Cmd.Path

	run := func(cfgPath string) (string, error) {
		cmd := exec.Command(bin, "doctor", "--cloud-config="+cfgPath, "--node-checks=false")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	out, err := run(cfg)
	if err != nil {
		t.Fatalf("doctor with good credentials failed: %v\n%s", err, out)
	}
	if strings.Contains(out, "[FAIL]") || !strings.Contains(out, "[PASS]") {
		t.Fatalf("doctor with good credentials:\n%s", out)
	}

	const wrong = "not-the-password-5Zq"
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`(?m)^password = .*$`).ReplaceAll(good, []byte("password = "+wrong))
	badPath := filepath.Join(filepath.Dir(cfg), "bad.conf")
	if err := os.WriteFile(badPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(badPath)
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("doctor with a wrong password: err=%v, want exit 1\n%s", err, out)
	}
	failLine := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[FAIL]") {
			failLine = l
			break
		}
	}
	if !strings.Contains(strings.ToLower(failLine), "auth") && !strings.Contains(strings.ToLower(failLine), "credential") {
		t.Errorf("first failing check is not the credentials: %q\n%s", failLine, out)
	}
	if !strings.Contains(out, "fix:") {
		t.Errorf("no fix printed for the failure:\n%s", out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("doctor printed the password")
	}
}
