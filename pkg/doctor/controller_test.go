package doctor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	simln "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// A password no output may contain.
const (
	goodPassword = "Qx7-doctor-GOOD-pw-5a1f"
	badPassword  = "Qx7-doctor-WRONG-pw-93c2"
)

func startSim(t *testing.T, cfg cloudsim.Config) string {
	t.Helper()
	cfg.Users = []cloudsim.User{{ID: "ops-id", Name: "ops", Password: goodPassword, DomainID: cloudsim.DefaultDomainID,
		Projects: []string{cloudsim.DefaultProject}, Roles: []string{"member", "reader"}}}
	_, base := simtest.Start(t, cfg)
	return base
}

// opsConf is the config of the run's user, ops, with a fixed attach limit.
func opsConf(password, extra string) simtest.CloudConfig {
	return simtest.CloudConfig{User: "ops", Password: password, Region: cloudsim.DefaultRegion,
		BlockStorage: "attach-limit = 25\n" + extra}
}

func cloudConf(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cloud.conf")
	writeFile(t, p, content, 0o600)
	return p
}

func v3Conf(base, password, extra string) string { return opsConf(password, extra).INI(base) }

func TestControllerAllPassKeystoneV3(t *testing.T) {
	base := startSim(t, cloudsim.Config{})
	file := cloudConf(t, v3Conf(base, goodPassword, ""))
	out, lines, ok := run(t, Options{CloudConfig: file})
	if !ok {
		t.Error("ok = false, want true")
	}
	expect(t, lines, "cloud config", Pass, file, "backend cinder")
	expect(t, lines, "credentials", Pass, `user "ops"`, "domain Default", "project demo", "password set (not shown)")
	expect(t, lines, "authentication", Pass, "Keystone v3", base+"/identity/v3")
	expect(t, lines, "endpoints", Pass, "cinder-v3", base+"/volume/v3/", base+"/compute/")
	expect(t, lines, "capabilities", Pass, "expansion online", "25 volumes per node")
	expect(t, lines, "availability zones", Pass, "nova")
	expect(t, lines, "quota", Pass, "volumes 0/1000", "gigabytes 0/100000")
	for _, l := range lines {
		if l.status != Pass {
			t.Errorf("%s: %s, want every controller check to pass", l.name, l.status)
		}
	}
	if strings.Contains(out, goodPassword) {
		t.Error("output contains the password")
	}
	if !strings.Contains(out, "doctor: 7 passed, 0 failed, 0 warnings, 0 skipped") {
		t.Error("summary line missing or wrong")
	}
}

// Credentials kept in clouds.yaml, as OpenStack users keep them: the
// doctor passes every check and says where the credentials came from.
func TestControllerCloudsYAML(t *testing.T) {
	base := startSim(t, cloudsim.Config{})
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	writeFile(t, clouds, fmt.Sprintf(`clouds:
  mycloud:
    auth:
      auth_url: %s/identity/v3
      username: ops
      password: "%s"
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
`, base, goodPassword), 0o600)
	file := cloudConf(t, "[Global]\nuse-clouds = true\nclouds-file = "+clouds+"\ncloud = mycloud\n[BlockStorage]\nattach-limit = 25\n")
	out, lines, ok := run(t, Options{CloudConfig: file})
	if !ok {
		t.Error("ok = false, want true")
	}
	expect(t, lines, "cloud config", Pass, "credentials from clouds.yaml "+clouds+`, cloud "mycloud"`)
	expect(t, lines, "authentication", Pass, "Keystone v3")
	expect(t, lines, "quota", Pass)
	if strings.Contains(out, goodPassword) {
		t.Error("output contains the password")
	}
}

func TestControllerWrongPassword(t *testing.T) {
	base := startSim(t, cloudsim.Config{})
	file := cloudConf(t, v3Conf(base, badPassword, ""))
	out, lines, ok := run(t, Options{CloudConfig: file})
	if ok {
		t.Error("ok = true with a wrong password")
	}
	l := expect(t, lines, "authentication", Fail, "refused")
	wantFix := "check username/password/project in [Global] of " + file + "; the cloud answered: "
	if !strings.HasPrefix(l.fix, wantFix) || len(l.fix) <= len(wantFix) {
		t.Errorf("fix = %q, want it to start with %q and carry the cloud's answer", l.fix, wantFix)
	}
	expect(t, lines, "credentials", Pass, "password set (not shown)")
	expect(t, lines, "endpoints", Skip)
	expect(t, lines, "quota", Skip)
	if strings.Contains(out, badPassword) || strings.Contains(out, goodPassword) {
		t.Error("output contains a password")
	}
}

