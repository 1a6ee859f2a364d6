package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jitaccess/jit/metrics"
)

// profiler writes one CPU profile per measured phase when base is set:
// setup, untimed cleanup between phases and the teardown stay out of the
// profiles.
type profiler struct{ base string }

// phase runs fn as the measured phase name, profiling it when asked, and
// records in phases[name] the CPU time used meanwhile and jitd's own
// timings of the steps (from m).
func (p profiler) phase(name string, m *metrics.Metrics, phases map[string]phaseUse, fn func() error) error {
	if p.base != "" {
		ext := filepath.Ext(p.base)
		path := strings.TrimSuffix(p.base, ext) + "." + name + ext
		if ext == "" {
			path = p.base + "." + name
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	before, timings := takeCPU(), histograms(m)
	err := fn()
	u := takeCPU().since(before)
	u.Steps = stepsSince(histograms(m), timings)
	phases[name] = u
	return err
}

// phaseUse is where the time went during a phase. CPU: this process (jitd
// and the clients) and the processes named "postgres" on this machine
// (the server's backends, including other users' and, in part, any that
// ended during the phase); with two cores, 2 × wall_sec is all there was.
// Steps: jitd's own histograms (the metrics it exports) over the phase,
// as counts and mean milliseconds: API calls by route, jobs by kind, how
// late jobs started, and provider calls.
type phaseUse struct {
	WallSec     float64         `json:"wall_sec"`
	ProcessSec  float64         `json:"process_cpu_sec"`
	PostgresSec float64         `json:"postgres_cpu_sec"`
	Steps       map[string]step `json:"steps,omitempty"`
}

// step is the count and mean duration of one histogram over a phase.
type step struct {
	N      int64   `json:"n"`
	MeanMs float64 `json:"mean_ms"`
}

// sumCount is a histogram's sum (seconds) and count at one moment.
type sumCount struct {
	sum   float64
	count uint64
}

// histograms reads jitd's latency histograms, keyed by short name and
// label values ("provider grant", "job grant ok", "job_start_lag revoke",
// "http POST /requests").
func histograms(m *metrics.Metrics) map[string]sumCount {
	out := map[string]sumCount{}
	fams, err := m.Registry.Gather()
	if err != nil {
		return out
	}
	short := map[string]string{
		"jit_provider_call_duration_seconds": "provider",
		"jit_job_duration_seconds":           "job",
		"jit_job_start_lag_seconds":          "job_start_lag",
		"jit_http_request_duration_seconds":  "http",
	}
	for _, f := range fams {
		name, ok := short[f.GetName()]
		if !ok {
			continue
		}
		for _, mt := range f.GetMetric() {
			key := name
			for _, l := range mt.GetLabel() {
				if l.GetName() == "type" {
					continue // always postgres here
				}
				key += " " + l.GetValue()
			}
			h := mt.GetHistogram()
			out[key] = sumCount{sum: h.GetSampleSum(), count: h.GetSampleCount()}
		}
	}
	return out
}

func stepsSince(now, before map[string]sumCount) map[string]step {
	out := map[string]step{}
	for k, v := range now {
		n := v.count - before[k].count
		if n == 0 {
			continue
		}
		out[k] = step{N: int64(n), MeanMs: round3((v.sum - before[k].sum) / float64(n) * 1000)}
	}
	return out
}

type cpuSample struct {
	at       time.Time
	self     time.Duration
	postgres map[int]time.Duration
}

func takeCPU() cpuSample {
	s := cpuSample{at: time.Now(), postgres: postgresCPU()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

func (s cpuSample) since(before cpuSample) phaseUse {
	var pg time.Duration
	for pid, t := range s.postgres {
		// A backend that started during the phase counts from zero.
		pg += t - before.postgres[pid]
	}
	return phaseUse{
		WallSec:     round3(s.at.Sub(before.at).Seconds()),
		ProcessSec:  round3((s.self - before.self).Seconds()),
		PostgresSec: round3(pg.Seconds()),
	}
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// postgresCPU returns the user+system time of every process named
// "postgres", by PID, from /proc (empty where there is no /proc).
func postgresCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after
		// its closing parenthesis.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		// Fields 14 and 15 of the line (utime, stime) are 11 and 12 here.
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[pid] = time.Duration(ut+st) * clockTick
	}
	return out
}
