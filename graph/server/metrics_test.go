package server

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrape returns the Prometheus text exposition of m.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetricsObserveOperation(t *testing.T) {
	m := NewMetrics()
	m.ObserveOperation("AssetBySerial", 12*time.Millisecond, 0)
	m.ObserveOperation("AssetBySerial", 30*time.Millisecond, 2)
	m.ObserveOperation("", time.Millisecond, 0)
	m.observeHTTP("/graphql", 401)

	out := scrape(t, m)
	for _, want := range []string{
		`custody_graphql_operations_total{operation="AssetBySerial",outcome="ok"} 1`,
		`custody_graphql_operations_total{operation="AssetBySerial",outcome="error"} 1`,
		`custody_graphql_errors_total{operation="AssetBySerial"} 2`,
		`custody_graphql_operation_duration_seconds_count{operation="AssetBySerial"} 2`,
		`custody_graphql_operation_duration_seconds_bucket{operation="AssetBySerial",le="0.025"} 1`,
		`custody_graphql_operations_total{operation="anonymous",outcome="ok"} 1`,
		`custody_http_requests_total{code="401",route="/graphql"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMetricsCapOperationLabels(t *testing.T) {
	m := NewMetrics()
	for i := range maxOperationLabels + 50 {
		m.ObserveOperation(fmt.Sprintf("Op%d", i), time.Millisecond, 0)
	}
	m.ObserveOperation("Op0", time.Millisecond, 0) // admitted before the cap: keeps its label
	m.ObserveOperation(strings.Repeat("x", 101), time.Millisecond, 0)

	out := scrape(t, m)
	if got := strings.Count(out, "custody_graphql_operations_total{"); got != maxOperationLabels+1 {
		t.Fatalf("%d operation series, want %d (the cap plus other)", got, maxOperationLabels+1)
	}
	for _, want := range []string{
		`custody_graphql_operations_total{operation="other",outcome="ok"} 51`,
		`custody_graphql_operations_total{operation="Op0",outcome="ok"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