// NHN Cloud: Keystone v2.0 with tenant-id, Cinder v2.
func TestControllerKeystoneV2NHN(t *testing.T) {
	base := startSim(t, cloudsim.Config{Profile: "nhn"})
	file := cloudConf(t, simtest.CloudConfig{KeystoneV2: true, User: "ops", Password: goodPassword, Profile: "nhn",
		BlockStorage: "attach-limit = 25\n"}.INI(base))
	out, lines, ok := run(t, Options{CloudConfig: file})
	if !ok {
		t.Error("ok = false, want true")
	}
	expect(t, lines, "authentication", Pass, "Keystone v2.0")
	expect(t, lines, "endpoints", Pass, "cinder-v2", "Cinder v2")
	expect(t, lines, "availability zones", Pass, "kr-pub-a", "kr-pub-b")
	if strings.Contains(out, goodPassword) {
		t.Error("output contains the password")
	}
}

func TestControllerQuotaExhaustedAndDefaultZone(t *testing.T) {
	quota, _ := cloudsim.ProfileQuota("generic")
	quota.Gigabytes = 10
	base := startSim(t, cloudsim.Config{Quota: &quota})
	file := cloudConf(t, v3Conf(base, goodPassword, "default-zone = az9\n"))

	// Use up the gigabytes quota through the real client.
	cfg, err := cloudconfig.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := provider.New(context.Background(), cfg, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: "fill", SizeGiB: 10, Zone: "nova"}); err != nil {
		t.Fatal(err)
	}

	_, lines, ok := run(t, Options{CloudConfig: file})
	if ok {
		t.Error("ok = true with exhausted quota")
	}
	l := expect(t, lines, "quota", Fail, "gigabytes 10/10", "exhausted: gigabytes")
	if !strings.Contains(l.fix, "quota") {
		t.Errorf("quota fix = %q", l.fix)
	}
	expect(t, lines, "availability zones", Fail, `default zone "az9"`)
}

func TestControllerUnreachable(t *testing.T) {
	// A loopback port nothing listens on.
	file := cloudConf(t, v3Conf("http://127.0.0.1:1", goodPassword, ""))
	_, lines, ok := run(t, Options{CloudConfig: file})
	if ok {
		t.Error("ok = true with an unreachable cloud")
	}
	l := expect(t, lines, "authentication", Fail)
	if !strings.Contains(l.fix, "cannot reach http://127.0.0.1:1/identity/v3") {
		t.Errorf("fix = %q, want it to name the URL it cannot reach", l.fix)
	}
}

func TestControllerBadConfig(t *testing.T) {
	file := cloudConf(t, "[Global]\nauth-url = not a url\npassword = "+goodPassword+"\n")
	out, lines, ok := run(t, Options{CloudConfig: file})
	if ok {
		t.Error("ok = true with a broken config")
	}
	expect(t, lines, "cloud config", Fail)
	expect(t, lines, "authentication", Skip)
	if strings.Contains(out, goodPassword) {
		t.Error("output contains the password")
	}

	_, lines, ok = run(t, Options{CloudConfig: filepath.Join(t.TempDir(), "missing.conf")})
	if ok {
		t.Error("ok = true with a missing config")
	}
	expect(t, lines, "cloud config", Fail, "no such file")
}

func lunanodeConf(base, key string) string {
	return simtest.CloudConfig{Lunanode: true, APIKey: key}.INI(base)
}

