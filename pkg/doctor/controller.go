package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// userAgent marks the doctor's calls in the cloud's logs.
const userAgent = "openblock-csi-doctor"

func controllerChecks(ctx context.Context, opts Options, r *report) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	file := opts.CloudConfig
	rest := []string{"credentials", "authentication", "endpoints", "capabilities", "availability zones", "quota"}

	cfg, err := cloudconfig.Load(file)
	if err != nil {
		// Load reports every problem of the file, one per line.
		r.add(Result{Status: Fail, Name: "cloud config", Detail: strings.ReplaceAll(err.Error(), "\n", "; "),
			Fix: "correct " + file + " (cinder-csi-plugin's cloud.conf format: [Global] auth-url, username, password, tenant-name/-id, domain-name, region; [BlockStorage]; or [Lunanode] api-id, api-key)"})
		skipAll(r, rest, "the cloud config does not parse")
		return
	}
	r.hide(cfg.Global.Password.Reveal(), cfg.Global.ApplicationCredentialSecret.Reveal(), cfg.Lunanode.APIKey.Reveal())
	if k := cfg.Lunanode.APIKey.Reveal(); len(k) > 64 {
		r.hide(k[:64]) // the partial key LunaNode requests carry
	}
	backend := cfg.BlockStorage.Backend
	if backend == "" {
		backend = cloudconfig.BackendCinder
	}
	detail := file + ": backend " + backend
	if cfg.BlockStorage.Profile != "" && backend == cloudconfig.BackendCinder {
		detail += ", profile " + cfg.BlockStorage.Profile
	}
	if backend == cloudconfig.BackendCinder && cfg.Global.Source != "" {
		detail += ", credentials from " + cfg.Global.Source
	}
	r.add(Result{Status: Pass, Name: "cloud config", Detail: detail})

	var c cloud.Cloud
	if backend == cloudconfig.BackendLunanode {
		c = lunanodeAuth(ctx, file, cfg, r)
	} else {
		c = openstackAuth(ctx, file, cfg, r)
	}
	if c == nil {
		skipAll(r, rest[3:], "no authenticated client")
		return
	}
	r.add(checkCapabilities(c))
	r.add(checkZones(ctx, c, cfg, file))
	r.add(checkQuota(ctx, c))
}

func skipAll(r *report, names []string, why string) {
	for _, n := range names {
		r.add(Result{Status: Skip, Name: n, Detail: why})
	}
}

// openstackAuth checks the credentials and endpoints and returns the
// client, or nil after reporting why there is none.
func openstackAuth(ctx context.Context, file string, cfg *cloudconfig.Config, r *report) cloud.Cloud {
	g := cfg.Global
	cred := Result{Name: "credentials", Status: Pass}
	switch {
	case g.ApplicationCredentialID != "" || g.ApplicationCredentialName != "":
		cred.Detail = "application credential " + first(g.ApplicationCredentialID, g.ApplicationCredentialName)
		if g.ApplicationCredentialSecret == "" {
			cred.Status, cred.Detail = Fail, cred.Detail+" without a secret"
			cred.Fix = "set application-credential-secret in [Global] of " + file
		} else {
			cred.Detail += ", secret set (not shown)"
		}
	case g.Username != "" || g.UserID != "":
		cred.Detail = "user " + quoteOr(g.Username, g.UserID)
		if d := first(first(g.UserDomainName, g.UserDomainID), first(g.DomainName, g.DomainID)); d != "" {
			cred.Detail += " in domain " + d
		}
		if p := first(g.TenantName, g.TenantID); p != "" {
			cred.Detail += ", project " + p
		}
		if g.Password == "" {
			cred.Status, cred.Detail = Fail, cred.Detail+", no password"
			cred.Fix = "set password in [Global] of " + file
		} else {
			cred.Detail += ", password set (not shown)"
		}
	default:
		cred.Status, cred.Detail = Fail, "no username, user-id or application credential in [Global]"
		cred.Fix = "set username and password (or application-credential-id and application-credential-secret) in [Global] of " + file
	}
	r.add(cred)
	if cred.Status == Fail {
		skipAll(r, []string{"authentication", "endpoints"}, "no usable credentials")
		return nil
	}

	obs := &authObserver{}
	c, err := provider.New(ctx, cfg, provider.Options{Observer: obs, UserAgent: userAgent, NoZoneDiscovery: true})
	if err != nil {
		if obs.tokenOK() {
			r.add(Result{Status: Pass, Name: "authentication", Detail: "token obtained from " + obs.keystone() + " at " + g.AuthURL})
			r.add(Result{Status: Fail, Name: "endpoints", Detail: err.Error(),
				Fix: "the service catalog lacks what the driver needs; check [Global] region and endpoint-type, or set [BlockStorage] volume-endpoint / compute-endpoint / api-version in " + file})
			return nil
		}
		r.add(authFailure(err, file, g.AuthURL, "username/password/project in [Global]"))
		skipAll(r, []string{"endpoints"}, "not authenticated")
		return nil
	}
	r.add(Result{Status: Pass, Name: "authentication", Detail: "token obtained from " + obs.keystone() + " at " + g.AuthURL})
	detail := "block storage " + c.Name()
	if e, ok := c.(endpointReporter); ok {
		vol, comp := e.Endpoints()
		detail = fmt.Sprintf("block storage %s (Cinder v%d) at %s; compute at %s", c.Name(), e.APIVersion(), vol, comp)
	}
	r.add(Result{Status: Pass, Name: "endpoints", Detail: detail})
	return c
}

