// Package metrics defines jit's Prometheus collectors in one place, so that
// the workflow, the scheduler, the providers and the HTTP layer record into
// the same registry with consistent names.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector jitd exports.
type Metrics struct {
	Registry *prometheus.Registry

	// RequestsByStatus is set on each scrape from the store.
	RequestsByStatus *prometheus.GaugeVec
	// Transitions counts state changes by the status entered.
	Transitions *prometheus.CounterVec
	// Notifications counts notification deliveries by sink and outcome
	// (ok, retry, dropped).
	Notifications *prometheus.CounterVec
	// JobDuration observes how long jobs take, by kind and outcome.
	JobDuration *prometheus.HistogramVec
	// JobLatency observes how late a job started after it was due.
	JobLatency *prometheus.HistogramVec
	// ExpiryLag observes revoked_at - expires_at for expired grants.
	ExpiryLag prometheus.Histogram
	// Overdue is the number of grants past their expiry and not revoked.
	Overdue prometheus.Gauge
	// ProviderCalls counts provider calls by type, operation and outcome.
	ProviderCalls *prometheus.CounterVec
	// ProviderDuration observes provider call latency.
	ProviderDuration *prometheus.HistogramVec
	// HTTPRequests counts API requests by route and status code.
	HTTPRequests *prometheus.CounterVec
	// HTTPDuration observes API latency by route.
	HTTPDuration *prometheus.HistogramVec
	// PolicyReloads counts reloads by outcome (ok, error).
	PolicyReloads *prometheus.CounterVec
	// DriftFound counts differences the reconciler found between the store
	// and targets, by kind ("orphan", "vanished") and resource.
	DriftFound *prometheus.CounterVec
}

// New creates the collectors and registers them, with the Go and process
// collectors, in a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		RequestsByStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jit_requests", Help: "Requests by status.",
		}, []string{"status"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_transitions_total", Help: "Request state changes by the status entered.",
		}, []string{"status"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jit_job_duration_seconds", Help: "Time to run a job.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"kind", "outcome"}),
		JobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jit_job_start_lag_seconds", Help: "How late a job started after it was due.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
		ExpiryLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jit_expiry_lag_seconds", Help: "Time from a grant's expires_at until its access was removed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		Overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jit_grants_overdue", Help: "Grants past their expiry whose access is not yet removed.",
		}),
		ProviderCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_provider_calls_total", Help: "Provider calls by type, operation and outcome.",
		}, []string{"type", "op", "outcome"}),
		ProviderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jit_provider_call_duration_seconds", Help: "Provider call latency.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"type", "op"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jit_http_request_duration_seconds", Help: "API latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		PolicyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_policy_reloads_total", Help: "Policy reloads by outcome.",
		}, []string{"outcome"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_notifications_total", Help: "Notification deliveries by sink and outcome (ok, retry, dropped).",
		}, []string{"sink", "outcome"}),
		DriftFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jit_drift_found_total", Help: "Differences the reconciler found between the store and targets, by kind and resource.",
		}, []string{"kind", "resource"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.RequestsByStatus, m.Transitions, m.JobDuration, m.JobLatency, m.ExpiryLag,
		m.Overdue, m.ProviderCalls, m.ProviderDuration, m.HTTPRequests, m.HTTPDuration,
		m.PolicyReloads, m.DriftFound, m.Notifications,
	)
	return m
}
