package cloudconfig

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// KeyError is a problem with one key of the config file. Value is never
// included for secret keys.
type KeyError struct {
	Section string
	Key     string
	Msg     string
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("cloud config: [%s]: %s", e.Section, e.Msg)
	}
	return fmt.Sprintf("cloud config: [%s] %s: %s", e.Section, e.Key, e.Msg)
}

// Section names as written in the file (lookups are case-insensitive).
const (
	secGlobal       = "Global"
	secBlockStorage = "BlockStorage"
	secLunanode     = "Lunanode"
)

// Parse parses and validates a cloud config file's content. All problems
// found are returned together (errors.Join of *KeyError).
func Parse(data []byte) (*Config, error) {
	f, err := ini.LoadSources(ini.LoadOptions{
		Insensitive: true,
		// Quotes and comments are handled by decodeValue, the gcfg way,
		// so that a quoted password may hold '#' and ';'.
		IgnoreInlineComment:     true,
		PreserveSurroundedQuote: true,
		IgnoreContinuation:      true,
	}, data)
	if err != nil {
		return nil, fmt.Errorf("cloud config: %s", syntaxError(err))
	}
	p := &parser{}
	cfg := &Config{}
	for _, s := range f.Sections() {
		name := strings.ToLower(s.Name())
		switch name {
		case strings.ToLower(ini.DefaultSection):
			for _, k := range s.Keys() {
				p.fail("", k.Name(), "key outside of any section")
			}
		case strings.ToLower(secGlobal):
			p.global(s, &cfg.Global)
		case strings.ToLower(secBlockStorage), strings.ToLower(secLunanode):
			// Parsed below, in a fixed order (profile defaults first).
		default:
			// Other sections of a shared cloud.conf ([Metadata],
			// [Networking], [LoadBalancer], ...) are not ours.
		}
	}
	p.blockStorage(f, &cfg.BlockStorage)
	p.lunanode(f, &cfg.Lunanode)
	if len(p.errs) == 0 {
		p.validate(cfg)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return cfg, nil
}

type parser struct {
	errs []error
}

func (p *parser) fail(section, key, format string, args ...any) {
	if section == "" {
		section = "DEFAULT"
	}
	p.errs = append(p.errs, &KeyError{Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// value is one decoded key.
type value struct {
	section, key, raw string
	secret            bool
}

func (p *parser) values(s *ini.Section, section string, secret map[string]bool) []value {
	var out []value
	for _, k := range s.Keys() {
		name := strings.ToLower(strings.TrimSpace(k.Name()))
		v, err := decodeValue(k.Value())
		if err != nil {
			p.fail(section, name, "%v", err)
			continue
		}
		out = append(out, value{section: section, key: name, raw: v, secret: secret[name]})
	}
	return out
}

// decodeValue applies gcfg's value rules: "quoted" is literal with
// escapes, unquoted ends at a whitespace-preceded '#' or ';'.
func decodeValue(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s):
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'b':
					b.WriteByte('\b')
				case '\\', '"':
					b.WriteByte(s[i])
				default:
					return "", fmt.Errorf(`invalid escape "\%c" in quoted value`, s[i])
				}
			case c == '"':
				rest := strings.TrimSpace(s[i+1:])
				if rest != "" && rest[0] != '#' && rest[0] != ';' {
					return "", errors.New("unexpected text after closing quote")
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated quoted value")
	}
	if s != "" && (s[0] == '#' || s[0] == ';') {
		return "", nil
	}
	for i := 1; i < len(s); i++ {
		if (s[i] == '#' || s[i] == ';') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i]), nil
		}
	}
	return s, nil
}

