package main

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// calls is the simulator's per-call counter between two snapshots.
type calls struct {
	Total    int64
	Total413 int64
	// ByKey is keyed like cloudsim.Stats.Calls: "face METHOD template STATUS".
	ByKey map[string]int64
	// Answer sums, keyed alike, how long the simulator took to answer.
	Answer map[string]time.Duration
}

func diffStats(before, after cloudsim.Stats) calls {
	c := calls{Total: after.Total - before.Total, Total413: after.Total413 - before.Total413,
		ByKey: map[string]int64{}, Answer: map[string]time.Duration{}}
	for k, v := range after.Calls {
		if d := v - before.Calls[k]; d != 0 {
			c.ByKey[k] = d
			c.Answer[k] = time.Duration(after.AnswerMicros[k]-before.AnswerMicros[k]) * time.Microsecond
		}
	}
	return c
}

func (c calls) add(o calls) calls {
	out := calls{Total: c.Total + o.Total, Total413: c.Total413 + o.Total413,
		ByKey: map[string]int64{}, Answer: map[string]time.Duration{}}
	for _, x := range []calls{c, o} {
		for k, v := range x.ByKey {
			out.ByKey[k] += v
		}
		for k, v := range x.Answer {
			out.Answer[k] += v
		}
	}
	return out
}

// count sums the calls whose key has the given face, method and route
// suffix (any status when status is "").
func (c calls) count(face, method, routeSuffix, status string) int64 {
	var n int64
	for k, v := range c.ByKey {
		kf, km, route, ks := splitKey(k)
		if kf == face && km == method && strings.HasSuffix(route, routeSuffix) && (status == "" || ks == status) {
			n += v
		}
	}
	return n
}

// writes counts successful calls that change something.
func (c calls) writes() int64 {
	var n int64
	for k, v := range c.ByKey {
		_, m, _, st := splitKey(k)
		if m != "GET" && m != "HEAD" && strings.HasPrefix(st, "2") {
			n += v
		}
	}
	return n
}

// splitKey parses "face METHOD template STATUS".
func splitKey(k string) (face, method, route, status string) {
	f := strings.Fields(k)
	if len(f) < 4 {
		return k, "", "", ""
	}
	return f[0], f[1], strings.Join(f[2:len(f)-1], " "), f[len(f)-1]
}

// routeLabel shortens a key for the table: the project prefix goes, the
// face and status stay.
func routeLabel(k string) string {
	face, method, route, status := splitKey(k)
	for _, p := range []string{"/volume/{ver}/{project}", "/compute/{ver}/{project}"} {
		route = strings.TrimPrefix(route, p)
	}
	return face + " " + method + " " + route + " " + status
}

func sortedKeys(ms ...map[string]int64) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		_, mi, ri, si := splitKey(out[i])
		_, mj, rj, sj := splitKey(out[j])
		if ri != rj {
			return ri < rj
		}
		if mi != mj {
			return mi < mj
		}
		return si < sj
	})
	return out
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func seconds(d time.Duration) float64 { return round(d.Seconds(), 3) }

func millis(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

func sortedDurations(ds []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
