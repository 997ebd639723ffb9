package hygiene

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	simlunanode "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveSharedDriver()
	os.Exit(code)
}

const (
	hygUser    = "hygiene-user"
	hygUserID  = "0d6a3b1e-hygiene-user"
	hygAppCred = "hygiene-app-cred"
	hygAPIID   = "hygieneapiid0001"
	gib        = 1 << 30
)

// setup is one way of authenticating: the simulator's configuration, the
// cloud config the driver gets, and one with a wrong secret for doctor.
type setup struct {
	name    string
	backend string
	// config returns the cloud config for base; wrong swaps the secret
	// for a wrong one.
	config func(base string, wrong bool) string
}

func setups(v *vault) []setup {
	pw := v.add("password", "Pw-", 40)
	wrongPW := v.add("wrong password", "WrongPw-", 40)
	appSecret := v.add("application credential secret", "AppSecret-", 48)
	wrongApp := v.add("wrong application credential secret", "WrongApp-", 48)
	key := v.add("lunanode api key", "LunaKey-", 128)
	wrongKey := v.add("wrong lunanode api key", "WrongKey-", 128)
	pick := func(wrong bool, right, bad string) string {
		if wrong {
			return bad
		}
		return right
	}
	return []setup{
		{name: "keystone-v3-password", backend: "cinder-v3", config: func(base string, wrong bool) string {
			return simtest.CloudConfig{User: hygUser, Password: pick(wrong, pw, wrongPW), Region: cloudsim.DefaultRegion,
				Profile: "generic", APIVersion: 3}.INI(base)
		}},
		{name: "keystone-v2-password", backend: "cinder-v2", config: func(base string, wrong bool) string {
			return simtest.CloudConfig{KeystoneV2: true, User: hygUser, Password: pick(wrong, pw, wrongPW), Region: cloudsim.DefaultRegion,
				Profile: "nhn"}.INI(base)
		}},
		{name: "application-credential", backend: "cinder-v3", config: func(base string, wrong bool) string {
			return simtest.CloudConfig{AppCredentialID: hygAppCred, AppCredentialSecret: pick(wrong, appSecret, wrongApp),
				Region: cloudsim.DefaultRegion, Profile: "generic", APIVersion: 3}.INI(base)
		}},
		{name: "lunanode-api-key", backend: "lunanode", config: func(base string, wrong bool) string {
			return simtest.CloudConfig{Lunanode: true, APIID: hygAPIID, APIKey: pick(wrong, key, wrongKey)}.INI(base)
		}},
	}
}

// startSim serves the backend's simulator with the run's identities: a
// user with the distinctive password, an application credential with the
// distinctive secret, and a Lunanode face that knows only the distinctive
// key. Tokens expire after a few seconds so the driver re-authenticates
// mid-lifecycle.
func startSim(t *testing.T, v *vault, b harness.Backend, work string) (*harness.Sim, *tokenCatcher) {
	t.Helper()
	cfg := b.SimConfig(filepath.Join(work, "sim"), filepath.Join(work, "by-id"))
	cfg.TokenTTL = 4 * time.Second
	cfg.Users = []cloudsim.User{{ID: hygUserID, Name: hygUser, Password: v.secrets["password"], DomainID: cloudsim.DefaultDomainID,
		Projects: []string{cloudsim.DefaultProject}, Roles: []string{"admin", "member", "reader"}}}
	cfg.AppCredentials = []cloudsim.AppCredential{{ID: hygAppCred, Name: "hygiene", Secret: v.secrets["application credential secret"],
		UserID: hygUserID, ProjectID: cloudsim.DefaultProject}}
	var catcher *tokenCatcher
	sim, err := harness.StartSimHandler(cfg, func(s *cloudsim.Sim) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", s.Handler())
		if b.Lunanode {
			ln, err := simlunanode.NewHandler(simlunanode.Config{
				Store: s.Store(), StatePath: filepath.Join(work, "lunanode.json"), LocalVMID: harness.LocalServerID,
				Credentials: map[string]string{hygAPIID: v.secrets["lunanode api key"]},
				Durations:   simlunanode.Durations{Create: 20 * time.Millisecond, Attach: 20 * time.Millisecond, Detach: 20 * time.Millisecond, Snapshot: 30 * time.Millisecond, Delete: 20 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			// This face is not the simulator's, so its fault knobs do not
			// reach it: fail it by hand while the simulator is set to.
			mux.Handle("/lunanode/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if s.Faults().ServerErrorRatio >= 1 {
					http.Error(w, `{"success":"no","error":"internal error"}`, http.StatusInternalServerError)
					return
				}
				ln.ServeHTTP(w, r)
			}))
		}
		catcher = &tokenCatcher{v: v, next: mux}
		return catcher
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, catcher
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecretsNeverShown runs each setup and searches everything the driver
// and doctor put out for the secrets and tokens.
func TestSecretsNeverShown(t *testing.T) {
	bin := harness.MustSharedDriver(t)
	v := newVault()
	for _, s := range setups(v) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			out := runSetup(t, bin, v, s)
			var leaks []string
			for where, text := range out {
				leaks = append(leaks, v.leaks(where, text)...)
			}
			for _, l := range leaks {
				t.Error("LEAK " + l)
			}
			t.Logf("searched %d outputs (%s) for %d secrets and tokens: %d leaks",
				len(out), sizes(out), len(v.names()), len(leaks))
		})
	}
}