func TestControllerLunanode(t *testing.T) {
	base := startSim(t, cloudsim.Config{})
	file := cloudConf(t, lunanodeConf(base, simln.DefaultAPIKey))
	out, lines, ok := run(t, Options{CloudConfig: file})
	if !ok {
		t.Error("ok = false, want true")
	}
	expect(t, lines, "credentials", Pass, "api-key set (not shown)")
	expect(t, lines, "authentication", Pass, "signed request accepted")
	expect(t, lines, "endpoints", Pass, base+"/lunanode/api/")
	expect(t, lines, "capabilities", Pass, "lunanode", "expansion offline")
	expect(t, lines, "availability zones", Pass, "toronto")
	expect(t, lines, "quota", Skip, "no quota")
	if strings.Contains(out, simln.DefaultAPIKey[:64]) {
		t.Error("output contains the API key")
	}

	wrong := strings.Repeat("k", len(simln.DefaultAPIKey))
	file = cloudConf(t, lunanodeConf(base, wrong))
	out, lines, ok = run(t, Options{CloudConfig: file})
	if ok {
		t.Error("ok = true with a wrong API key")
	}
	l := expect(t, lines, "authentication", Fail)
	if !strings.Contains(l.fix, "check api-id/api-key in [Lunanode] of "+file) {
		t.Errorf("fix = %q", l.fix)
	}
	if strings.Contains(out, wrong[:64]) {
		t.Error("output contains the API key")
	}
}

// stubCloud answers only what the quota and capability checks ask.
type stubCloud struct {
	cloud.Cloud
	limits *cloud.Limits
	caps   cloud.Capabilities
}

func (s stubCloud) Name() string                                     { return "stub" }
func (s stubCloud) Capabilities() cloud.Capabilities                 { return s.caps }
func (s stubCloud) GetLimits(context.Context) (*cloud.Limits, error) { return s.limits, nil }

func TestQuotaThresholds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits cloud.Limits
		want   Status
		has    string
	}{
		{"roomy", cloud.Limits{MaxVolumes: 10, UsedVolumes: 5, MaxTotalGiB: 100, UsedGiB: 50, MaxSnapshots: -1}, Pass, "snapshots 0/unlimited"},
		{"exactly 10% left", cloud.Limits{MaxVolumes: 10, UsedVolumes: 9, MaxTotalGiB: -1, MaxSnapshots: -1}, Pass, "volumes 9/10"},
		{"under 10% left", cloud.Limits{MaxVolumes: 100, UsedVolumes: 91, MaxTotalGiB: -1, MaxSnapshots: -1}, Warn, "under 10% left: volumes"},
		{"none left", cloud.Limits{MaxVolumes: 10, UsedVolumes: 3, MaxTotalGiB: 3000, UsedGiB: 3000, MaxSnapshots: 0}, Fail, "exhausted: gigabytes, snapshots"},
	} {
		res := checkQuota(context.Background(), stubCloud{limits: &tc.limits})
		if res.Status != tc.want || !strings.Contains(res.Detail, tc.has) {
			t.Errorf("%s: %s %q, want %s containing %q", tc.name, res.Status, res.Detail, tc.want, tc.has)
		}
		if res.Status != Pass && res.Fix == "" {
			t.Errorf("%s: no fix", tc.name)
		}
	}
}

func TestCapabilitiesWarnWithoutAttachLimit(t *testing.T) {
	res := checkCapabilities(stubCloud{caps: cloud.Capabilities{Expansion: cloud.ExpansionOnline}})
	if res.Status != Warn || !strings.Contains(res.Fix, "attach-limit") {
		t.Errorf("got %s %q fix %q, want WARN suggesting attach-limit", res.Status, res.Detail, res.Fix)
	}
}

// A secret that a cloud echoes into an error is still not printed.
func TestReportScrubsSecrets(t *testing.T) {
	var buf strings.Builder
	r := &report{w: &buf, counts: map[Status]int{}}
	r.hide(goodPassword, "", "abc") // empty and very short values are not masked
	r.add(Result{Status: Fail, Name: "authentication", Detail: "bad password " + goodPassword,
		Fix: "the cloud answered: password " + goodPassword + " is wrong"})
	out := buf.String()
	if strings.Contains(out, goodPassword) {
		t.Errorf("secret printed: %q", out)
	}
	if strings.Count(out, "<redacted>") != 2 {
		t.Errorf("want the secret masked on both lines: %q", out)
	}
}

// A policy 403 is not reported as refused credentials.
func TestAuthFailureForbiddenIsNotCredentials(t *testing.T) {
	res := authFailure(cloud.Errorf(cloud.ErrForbidden, "Policy doesn't allow volume:get_all to be performed."), "cloud.conf", "http://x", "[Global]")
	if res.Status != Fail || strings.Contains(res.Detail, "refused the credentials") || !strings.Contains(res.Detail, "policy") {
		t.Errorf("authFailure(forbidden) = %+v", res)
	}
}
