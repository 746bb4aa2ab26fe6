package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxOperationLabels caps the distinct operation names kept as label values.
// Operation names come from clients; past the cap they are counted as
// "other", so a client inventing names cannot grow the metrics without bound.
const maxOperationLabels = 200

// Labels for operations that cannot be told apart otherwise.
const (
	opAnonymous = "anonymous"
	opOther     = "other"
)

// Metrics holds Custody's Prometheus metrics in a registry of its own (no
// global state, so tests and several servers in one process do not collide).
// It implements graph.OperationObserver.
type Metrics struct {
	registry   *prometheus.Registry
	operations *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	requests   *prometheus.CounterVec

	// known holds the operation names admitted as label values.
	known   sync.Map
	mu      sync.Mutex
	nKnown  int
	handler http.Handler
}

// NewMetrics registers Custody's metrics and the Go runtime and process
// collectors in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_graphql_operations_total",
			Help: "GraphQL operations executed, by operation name and outcome (ok: no errors, error: at least one).",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "custody_graphql_operation_duration_seconds",
			Help:    "GraphQL operation latency, from parse to response, by operation name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_graphql_errors_total",
			Help: "GraphQL errors returned (top-level, including denials), by operation name.",
		}, []string{"operation"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
	}
	m.registry.MustRegister(m.operations, m.latency, m.errors, m.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return m
}

// Registry returns the registry, so later features can add their collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the Prometheus exposition of the registry.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveOperation records one executed GraphQL operation and the number of
// errors in its response.
func (m *Metrics) ObserveOperation(operation string, duration time.Duration, errors int) {
	op := m.label(operation)
	outcome := "ok"
	if errors > 0 {
		outcome = "error"
		m.errors.WithLabelValues(op).Add(float64(errors))
	}
	m.operations.WithLabelValues(op, outcome).Inc()
	m.latency.WithLabelValues(op).Observe(duration.Seconds())
}

// label maps an operation name to a bounded set of label values.
func (m *Metrics) label(operation string) string {
	if operation == "" {
		return opAnonymous
	}
	if _, ok := m.known.Load(operation); ok {
		return operation
	}
	const maxLen = 100
	if len(operation) > maxLen {
		return opOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.known.Load(operation); ok {
		return operation
	}
	if m.nKnown >= maxOperationLabels {
		return opOther
	}
	m.known.Store(operation, struct{}{})
	m.nKnown++
	return operation
}

// observeHTTP counts one served HTTP request.
func (m *Metrics) observeHTTP(route string, status int) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

// ObserveWebSockets exports the subscription transport's open connections
// (custody_websocket_connections) and returns the function that counts each
// closed connection by close code (custody_websocket_closed_total), for
// wstransport.Transport.OnClose.
func (m *Metrics) ObserveWebSockets(open func() int) func(code int) {
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "custody_websocket_closed_total",
		Help: "Subscription WebSocket connections closed, by close code (1001 shutdown, 1013 slow consumer, 44xx protocol).",
	}, []string{"code"})
	m.registry.MustRegister(closed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "custody_websocket_connections",
		Help: "Subscription WebSocket connections open now.",
	}, func() float64 { return float64(open()) }))
	return func(code int) { closed.WithLabelValues(strconv.Itoa(code)).Inc() }
}