func sizes(out map[string]string) string {
	var parts []string
	for k, v := range out {
		parts = append(parts, fmt.Sprintf("%s %d B", k, len(v)))
	}
	return strings.Join(parts, ", ")
}

// runSetup drives one setup and returns every output by name.
func runSetup(t *testing.T, bin string, v *vault, s setup) map[string]string {
	b, err := harness.Lookup(s.backend)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	byID := filepath.Join(work, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	sim, catcher := startSim(t, v, b, work)
	t.Cleanup(func() { nodetest.UnmountUnder(t, work) })
	cfgPath := filepath.Join(work, "cloud.conf")
	if err := os.WriteFile(cfgPath, []byte(s.config(sim.URL, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPath := filepath.Join(work, "wrong.conf")
	if err := os.WriteFile(wrongPath, []byte(s.config(sim.URL, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(work, "driver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	metricsAddr := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: bin, Dir: work, CloudConfig: cfgPath, ByIDDir: byID, Mode: "all", KubeletDir: work,
		Stdout: logFile, Stderr: logFile,
		ExtraArgs: []string{"-v=10", "--http-endpoint=" + metricsAddr, "--metadata-url=-", "--zone=" + b.Zone},
	})
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("start driver: %v\n%s", err, b)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()

	l := &walk{t: t, ctx: ctx, ctrl: csi.NewControllerClient(p.Conn), node: csi.NewNodeClient(p.Conn),
		id: csi.NewIdentityClient(p.Conn), root: sim.Store().Loop(), work: work, sim: sim}
	l.lifecycle(b)

	out := map[string]string{}
	out["metrics"] = scrape(t, "http://"+metricsAddr+"/metrics")
	if !strings.Contains(out["metrics"], "openblock_csi_") {
		t.Errorf("/metrics served no openblock_csi_ metric:\n%.500s", out["metrics"])
	}
	out["healthz"] = scrape(t, "http://"+metricsAddr+"/healthz")
	out["gRPC errors"] = strings.Join(l.errors, "\n")
	if len(l.errors) < 4 {
		t.Errorf("only %d gRPC errors collected; the error paths did not run", len(l.errors))
	}

	stopped = true
	if err := p.Stop(); err != nil {
		t.Logf("driver exit: %v", err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	out["driver log (-v=10)"] = string(log)
	// The log must be the verbose one, or the search proves little.
	for _, want := range []string{"CreateVolume", "ControllerPublishVolume", "CreateSnapshot"} {
		if !strings.Contains(out["driver log (-v=10)"], want) {
			t.Errorf("the -v=10 log never mentions %s", want)
		}
	}
	if !b.Lunanode && catcher.issued() < 2 {
		t.Errorf("the simulator issued %d tokens; expected a re-authentication after the token expired", catcher.issued())
	}

	start := time.Now()
	ok, text := doctor(t, bin, cfgPath)
	out["doctor (right credentials)"] = text
	if !ok {
		t.Logf("doctor with the right credentials reported a failed check:\n%s", text)
	}
	ok, text = doctor(t, bin, wrongPath)
	out["doctor (wrong credentials)"] = text
	if ok {
		t.Errorf("doctor passed with a wrong secret:\n%s", text)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("slow: the two doctor runs took %s", d.Round(100*time.Millisecond))
	}
	return out
}

func scrape(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// doctor runs `openblock-csi doctor` on a cloud config (controller checks
// only) and returns whether it passed and everything it printed.
func doctor(t *testing.T, bin, cfgPath string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "doctor", "--cloud-config="+cfgPath, "--node-checks=false", "--timeout=30s")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("doctor did not finish within a minute")
	}
	if out.Len() == 0 {
		t.Errorf("doctor printed nothing (%v)", err)
	}
	return err == nil, out.String()
}

// walk drives the lifecycle and collects every gRPC error message.
type walk struct {
	t      *testing.T
	ctx    context.Context
	ctrl   csi.ControllerClient
	node   csi.NodeClient
	id     csi.IdentityClient
	root   bool
	work   string
	sim    *harness.Sim
	errors []string
}

// must runs a call that should succeed, retrying briefly.
func (w *walk) must(what string, fn func() error) bool {
	w.t.Helper()
	defer w.slow(what, time.Now())
	var err error
	for i := 0; i < 5; i++ {
		if err = fn(); err == nil {
			return true
		}
		w.note(what, err)
		time.Sleep(300 * time.Millisecond)
	}
	w.t.Errorf("%s: %v", what, err)
	return false
}

// expectErr runs a call that should fail and keeps its message.
func (w *walk) expectErr(what string, err error) {
	w.t.Helper()
	if err == nil {
		w.t.Errorf("%s: succeeded, expected an error", what)
		return
	}
	w.note(what, err)
}

// slow logs a step that took long, to keep the test's time in view.
func (w *walk) slow(what string, start time.Time) {
	if d := time.Since(start); d > 3*time.Second {
		w.t.Logf("slow: %s took %s", what, d.Round(100*time.Millisecond))
	}
}

func (w *walk) note(what string, err error) {
	w.errors = append(w.errors, what+": "+status.Convert(err).Code().String()+": "+status.Convert(err).Message())
}

// callTimeout bounds each call, as a sidecar's --timeout does; a cloud
// that fails every request would otherwise keep the driver retrying.
const callTimeout = 20 * time.Second

// call returns a context for one call.
func (w *walk) call() context.Context {
	return w.callWithin(callTimeout)
}

func (w *walk) callWithin(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(w.ctx, d)
	w.t.Cleanup(cancel)
	return ctx
}

func (w *walk) lifecycle(b harness.Backend) {
	c := w.ctrl
	caps := []*csi.VolumeCapability{csicap.Mount("ext4")}
	if _, err := w.id.Probe(w.call(), &csi.ProbeRequest{}); err != nil {
		w.note("Probe", err)
	}
	var vol *csi.Volume
	if !w.must("CreateVolume", func() error {
		r, err := c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-vol", VolumeCapabilities: caps,
			CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
			Parameters:    map[string]string{"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "hygiene"}})
		if err == nil {
			vol = r.Volume
		}
		return err
	}) {
		return
	}
	var pub map[string]string
	w.must("ControllerPublishVolume", func() error {
		r, err := c.ControllerPublishVolume(w.call(), &csi.ControllerPublishVolumeRequest{VolumeId: vol.VolumeId, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4")})
		if err == nil {
			pub = r.PublishContext
		}
		return err
	})
	staging, target := filepath.Join(w.work, "staging"), filepath.Join(w.work, "target")
	if w.root {
		_ = os.MkdirAll(staging, 0o750)
		w.must("NodeStageVolume", func() error {
			_, err := w.node.NodeStageVolume(w.call(), &csi.NodeStageVolumeRequest{VolumeId: vol.VolumeId, PublishContext: pub, StagingTargetPath: staging, VolumeCapability: csicap.Mount("ext4")})
			return err
		})
		w.must("NodePublishVolume", func() error {
			_, err := w.node.NodePublishVolume(w.call(), &csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, PublishContext: pub, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount("ext4")})
			return err
		})
		w.must("NodeGetVolumeStats", func() error {
			_, err := w.node.NodeGetVolumeStats(w.call(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.VolumeId, VolumePath: target})
			return err
		})
	}
	// Let the token expire: the driver has to authenticate again.
	time.Sleep(5 * time.Second)
	var snap *csi.Snapshot
	w.must("CreateSnapshot", func() error {
		r, err := c.CreateSnapshot(w.call(), &csi.CreateSnapshotRequest{Name: "hyg-snap", SourceVolumeId: vol.VolumeId})
		if err == nil {
			snap = r.Snapshot
		}
		return err
	})
	var restored *csi.Volume
	if snap != nil {
		w.must("CreateVolume from snapshot", func() error {
			r, err := c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-restored", VolumeCapabilities: caps,
				CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
				VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
					Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}}})
			if err == nil {
				restored = r.Volume
			}
			return err
		})
	}
	if _, err := c.ListVolumes(w.call(), &csi.ListVolumesRequest{}); err != nil {
		w.note("ListVolumes", err)
	}
	if _, err := c.ListSnapshots(w.call(), &csi.ListSnapshotsRequest{}); err != nil {
		w.note("ListSnapshots", err)
	}
	if _, err := c.GetCapacity(w.call(), &csi.GetCapacityRequest{}); err != nil {
		w.note("GetCapacity", err)
	}

	// Error paths: the driver's own refusals and the cloud's.
	_, err := c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-bad", VolumeCapabilities: caps, Parameters: map[string]string{"no-such": "x"}})
	w.expectErr("CreateVolume with an unknown parameter", err)
	_, err = c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-huge", VolumeCapabilities: caps, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 60}})
	w.expectErr("CreateVolume of 1 EiB", err)
	_, err = c.ControllerPublishVolume(w.call(), &csi.ControllerPublishVolumeRequest{VolumeId: vol.VolumeId, NodeId: "no-such-node", VolumeCapability: csicap.Mount("ext4")})
	w.expectErr("ControllerPublishVolume to an unknown node", err)
	_, err = c.ControllerGetVolume(w.call(), &csi.ControllerGetVolumeRequest{VolumeId: strings.Replace(vol.VolumeId, "1", "2", 1) + "0"})
	w.expectErr("ControllerGetVolume of a missing volume", err)
	if snap != nil {
		_, err = c.CreateSnapshot(w.call(), &csi.CreateSnapshotRequest{Name: "hyg-snap", SourceVolumeId: "other-volume"})
		w.expectErr("CreateSnapshot name reused for another volume", err)
	}
	// The cloud answers every call with HTTP 500 for a moment: the driver
	// retries until the sidecar's timeout.
	w.sim.SetFaults(cloudsim.Faults{ServerErrorRatio: 1})
	_, err = c.CreateVolume(w.callWithin(3*time.Second), &csi.CreateVolumeRequest{Name: "hyg-fault", VolumeCapabilities: caps, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
	w.sim.SetFaults(cloudsim.Faults{})
	w.expectErr("CreateVolume while the cloud fails", err)
	if !b.Lunanode {
		// A create that ends in the error state, every time the driver
		// makes it again within the request: the driver cleans up and
		// says so.
		w.sim.SetFaults(cloudsim.Faults{FailNext: map[string]int{cloudsim.OpCreate: 10}})
		_, err = c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-error-state", VolumeCapabilities: caps, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
		w.sim.SetFaults(cloudsim.Faults{})
		w.expectErr("CreateVolume that ends in error", err)
	}

	// Tear down.
	if w.root {
		w.must("NodeUnpublishVolume", func() error {
			_, err := w.node.NodeUnpublishVolume(w.call(), &csi.NodeUnpublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target})
			return err
		})
		w.must("NodeUnstageVolume", func() error {
			_, err := w.node.NodeUnstageVolume(w.call(), &csi.NodeUnstageVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging})
			return err
		})
	}
	w.must("ControllerUnpublishVolume", func() error {
		_, err := c.ControllerUnpublishVolume(w.call(), &csi.ControllerUnpublishVolumeRequest{VolumeId: vol.VolumeId, NodeId: harness.LocalServerID})
		return err
	})
	if _, err := c.ControllerExpandVolume(w.call(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.VolumeId,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, VolumeCapability: csicap.Mount("ext4")}); err != nil {
		w.note("ControllerExpandVolume", err)
	}
	// hyg-fault may exist if the cloud acted before failing.
	if r, err := c.CreateVolume(w.call(), &csi.CreateVolumeRequest{Name: "hyg-fault", VolumeCapabilities: caps, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}}); err == nil {
		w.must("DeleteVolume hyg-fault", func() error {
			_, err := c.DeleteVolume(w.call(), &csi.DeleteVolumeRequest{VolumeId: r.Volume.VolumeId})
			return err
		})
	}
	if restored != nil {
		w.must("DeleteVolume restored", func() error {
			_, err := c.DeleteVolume(w.call(), &csi.DeleteVolumeRequest{VolumeId: restored.VolumeId})
			return err
		})
	}
	if snap != nil {
		w.must("DeleteSnapshot", func() error {
			_, err := c.DeleteSnapshot(w.call(), &csi.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId})
			return err
		})
	}
	w.must("DeleteVolume", func() error {
		_, err := c.DeleteVolume(w.call(), &csi.DeleteVolumeRequest{VolumeId: vol.VolumeId})
		return err
	})
}

// TestVaultFindsLeaks is the search's own check: a planted secret, a
// fragment of one, and a token-shaped string are all found.
func TestVaultFindsLeaks(t *testing.T) {
	v := newVault()
	pw := v.add("password", "Pw-", 40)
	v.addValue("token", "simeyJ1IjoiYWRtaW4ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ")
	for _, text := range []string{
		"auth failed for password=" + pw,
		"partial " + pw[5:5+window] + " tail",
		`X-Auth-Token: simeyJ1IjoiYWRtaW4ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ`,
		`token "simAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBB"`,
	} {
		if len(v.leaks("text", text)) == 0 {
			t.Errorf("no leak found in %q", text)
		}
	}
	if l := v.leaks("text", "nothing to see: Pw- redacted <redacted>"); len(l) != 0 {
		t.Errorf("false leak: %v", l)
	}
}

// A cloud config with a syntax error on the password line (a forgotten
// "=") must not put the password into the driver's startup error or
// doctor's report (gopkg.in/ini's own error quotes the line).
func TestMalformedConfigHidesSecret(t *testing.T) {
	bin := harness.MustSharedDriver(t)
	v := newVault()
	pw := v.add("password", "Pw-", 40)
	work := t.TempDir()
	cfg := filepath.Join(work, "cloud.conf")
	if err := os.WriteFile(cfg, []byte("[Global]\nauth-url = http://127.0.0.1:1/identity/v3\nusername = u\npassword "+pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driverOut, _ := exec.CommandContext(ctx, bin, "--endpoint=unix://"+filepath.Join(work, "csi.sock"), "--mode=controller",
		"--cloud-config="+cfg, "-v=10").CombinedOutput()
	_, doctorOut := doctor(t, bin, cfg)
	for where, text := range map[string]string{"driver startup": string(driverOut), "doctor": doctorOut} {
		for _, l := range v.leaks(where, text) {
			t.Error("LEAK " + l)
		}
	}
}
