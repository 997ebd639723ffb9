package metrics

import (
	"regexp"
	"strings"
)

// routeWords are the path elements kept in operation labels. Everything
// else (volume, server, snapshot and project ids, names) becomes {id}, so
// the label's values are bounded by this list no matter what a caller
// passes.
var routeWords = map[string]bool{
	// Cinder
	"volumes": true, "snapshots": true, "backups": true, "detail": true, "action": true,
	"metadata": true, "restore": true, "limits": true, "types": true, "extensions": true,
	"os-availability-zone": true, "os-quota-sets": true, "attachments": true,
	"os-volume-transfer": true, "scheduler-stats": true, "get_pools": true,
	// Nova
	"servers": true, "os-volume_attachments": true, "flavors": true,
	// Keystone
	"auth": true, "tokens": true, "projects": true, "users": true, "catalog": true,
	// LunaNode action API: [lunanode/api/]category/action
	"lunanode": true, "api": true,
	"volume": true, "vm": true, "info": true, "list": true, "create": true, "delete": true,
	"attach": true, "detach": true, "extend": true, "rename": true,
	"snapshot-create": true, "snapshot-list": true, "snapshot-delete": true, "snapshot-replicate": true,
}

var versionRe = regexp.MustCompile(`^v[0-9]+(\.[0-9]+)?$`)

// RouteTemplate turns a request path into a bounded operation label:
// "/v3/{project}/volumes/<uuid>/action" and
// "/volume/v3/<project>/volumes/<uuid>/action" both give
// "volumes/{id}/action". Anything before the API version and the project
// element after it are dropped (Keystone's "/v3/auth/tokens" has no
// project: "auth/tokens"); elements not in a fixed word list become {id}.
// A leading HTTP method ("GET /volumes/x") is kept; a query string is
// dropped.
func RouteTemplate(path string) string {
	method := ""
	if i := strings.IndexByte(path, ' '); i > 0 && !strings.Contains(path[:i], "/") {
		method, path = path[:i+1], path[i+1:]
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	for i, p := range parts {
		if versionRe.MatchString(p) {
			parts = parts[i+1:]
			if len(parts) > 0 && !routeWords[parts[0]] {
				parts = parts[1:] // project (tenant) id or name
			}
			break
		}
	}
	for i, p := range parts {
		if !routeWords[p] && p != "{id}" {
			parts[i] = "{id}"
		}
	}
	return method + strings.Join(parts, "/")
}

// boundOperation keeps an operation label's shape ("GET /volumes/{id}")
// but replaces any element that is neither a route word, an API version
// nor {id}: a caller that passes a raw path cannot blow up cardinality.
func boundOperation(op string) string {
	method, path := "", op
	if i := strings.IndexByte(op, ' '); i > 0 && !strings.Contains(op[:i], "/") {
		method, path = op[:i+1], op[i+1:]
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p != "" && p != "{id}" && !routeWords[p] && !versionRe.MatchString(p) {
			parts[i] = "{id}"
		}
	}
	return method + strings.Join(parts, "/")
}