func (p *parser) global(s *ini.Section, g *Global) {
	secret := map[string]bool{"password": true, "application-credential-secret": true}
	set := map[string]string{} // canonical key -> the alias it was set by
	assign := func(v value, canonical string, dst *string) {
		if prev, ok := set[canonical]; ok && *dst != v.raw {
			p.fail(v.section, v.key, "conflicts with %s set to a different value", prev)
			return
		}
		set[canonical] = v.key
		*dst = v.raw
	}
	clouds := cloudsSettings{set: map[string]bool{}}
	for _, v := range p.values(s, secGlobal, secret) {
		if v.raw != "" {
			clouds.set[canonicalGlobalKey(v.key)] = true
		}
		switch v.key {
		case "auth-url":
			g.AuthURL = v.raw
		case "username", "user-name":
			assign(v, "username", &g.Username)
		case "user-id":
			g.UserID = v.raw
		case "password":
			g.Password = Secret(v.raw)
		case "tenant-id", "project-id":
			assign(v, "tenant-id", &g.TenantID)
		case "tenant-name", "project-name":
			assign(v, "tenant-name", &g.TenantName)
		case "domain-id":
			g.DomainID = v.raw
		case "domain-name":
			g.DomainName = v.raw
		case "user-domain-id":
			g.UserDomainID = v.raw
		case "user-domain-name":
			g.UserDomainName = v.raw
		case "tenant-domain-id", "project-domain-id":
			assign(v, "tenant-domain-id", &g.ProjectDomainID)
		case "tenant-domain-name", "project-domain-name":
			assign(v, "tenant-domain-name", &g.ProjectDomainName)
		case "region":
			g.Region = v.raw
		case "ca-file":
			g.CAFile = v.raw
		case "tls-insecure":
			g.TLSInsecure = p.boolean(v)
		case "application-credential-id":
			g.ApplicationCredentialID = v.raw
		case "application-credential-name":
			g.ApplicationCredentialName = v.raw
		case "application-credential-secret":
			g.ApplicationCredentialSecret = Secret(v.raw)
		case "endpoint-type", "os-endpoint-type":
			var et string
			switch strings.ToLower(v.raw) {
			case "", "public", "publicurl":
				et = EndpointPublic
			case "internal", "internalurl":
				et = EndpointInternal
			case "admin", "adminurl":
				et = EndpointAdmin
			default:
				p.fail(v.section, v.key, "%q is not one of public, internal, admin", v.raw)
				continue
			}
			assign(value{section: v.section, key: v.key, raw: et}, "endpoint-type", &g.EndpointType)
		case "use-clouds":
			clouds.use = p.boolean(v)
		case "clouds-file":
			clouds.file = v.raw
		case "cloud":
			clouds.name = v.raw
		case "trust-id", "trustee-id", "trustee-password", "cert-file", "key-file":
			// Accepting these silently would authenticate differently
			// from what the operator expects.
			if v.raw != "" {
				p.fail(v.section, v.key, "not supported by this driver")
			}
		default:
			// cloud-provider-openstack knows more keys; none changes how we
			// talk to Cinder, so they are ignored.
		}
	}
	g.Source = "[Global]"
	switch {
	case clouds.use:
		p.applyClouds(clouds, g)
	case clouds.file != "" || clouds.name != "":
		p.fail(secGlobal, "use-clouds", "clouds-file and cloud are read only with use-clouds = true")
	}
	if g.EndpointType == "" {
		g.EndpointType = EndpointPublic
	}
}

// canonicalGlobalKey folds [Global]'s aliases (project-id for tenant-id,
// ...) into one name.
func canonicalGlobalKey(k string) string {
	switch k {
	case "user-name":
		return "username"
	case "project-id":
		return "tenant-id"
	case "project-name":
		return "tenant-name"
	case "project-domain-id":
		return "tenant-domain-id"
	case "project-domain-name":
		return "tenant-domain-name"
	case "os-endpoint-type":
		return "endpoint-type"
	}
	return k
}

