package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchConfig builds a large, realistic config: 10,000 identities in 200
// groups, 250 resources with three levels each, and 1,000 rules (four
// literal rules per resource, some with conditions, auto-approval and
// reason patterns, plus 50 glob rules each covering a tenth of the
// resources).
func benchConfig() string {
	const (
		people    = 10_000
		groups    = 200
		resources = 250
		globRules = 50
	)
	var b strings.Builder
	b.WriteString("admins: [\"group:g0\"]\nidentities:\n")
	for i := range people {
		fmt.Fprintf(&b, "  - {email: user%d@example.com, groups: [g%d, g%d]}\n", i, i%groups, (i*7+3)%groups)
	}
	b.WriteString("resources:\n")
	for i := range resources {
		fmt.Fprintf(&b, "  - {name: svc-%d, provider: policytest, access: [read, write, admin], default_access: read, labels: {env: %s}}\n",
			i, []string{"prod", "staging"}[i%2])
	}
	b.WriteString("rules:\n")
	n := 0
	for i := range resources {
		for j := range 4 {
			fmt.Fprintf(&b, "  - name: r%d\n    requesters: {groups: [g%d, g%d]}\n    resources: [svc-%d]\n    max_duration: %dh\n",
				n, (i+j)%groups, (i*3+j)%groups, i, j+1)
			if j != 3 {
				fmt.Fprintf(&b, "    approvers: {groups: [g%d]}\n", (i+j+1)%groups)
			}
			switch j {
			case 0:
				b.WriteString("    access: [read]\n    auto_approve: {max_duration: 1h}\n")
			case 1:
				b.WriteString("    access: [read, write]\n    reason: {required: true, pattern: \"^(INC|CHG)-[0-9]+\"}\n")
			case 2:
				b.WriteString("    condition: 'resource.labels.env == \"staging\" || duration <= duration(\"2h\")'\n")
			case 3:
				b.WriteString("    access: [admin]\n    approvals: 2\n    approvers: {groups: [g1], peers: true}\n    condition: 'requester.admin || time.getHours() < 18'\n")
			}
			n++
		}
	}
	for i := range globRules {
		fmt.Fprintf(&b, "  - name: glob%d\n    requesters: {groups: [g%d]}\n    resources: [\"svc-%d*\"]\n    max_duration: 30m\n    approvers: {peers: true}\n",
			i, i%groups, i%10+1)
	}
	return b.String()
}

// BenchmarkDecide decides requests against 1,000 rules and 10,000
// identities. Besides ns/op it reports the median and the 99th percentile
// of single decisions, the figure the performance target is about.
func BenchmarkDecide(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchConfig()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if len(p.rules) < 1000 || len(p.known) < 10_000 {
		b.Fatalf("config has %d rules and %d identities", len(p.rules), len(p.known))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([]Input, 4096)
	for i := range inputs {
		inputs[i] = Input{
			Requester: p.Identity(fmt.Sprintf("user%d@example.com", rng.IntN(10_000))),
			Resource:  fmt.Sprintf("svc-%d", rng.IntN(250)),
			Access:    []string{"", "read", "write", "admin"}[rng.IntN(4)],
			Duration:  time.Duration(1+rng.IntN(240)) * time.Minute,
			Reason:    []string{"", "INC-1234", "looking into a report"}[rng.IntN(3)],
			Time:      time.Date(2025, 3, 4, rng.IntN(24), 0, 0, 0, time.UTC),
		}
	}
	allowed := 0
	for _, in := range inputs {
		if p.Decide(in).Allowed {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(inputs) {
		b.Fatalf("%d of %d inputs allowed: the benchmark would not exercise both paths", allowed, len(inputs))
	}

	samples := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%len(inputs)]
		start := time.Now()
		d := p.Decide(in)
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(start))
		}
		_ = d
		i++
	}
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "median-ns")
		b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkParse measures loading the same large config, which happens at
// start and at every reload.
func BenchmarkParse(b *testing.B) {
	data := []byte(benchConfig())
	for b.Loop() {
		p, err := Parse("bench.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}