// endpointReporter is implemented by providers that found their endpoints
// in a service catalog (the OpenStack client).
type endpointReporter interface {
	Endpoints() (volume, compute string)
	APIVersion() int
}

func lunanodeAuth(ctx context.Context, file string, cfg *cloudconfig.Config, r *report) cloud.Cloud {
	l := cfg.Lunanode
	cred := Result{Name: "credentials", Status: Pass}
	switch {
	case l.APIID == "" || l.APIKey == "":
		cred.Status, cred.Detail = Fail, "api-id or api-key missing in [Lunanode]"
		cred.Fix = "set api-id (16 characters) and api-key (128 characters) in [Lunanode] of " + file + ", as issued in the LunaNode panel (API tab)"
	default:
		cred.Detail = fmt.Sprintf("api-id %s, api-key set (not shown)", mask(l.APIID))
	}
	r.add(cred)
	if cred.Status == Fail {
		skipAll(r, []string{"authentication", "endpoints"}, "no usable credentials")
		return nil
	}
	c, err := provider.New(ctx, cfg, provider.Options{UserAgent: userAgent})
	var ce *cloud.Error
	if err != nil && !errors.As(err, &ce) {
		// Refused before any call: the settings themselves are wrong.
		r.add(Result{Status: Fail, Name: "authentication", Detail: err.Error(),
			Fix: "correct [Lunanode] in " + file})
		skipAll(r, []string{"endpoints"}, "no client")
		return nil
	}
	var page cloud.Page[cloud.Volume]
	if err == nil {
		page, err = c.ListVolumes(ctx, cloud.ListOptions{Limit: 1})
	}
	if err != nil {
		r.add(authFailure(err, file, l.APIURL, "api-id/api-key in [Lunanode]"))
		skipAll(r, []string{"endpoints"}, "not authenticated")
		return nil
	}
	r.add(Result{Status: Pass, Name: "authentication", Detail: fmt.Sprintf("signed request accepted (volume/list answered, %d volume(s) on the first page)", len(page.Items))})
	r.add(Result{Status: Pass, Name: "endpoints", Detail: "LunaNode API at " + first(l.APIURL, lunanode.DefaultAPIURL)})
	return c
}