func (p *parser) blockStorage(f *ini.File, b *BlockStorage) {
	var vals []value
	if s, err := f.GetSection(secBlockStorage); err == nil {
		vals = p.values(s, secBlockStorage, nil)
	}
	// backend and profile first: the profile sets the defaults the other
	// keys override.
	b.Backend = BackendCinder
	b.Profile = ProfileGeneric
	for _, v := range vals {
		switch v.key {
		case "backend":
			switch strings.ToLower(v.raw) {
			case BackendCinder, BackendLunanode:
				b.Backend = strings.ToLower(v.raw)
			default:
				p.fail(v.section, v.key, "%q is not one of cinder, lunanode", v.raw)
			}
		case "profile":
			switch strings.ToLower(v.raw) {
			case ProfileGeneric, ProfileNHN, ProfileHelion:
				b.Profile = strings.ToLower(v.raw)
			default:
				p.fail(v.section, v.key, "%q is not one of generic, nhn, helion", v.raw)
			}
		}
	}
	applyProfile(b)
	zonesSet, rateSet, burstSet := false, false, false
	for _, v := range vals {
		switch v.key {
		case "backend", "profile":
		case "api-version", "bs-version":
			// bs-version (cinder-csi-plugin) spells them v1, v2, v3.
			ver := strings.TrimPrefix(strings.ToLower(v.raw), "v")
			switch ver {
			case "auto", "":
				b.APIVersion = 0
			case "1", "2", "3":
				b.APIVersion, _ = strconv.Atoi(ver)
			default:
				p.fail(v.section, v.key, "%q is not one of auto, 1, 2, 3", v.raw)
			}
		case "volume-endpoint":
			b.VolumeEndpoint = p.url(v)
		case "compute-endpoint":
			b.ComputeEndpoint = p.url(v)
		case "attach-limit", "node-volume-attach-limit":
			b.AttachLimit = p.nonNegInt(v)
		case "rate-limit":
			f, err := strconv.ParseFloat(v.raw, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				p.fail(v.section, v.key, "%q is not a number of calls per second >= 0", v.raw)
				continue
			}
			b.RateLimit = f
			rateSet = true
		case "rate-burst":
			b.RateBurst = p.nonNegInt(v)
			burstSet = true
		case "zones":
			b.Zones = splitList(v.raw)
			zonesSet = true
		case "default-zone":
			b.DefaultZone = v.raw
		case "min-size":
			b.MinSizeGiB = p.nonNegInt(v)
		case "max-size":
			b.MaxSizeGiB = p.nonNegInt(v)
		case "expansion":
			switch strings.ToLower(v.raw) {
			case "none":
				b.Expansion = cloud.ExpansionNone
			case "offline":
				b.Expansion = cloud.ExpansionOffline
			case "online":
				b.Expansion = cloud.ExpansionOnline
			default:
				p.fail(v.section, v.key, "%q is not one of none, offline, online", v.raw)
			}
		case "snapshot-attached":
			switch strings.ToLower(v.raw) {
			case "allowed":
				b.SnapshotAttached = cloud.SnapshotAttachedAllowed
			case "force":
				b.SnapshotAttached = cloud.SnapshotAttachedForce
			case "forbidden":
				b.SnapshotAttached = cloud.SnapshotAttachedForbidden
			default:
				p.fail(v.section, v.key, "%q is not one of allowed, force, forbidden", v.raw)
			}
		case "backups":
			b.Backups = p.boolean(v)
		case "retype":
			b.Retype = p.boolean(v)
		case "multiattach":
			b.MultiAttach = p.boolean(v)
		case "serial-length":
			b.SerialLength = p.nonNegInt(v)
		case "ignore-volume-az":
			b.IgnoreVolumeAZ = p.boolean(v)
		case "zone-map":
			b.ZoneMap = map[string]string{}
			for _, pair := range splitList(v.raw) {
				compute, volume, ok := strings.Cut(pair, ":")
				compute, volume = strings.TrimSpace(compute), strings.TrimSpace(volume)
				if !ok || compute == "" || volume == "" {
					p.fail(v.section, v.key, "%q is not compute-zone:volume-zone", pair)
					continue
				}
				if prev, dup := b.ZoneMap[compute]; dup && prev != volume {
					p.fail(v.section, v.key, "compute zone %q is mapped twice", compute)
				}
				b.ZoneMap[compute] = volume
			}
		case "rescan-on-resize", "ignore-volume-microversion":
			// cinder-csi-plugin settings with no meaning here.
		default:
			p.fail(v.section, v.key, "unknown key")
		}
	}
	if zonesSet && len(b.Zones) == 0 {
		b.DefaultZone = ""
	}
	if rateSet && !burstSet {
		// The profile's burst belongs to the profile's rate.
		b.RateBurst = 0
	}
	if b.RateLimit > 0 && b.RateBurst == 0 {
		// Evenly spaced calls: clouds that limit per second (HP Helion)
		// refuse a second call within the same second.
		b.RateBurst = 1
	}
}

