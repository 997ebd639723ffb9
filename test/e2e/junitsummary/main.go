// Command junitsummary reads the JUnit report of e2e.test and prints one
// line for the specs of one driver:
//
//	e2e BACKEND: N passed, N failed, N skipped
//
// Skipped counts the driver's specs that did not run: those the suite
// skipped (a capability the driver does not declare) and those excluded by
// -ginkgo.skip (Disruptive, Serial, Slow, Feature); a second line tells
// them apart and names the failures. It exits 1 when a spec failed or none
// passed.
package main

import (
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"strings"
)

type testcase struct {
	Name    string    `xml:"name,attr"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
}

type suites struct {
	Cases  []testcase `xml:"testcase"`
	Suites []struct {
		Cases []testcase `xml:"testcase"`
	} `xml:"testsuite"`
}

func main() {
	report := flag.String("report", "junit_01.xml", "e2e.test's JUnit report")
	backend := flag.String("backend", "cinder-v2", "backend name for the summary line")
	driver := flag.String("driver", "block.csi.openblock.io", "driver whose specs count")
	flag.Parse()
	data, err := os.ReadFile(*report)
	if err != nil {
		fmt.Fprintln(os.Stderr, "junitsummary:", err)
		os.Exit(2)
	}
	var s suites
	if err := xml.Unmarshal(data, &s); err != nil {
		fmt.Fprintln(os.Stderr, "junitsummary:", err)
		os.Exit(2)
	}
	cases := s.Cases
	for _, ts := range s.Suites {
		cases = append(cases, ts.Cases...)
	}
	marker := "[Driver: " + *driver + "]"
	var passed, failed, bySuite, byFilter int
	var failures []string
	for _, c := range cases {
		if !strings.Contains(c.Name, marker) {
			continue
		}
		switch {
		case c.Failure != nil || c.Error != nil:
			failed++
			failures = append(failures, c.Name)
		case c.Skipped != nil:
			// Ginkgo marks specs left out by -focus/-skip with the
			// message "skipped" and no reason of their own.
			if msg := strings.TrimSpace(c.Skipped.Message); msg == "" || msg == "skipped" {
				byFilter++
			} else {
				bySuite++
			}
		default:
			passed++
		}
	}
	fmt.Printf("e2e %s: %d passed, %d failed, %d skipped\n", *backend, passed, failed, bySuite+byFilter)
	fmt.Printf("  (skipped: %d by the suite for capabilities the driver does not declare, %d excluded by -ginkgo.skip)\n", bySuite, byFilter)
	for _, f := range failures {
		fmt.Printf("  FAILED: %s\n", f)
	}
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}
