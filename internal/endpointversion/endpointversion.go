// Package endpointversion reads the API version an endpoint URL names
// (…/v2/…, …/v3.0): one rule for the cloud config's validation and the
// OpenStack adapter's catalog, which may not import each other.
package endpointversion

import (
	"net/url"
	"regexp"
	"strconv"
)

var versionRe = regexp.MustCompile(`/v([0-9])(\.[0-9]+)?(/|$)`)

// Of returns N for a URL whose path holds /vN (0 if none).
func Of(rawURL string) int {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	m := versionRe.FindStringSubmatch(u.Path)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