// applyProfile sets the [BlockStorage] defaults of b.Profile.
func applyProfile(b *BlockStorage) {
	b.APIVersion = 0
	b.Expansion = cloud.ExpansionOnline
	b.SnapshotAttached = cloud.SnapshotAttachedForce
	b.Backups = true
	b.Retype = true
	b.MultiAttach = true
	b.SerialLength = 20
	b.MinSizeGiB = 1
	switch b.Profile {
	case ProfileNHN:
		// NHN Cloud publishes Cinder v2 only (volumev2 in the catalog),
		// no volume action but image upload, and no backup API.
		b.APIVersion = 2
		b.Retype = false
		b.Backups = false
	case ProfileHelion:
		// HP Helion Public Cloud Block Storage API 1.7: Cinder v1; sizes
		// 1-2047 GB fixed at creation; az1-az3, default az2; 1 call/s per
		// project; no snapshot of an attached volume; 26 volumes per guest
		// including the boot disk.
		b.APIVersion = 1
		b.AttachLimit = 25
		b.RateLimit = 1
		b.RateBurst = 1
		b.Zones = []string{"az1", "az2", "az3"}
		b.DefaultZone = "az2"
		b.MaxSizeGiB = 2047
		b.Expansion = cloud.ExpansionNone
		b.SnapshotAttached = cloud.SnapshotAttachedForbidden
		b.Retype = false
		// Cinder v1 and its Nova predate multi-attach.
		b.MultiAttach = false
	}
}

func (p *parser) lunanode(f *ini.File, l *Lunanode) {
	l.APIURL = DefaultLunanodeAPIURL
	l.SerialLength = 20
	// The regions of the Lunanode API document.
	l.Zones = []string{"toronto", "montreal", "roubaix"}
	l.DefaultZone = "toronto"
	s, err := f.GetSection(secLunanode)
	if err != nil {
		return
	}
	defaultSet := false
	for _, v := range p.values(s, secLunanode, map[string]bool{"api-key": true}) {
		switch v.key {
		case "api-id":
			l.APIID = v.raw
		case "api-key":
			l.APIKey = Secret(v.raw)
		case "api-url":
			l.APIURL = p.url(v)
		case "serial-length":
			l.SerialLength = p.nonNegInt(v)
		case "zones", "regions":
			l.Zones = splitList(v.raw)
		case "default-zone", "default-region":
			l.DefaultZone = v.raw
			defaultSet = true
		default:
			p.fail(v.section, v.key, "unknown key")
		}
	}
	if !defaultSet {
		l.DefaultZone = ""
		if len(l.Zones) > 0 {
			l.DefaultZone = l.Zones[0]
		}
	}
}

func (p *parser) boolean(v value) bool {
	switch strings.ToLower(v.raw) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	p.fail(v.section, v.key, "%q is not a boolean (true or false)", v.raw)
	return false
}

func (p *parser) nonNegInt(v value) int {
	n, err := strconv.Atoi(v.raw)
	if err != nil || n < 0 {
		p.fail(v.section, v.key, "%q is not a whole number >= 0", v.raw)
		return 0
	}
	return n
}

func (p *parser) url(v value) string {
	if err := checkURL(v.raw); err != nil {
		p.fail(v.section, v.key, "%v", err)
		return ""
	}
	return v.raw
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// syntaxError describes an INI syntax error without the offending line:
// the ini library quotes it, and it may be "password hunter2" with the '='
// forgotten. Only the library's fixed wording is kept.
func syntaxError(err error) string {
	msg := err.Error()
	what := "the file is not valid INI"
	for _, known := range []string{
		"key-value delimiter not found", "empty key name", "missing closing key quote",
		"unclosed section", "BOM",
	} {
		if strings.HasPrefix(msg, known) {
			what = known
			break
		}
	}
	return "syntax error: " + what + " (line not shown: it may hold a secret)"
}