// authFailure explains a failed first call: refused credentials, an
// unreachable endpoint, or anything else.
func authFailure(err error, file, url, where string) Result {
	res := Result{Status: Fail, Name: "authentication", Detail: err.Error()}
	var ce *cloud.Error
	said := err.Error()
	if errors.As(err, &ce) && ce.Message != "" {
		said = ce.Message
	}
	switch {
	case errors.Is(err, cloud.ErrUnauthorized):
		res.Detail = "the cloud refused the credentials"
		res.Fix = fmt.Sprintf("check %s of %s; the cloud answered: %s", where, file, said)
	case errors.Is(err, cloud.ErrForbidden):
		res.Detail = "the cloud accepted the credentials but its policy refused the call"
		res.Fix = fmt.Sprintf("the account in %s needs the member role (or an API key with volume permissions); the cloud answered: %s", file, said)
	case errors.Is(err, cloud.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		res.Fix = fmt.Sprintf("cannot reach %s: check the URL in %s, DNS, proxy settings, firewalls and (for https) the CA (ca-file)", url, file)
	default:
		res.Fix = fmt.Sprintf("check the URL and %s of %s", where, file)
	}
	return res
}

func checkCapabilities(c cloud.Cloud) Result {
	caps := c.Capabilities()
	var parts []string
	parts = append(parts, "expansion "+caps.Expansion.String())
	parts = append(parts, "snapshots "+yesNo(caps.Snapshots), "clone "+yesNo(caps.Clone), "backups "+yesNo(caps.Backups))
	if caps.MaxVolumesPerNode > 0 {
		parts = append(parts, fmt.Sprintf("%d volumes per node", caps.MaxVolumesPerNode))
	} else {
		parts = append(parts, "volumes per node unknown")
	}
	if caps.MaxSizeGiB > 0 {
		parts = append(parts, fmt.Sprintf("sizes %d-%d GiB", caps.MinSizeGiB, caps.MaxSizeGiB))
	}
	res := Result{Status: Pass, Name: "capabilities", Detail: c.Name() + ": " + strings.Join(parts, ", ")}
	if caps.MaxVolumesPerNode == 0 {
		res.Status = Warn
		res.Fix = "set [BlockStorage] attach-limit so that the scheduler does not place more volumes on a node than the cloud attaches"
	}
	return res
}

// zoneLister is implemented by providers that can list zones on demand
// (the OpenStack client).
type zoneLister interface {
	AvailabilityZones(ctx context.Context) ([]string, error)
}

func checkZones(ctx context.Context, c cloud.Cloud, cfg *cloudconfig.Config, file string) Result {
	res := Result{Name: "availability zones"}
	zones := c.Capabilities().Zones
	source := "configured"
	if zl, ok := c.(zoneLister); ok {
		zs, err := zl.AvailabilityZones(ctx)
		if err != nil {
			res.Status, res.Detail = Warn, err.Error()
			res.Fix = "the driver then learns zones from volumes only; list them in [BlockStorage] zones of " + file
			return res
		}
		zones, source = zs, "offered by the cloud"
	}
	if len(zones) == 0 {
		res.Status, res.Detail = Warn, "none known"
		res.Fix = "list the zones in [BlockStorage] zones of " + file + " for topology-aware provisioning"
		return res
	}
	res.Status, res.Detail = Pass, strings.Join(zones, ", ")+" ("+source+")"
	want := cfg.BlockStorage.DefaultZone
	if cfg.BlockStorage.Backend == cloudconfig.BackendLunanode {
		want = cfg.Lunanode.DefaultZone
	}
	if want != "" && !contains(zones, want) {
		res.Status = Fail
		res.Detail = fmt.Sprintf("default zone %q is not one of %s", want, strings.Join(zones, ", "))
		res.Fix = "set default-zone in " + file + " to one of the zones the cloud offers"
	}
	return res
}

type quotaItem struct {
	name      string
	max, used int
}

// quotaWarnFraction: less free quota than this fraction is a warning.
const quotaWarnFraction = 0.10

func checkQuota(ctx context.Context, c cloud.Cloud) Result {
	res := Result{Name: "quota"}
	l, err := c.GetLimits(ctx)
	if errors.Is(err, cloud.ErrUnsupported) {
		res.Status, res.Detail = Skip, c.Name()+" reports no quota"
		return res
	}
	if err != nil {
		res.Status, res.Detail = Warn, "cannot read limits: "+err.Error()
		res.Fix = "the driver works without; quota errors then surface only when a volume is created"
		return res
	}
	items := []quotaItem{
		{"volumes", l.MaxVolumes, l.UsedVolumes},
		{"gigabytes", l.MaxTotalGiB, l.UsedGiB},
		{"snapshots", l.MaxSnapshots, l.UsedSnapshots},
	}
	if c.Capabilities().Backups {
		items = append(items, quotaItem{"backups", l.MaxBackups, l.UsedBackups},
			quotaItem{"backup gigabytes", l.MaxBackupGiB, l.UsedBackupGiB})
	}
	var parts, full, low []string
	for _, it := range items {
		if it.max < 0 {
			parts = append(parts, fmt.Sprintf("%s %d/unlimited", it.name, it.used))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", it.name, it.used, it.max))
		free := it.max - it.used
		switch {
		case free <= 0:
			full = append(full, it.name)
		case float64(free) < quotaWarnFraction*float64(it.max):
			low = append(low, it.name)
		}
	}
	res.Status, res.Detail = Pass, strings.Join(parts, ", ")
	switch {
	case len(full) > 0:
		res.Status = Fail
		res.Detail += "; exhausted: " + strings.Join(full, ", ")
		res.Fix = "no new " + strings.Join(full, ", ") + " can be created: delete unused volumes and snapshots (check for Released PVs) or ask the cloud operator to raise the project's quota"
	case len(low) > 0:
		res.Status = Warn
		res.Detail += fmt.Sprintf("; under %d%% left: %s", int(quotaWarnFraction*100), strings.Join(low, ", "))
		res.Fix = "plan a quota increase or clean up unused volumes and snapshots before provisioning fails"
	}
	return res
}

// authObserver watches the client's requests during New to tell a refused
// token request from a failure after authentication.
type authObserver struct {
	mu      sync.Mutex
	ok      bool
	version string
}

func (o *authObserver) ObserveRequest(service, operation string, code int, _ time.Duration) {
	if service != "identity" || !strings.Contains(operation, "tokens") {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if code == 200 || code == 201 {
		o.ok = true
		o.version = "Keystone v3"
		if strings.Contains(operation, "v2.0") {
			o.version = "Keystone v2.0"
		}
	}
}

func (o *authObserver) ObserveRateLimitWait(time.Duration) {}

func (o *authObserver) tokenOK() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok
}

func (o *authObserver) keystone() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return first(o.version, "Keystone")
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func quoteOr(name, id string) string {
	if name != "" {
		return fmt.Sprintf("%q", name)
	}
	return "id " + id
}

// mask shows enough of an identifier to recognise it.
func mask(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-4)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
