package lunanode

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/httppool"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/ratelearn"
)

// DefaultAPIURL is LunaNode's API endpoint; {category}/{action}/ is appended.
const DefaultAPIURL = "https://dynamic.lunanode.com/api/"

// DefaultRegions are the regions the volume API documents.
var DefaultRegions = []string{"toronto", "montreal", "roubaix"}

// MaxVolumesPerNode is the data volumes one VM takes. LunaNode attaches
// volumes as virtio disks named /dev/vdX (the attach call's target is
// '/dev/vda'-style or auto); with single-letter names and the boot disk on
// vda that leaves vdb..vdz, 25 disks. LunaNode documents no other limit.
const MaxVolumesPerNode = 25

// Config configures a Cloud. APIID and APIKey are required.
type Config struct {
	// APIURL is the base URL, DefaultAPIURL when empty. For the simulator:
	// http://host:port/lunanode/api/.
	APIURL string
	// APIID (16 characters) and APIKey (128 characters) as issued in the
	// LunaNode panel. The key is never logged nor put into an error.
	APIID  string
	APIKey string
	// HTTPClient defaults to a client with a 60 s timeout.
	HTTPClient *http.Client
	// SerialLength is how much of the volume's identification UUID the
	// guest sees as the disk serial (virtio: 20, the default).
	SerialLength int
	// Regions the driver manages (DefaultRegions when empty) and the one a
	// volume is created in when the request names none (the first region
	// when empty).
	Regions       []string
	DefaultRegion string
	// Observer, when set, is told of every request with service
	// "lunanode" and the action ("volume/list") as operation.
	Observer cloud.Observer
	// MaxRetries is how often an idempotent read is retried after a
	// transient fault (default 3; negative: never). RetryBackoff is the
	// first pause, doubled each time (default 250 ms).
	MaxRetries   int
	RetryBackoff time.Duration
	// Now is the clock for nonces (time.Now when nil).
	Now func() time.Time
}

// Cloud is the LunaNode implementation of cloud.Cloud.
type Cloud struct {
	url       string
	apiID     string
	apiKey    string
	http      *http.Client
	serialLen int
	regions   []string
	defRegion string
	obs       cloud.Observer
	retries   int
	backoff   time.Duration
	nonces    *nonceSource
	// learner paces calls by the rate limit learned from the API's 429s
	// (LunaNode documents none).
	learner *ratelearn.Learner
}

var _ cloud.Cloud = (*Cloud)(nil)

// New checks cfg and returns a Cloud. It makes no API call.
func New(cfg Config) (*Cloud, error) {
	if len(cfg.APIID) != apiIDLen {
		return nil, fmt.Errorf("lunanode: api-id must be %d characters, got %d", apiIDLen, len(cfg.APIID))
	}
	if len(cfg.APIKey) != apiKeyLen {
		return nil, fmt.Errorf("lunanode: api-key must be %d characters, got %d", apiKeyLen, len(cfg.APIKey))
	}
	c := &Cloud{
		url:       cfg.APIURL,
		apiID:     cfg.APIID,
		apiKey:    cfg.APIKey,
		http:      cfg.HTTPClient,
		serialLen: SerialLength(cfg),
		regions:   slices.Clone(cfg.Regions),
		defRegion: cfg.DefaultRegion,
		obs:       cfg.Observer,
		retries:   cfg.MaxRetries,
		backoff:   cfg.RetryBackoff,
	}
	if c.url == "" {
		c.url = DefaultAPIURL
	}
	if !strings.HasPrefix(c.url, "http://") && !strings.HasPrefix(c.url, "https://") {
		return nil, errors.New("lunanode: api-url must be an http(s) URL")
	}
	if !strings.HasSuffix(c.url, "/") {
		c.url += "/"
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second, Transport: httppool.NewTransport()}
	}
	if len(c.regions) == 0 {
		c.regions = slices.Clone(DefaultRegions)
	}
	for _, r := range c.regions {
		if r == "" || strings.Contains(r, "/") {
			return nil, fmt.Errorf("lunanode: invalid region %q", r)
		}
	}
	if c.defRegion == "" {
		c.defRegion = c.regions[0]
	}
	if !slices.Contains(c.regions, c.defRegion) {
		return nil, fmt.Errorf("lunanode: default region %q is not one of %v", c.defRegion, c.regions)
	}
	if c.obs == nil {
		c.obs = cloud.NopObserver{}
	}
	if c.retries == 0 {
		c.retries = 3
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = 250 * time.Millisecond
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c.nonces = newNonceSource(now)
	c.learner = ratelearn.New()
	return c, nil
}

// DefaultSerialLength is how much of the identification UUID a virtio
// guest sees as the disk serial.
const DefaultSerialLength = 20

// SerialLength is how much of Volume.Serial the guest sees: cfg's
// SerialLength, else DefaultSerialLength. The node asks it without
// credentials, so it is a property of the Config, not of a connected
// Cloud.
func SerialLength(cfg Config) int {
	if cfg.SerialLength > 0 {
		return cfg.SerialLength
	}
	return DefaultSerialLength
}

// Name implements cloud.Cloud.
func (c *Cloud) Name() string { return "lunanode" }

// Capabilities implements cloud.Cloud. Snapshots of attached volumes are
// allowed (the API puts no condition on volume/snapshot-create). Clone is
// not offered: LunaNode has no volume-to-volume copy, and doing it through a
// temporary snapshot would leave a snapshot behind whenever the driver is
// interrupted between the steps.
func (c *Cloud) Capabilities() cloud.Capabilities {
	return cloud.Capabilities{
		Expansion:         cloud.ExpansionOffline,
		Snapshots:         true,
		SnapshotAttached:  cloud.SnapshotAttachedAllowed,
		Backups:           false,
		Clone:             false,
		MultiAttach:       false,
		MaxVolumesPerNode: MaxVolumesPerNode,
		MinSizeGiB:        1,
		Zones:             slices.Clone(c.regions),
		DefaultZone:       c.defRegion,
		SerialLength:      c.serialLen,
		// volume/list gives no status: each volume costs a volume/info.
		ListVolumesPerItem: true,
	}
}
