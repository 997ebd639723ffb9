package openstack

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	tokens2 "github.com/gophercloud/gophercloud/v2/openstack/identity/v2/tokens"
	tokens3 "github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// catalogEndpoint is one URL of the service catalog, the same for
// Keystone v2.0 (publicURL/internalURL/adminURL) and v3 (interface+url).
type catalogEndpoint struct {
	Type, Region, Interface, URL string
}

func catalogOf(r gophercloud.AuthResult) ([]catalogEndpoint, error) {
	var out []catalogEndpoint
	switch res := r.(type) {
	case tokens2.CreateResult:
		cat, err := res.ExtractServiceCatalog()
		if err != nil {
			return nil, err
		}
		for _, e := range cat.Entries {
			for _, ep := range e.Endpoints {
				for iface, u := range map[string]string{"public": ep.PublicURL, "internal": ep.InternalURL, "admin": ep.AdminURL} {
					if u != "" {
						out = append(out, catalogEndpoint{Type: e.Type, Region: ep.Region, Interface: iface, URL: u})
					}
				}
			}
		}
	case tokens3.CreateResult:
		cat, err := res.ExtractServiceCatalog()
		if err != nil {
			return nil, err
		}
		for _, e := range cat.Entries {
			for _, ep := range e.Endpoints {
				region := ep.Region
				if region == "" {
					region = ep.RegionID
				}
				out = append(out, catalogEndpoint{Type: e.Type, Region: region, Interface: ep.Interface, URL: ep.URL})
			}
		}
	default:
		return nil, fmt.Errorf("no service catalog in the authentication result (%T)", r)
	}
	// Map iteration above is unordered; keep selection deterministic.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Interface < out[j].Interface })
	return out, nil
}

// find returns the first endpoint of type typ in region (any region when
// empty) with interface iface.
func find(cat []catalogEndpoint, typ, region, iface string) (string, bool) {
	for _, e := range cat {
		if e.Type == typ && e.Interface == iface && (region == "" || e.Region == region) {
			return e.URL, true
		}
	}
	return "", false
}

// volumeTypes are the catalog types of Cinder, with the API version the
// type implies (0: read it from the URL).
var volumeTypes = []struct {
	typ     string
	version int
}{
	{"volumev3", 3}, {"volumev2", 2}, {"block-storage", 0}, {"volume", 0}, {"block-store", 0},
}

// selectVolumeEndpoint picks the Cinder endpoint: the wanted version, or
// with want == 0 the newest the catalog offers.
func selectVolumeEndpoint(cat []catalogEndpoint, region, iface string, want int) (string, int, error) {
	bestURL, best := "", 0
	for _, vt := range volumeTypes {
		u, ok := find(cat, vt.typ, region, iface)
		if !ok {
			continue
		}
		v := vt.version
		if v == 0 {
			v = versionFromURL(u)
		}
		if v < 1 || v > 3 || (want != 0 && v != want) {
			continue
		}
		if v > best {
			bestURL, best = u, v
		}
	}
	if best == 0 {
		what := "block storage endpoint"
		if want != 0 {
			what = fmt.Sprintf("block storage v%d endpoint", want)
		}
		return "", 0, fmt.Errorf("the service catalog has no %s (types volumev3, volumev2, volume, block-storage) for region %q, interface %q; it offers: %s; set [BlockStorage] volume-endpoint or api-version",
			what, region, iface, describe(cat))
	}
	return bestURL, best, nil
}

func describe(cat []catalogEndpoint) string {
	var s []string
	for _, e := range cat {
		d := fmt.Sprintf("%s/%s/%s", e.Type, e.Region, e.Interface)
		if !slices.Contains(s, d) {
			s = append(s, d)
		}
	}
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}
