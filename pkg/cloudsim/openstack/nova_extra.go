package openstack

import "net/http"

// Nova's limits, availability zone detail and flavors: what clients read
// besides volume attachments.

func (s *Handler) novaExtraRoutes(h func(string, handlerFunc)) {
	p := "/compute/{ver}/{project}"
	h("GET "+p+"/limits", s.novaLimits)
	h("GET "+p+"/os-availability-zone/detail", s.novaZonesDetail)
	h("GET "+p+"/flavors", s.listFlavors(false))
	h("GET "+p+"/flavors/detail", s.listFlavors(true))
	h("GET "+p+"/flavors/{id}", s.getFlavor)
}

func (s *Handler) novaLimits(c *call) {
	n := len(s.cfg.Servers)
	abs := map[string]any{
		"maxImageMeta": 128, "maxServerMeta": 128, "maxTotalCores": 20, "maxTotalInstances": 10,
		"maxTotalKeypairs": 100, "maxTotalRAMSize": 51200, "maxServerGroups": 10, "maxServerGroupMembers": 10,
		"totalCoresUsed": n, "totalInstancesUsed": n, "totalRAMUsed": n * 2048, "totalServerGroupsUsed": 0,
	}
	// 2.36 dropped the network proxies, 2.57 personality files.
	if !microAtLeast(c.micro, 2, 36) {
		for k, v := range map[string]int{"maxSecurityGroupRules": 20, "maxSecurityGroups": 10, "maxTotalFloatingIps": 10,
			"totalSecurityGroupsUsed": 1, "totalFloatingIpsUsed": 0} {
			abs[k] = v
		}
	}
	if !microAtLeast(c.micro, 2, 57) {
		abs["maxPersonality"], abs["maxPersonalitySize"] = 5, 10240
	}
	c.json(200, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}

func (s *Handler) novaZonesDetail(c *call) {
	if e := c.adminOnly("os_compute_api:os-availability-zone:detail"); e != nil {
		c.fail(e)
		return
	}
	svc := func() map[string]any {
		return map[string]any{"available": true, "active": true, "updated_at": ts(now())}
	}
	out := []any{map[string]any{"zoneName": "internal", "zoneState": map[string]any{"available": true},
		"hosts": map[string]any{"controller": map[string]any{"nova-conductor": svc(), "nova-scheduler": svc()}}}}
	for _, z := range s.prof.zones {
		hosts := map[string]any{}
		for _, srv := range s.cfg.Servers {
			if srv.Zone == z {
				hosts["compute-"+z] = map[string]any{"nova-compute": svc()}
			}
		}
		out = append(out, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": true}, "hosts": hosts})
	}
	c.json(200, map[string]any{"availabilityZoneInfo": out})
}

type flavor struct {
	id, name              string
	ram, vcpus, disk, eph int
}

var flavors = []flavor{
	{"1", "m1.tiny", 512, 1, 1, 0},
	{"2", "m1.small", 2048, 1, 20, 0},
	{"3", "m1.medium", 4096, 2, 40, 0},
	{"4", "m1.large", 8192, 4, 80, 0},
}

func (c *call) flavorView(f flavor, detail bool) map[string]any {
	self := c.baseURL() + "/compute/" + c.r.PathValue("ver") + "/" + c.project + "/flavors/" + f.id
	m := map[string]any{"id": f.id, "name": f.name, "links": []any{
		map[string]any{"rel": "self", "href": self},
		map[string]any{"rel": "bookmark", "href": c.baseURL() + "/compute/" + c.project + "/flavors/" + f.id},
	}}
	if microAtLeast(c.micro, 2, 55) {
		m["description"] = nil
	}
	if !detail {
		return m
	}
	m["ram"], m["vcpus"], m["disk"] = f.ram, f.vcpus, f.disk
	m["OS-FLV-EXT-DATA:ephemeral"], m["swap"], m["rxtx_factor"] = f.eph, "", 1.0
	m["os-flavor-access:is_public"], m["OS-FLV-DISABLED:disabled"] = true, false
	if microAtLeast(c.micro, 2, 61) {
		m["extra_specs"] = map[string]any{}
	}
	return m
}

func (s *Handler) listFlavors(detail bool) handlerFunc {
	return func(c *call) {
		out := []any{}
		for _, f := range flavors {
			out = append(out, c.flavorView(f, detail))
		}
		c.json(200, map[string]any{"flavors": out})
	}
}

func (s *Handler) getFlavor(c *call) {
	for _, f := range flavors {
		if f.id == c.r.PathValue("id") {
			c.json(200, map[string]any{"flavor": c.flavorView(f, true)})
			return
		}
	}
	c.fail(&apiError{code: http.StatusNotFound, kind: "itemNotFound", msg: "Flavor " + c.r.PathValue("id") + " could not be found."})
}
