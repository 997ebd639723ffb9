package chart

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { return str(o["kind"]) }
func (o object) name() string { return str(get(o, "metadata", "name")) }

// parseObjects decodes a multi-document YAML stream, skipping empty documents.
func parseObjects(t testing.TB, manifest string) []object {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	var objs []object
	for {
		// Decoded as a plain map: yaml.v3 would give nested maps the
		// named type too.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		if o != nil {
			objs = append(objs, object(o))
		}
	}
}

// find returns the one object of kind and name, failing the test otherwise.
func find(t testing.TB, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d (have: %s)", kind, name, len(found), inventory(objs))
	}
	return found[0]
}

func ofKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func inventory(objs []object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.kind()+"/"+o.name())
	}
	return strings.Join(s, ", ")
}

// get walks nested maps by key; nil when a step is missing.
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			if o, isObj := v.(object); isObj {
				m = o
			} else {
				return nil
			}
		}
		v = m[p]
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func strList(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// podSpec returns the pod template spec of a Deployment or DaemonSet.
func podSpec(o object) map[string]any {
	m, _ := get(o, "spec", "template", "spec").(map[string]any)
	return m
}

// container returns the named container of a pod spec, or nil.
func container(spec map[string]any, name string) map[string]any {
	for _, c := range list(spec["containers"]) {
		if m, ok := c.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

func containerNames(spec map[string]any) []string {
	var out []string
	for _, c := range list(spec["containers"]) {
		out = append(out, str(get(c, "name")))
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// mountOf returns the volumeMount of c at mountPath, or nil.
func mountOf(c map[string]any, mountPath string) map[string]any {
	for _, m := range list(c["volumeMounts"]) {
		if mm, ok := m.(map[string]any); ok && mm["mountPath"] == mountPath {
			return mm
		}
	}
	return nil
}

// volume returns the pod volume called name, or nil.
func volume(spec map[string]any, name string) map[string]any {
	for _, v := range list(spec["volumes"]) {
		if m, ok := v.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}
