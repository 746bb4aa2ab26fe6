package e2e_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

// benchSubscribers is how many HR WebSocket subscribers the benchmark holds
// open, spread evenly over the two server processes.
const benchSubscribers = 1000

// BenchmarkReturnToSubscribers measures the live fan-out of the production
// topology: two `custody serve` processes sharing PostgreSQL and Redis,
// 1,000 HR subscribers (half on each), and one return per iteration
// recorded through process 1. An iteration ends when every subscriber has
// the event, so ns/op is a return's time to reach all 1,000.
//
// Metrics:
//   - ms-p50, ms-p99: per subscriber and event, delivery time minus the
//     event's recordedAt. Both clocks are this machine's wall clock.
//     recordedAt is taken inside the transaction, before the commit, so
//     this is an upper bound of commit-to-delivery (it adds the rest of the
//     transaction, ≈1 ms); the HTTP response time would instead be a lower
//     bound, and could even follow the delivery. Delivery time is when the
//     client goroutine read the message, so the figure includes the client's
//     own scheduling on the same 2 cores as the servers, Postgres and Redis.
//   - KiB/subscriber: the growth of both processes' VmRSS from before to
//     after opening the 1,000 idle subscriptions, divided by 1,000.
//
// It is heavy (1,000 sockets), so it runs only when named in -bench or
// with CUSTODY_BENCH_SUBSCRIBERS=1:
//
//	CI=true go test ./graph/e2e -run '^$' -bench ReturnToSubscribers -benchtime 20x
func BenchmarkReturnToSubscribers(b *testing.B) {
	if os.Getenv("CUSTODY_BENCH_SUBSCRIBERS") != "1" && !benchNamed("ReturnToSubscribers") {
		b.Skip("1,000 WebSocket subscribers: run with -bench ReturnToSubscribers or CUSTODY_BENCH_SUBSCRIBERS=1")
	}
	needFiles(b, benchSubscribers+256)

	c := newCluster(b, sharedRedis(b))
	// Request logs at info would be the bulk of the work measured.
	procs := []*serveProc{c.serve(b, "serve-1", "CUSTODY_LOG_LEVEL=warn"), c.serve(b, "serve-2", "CUSTODY_LOG_LEVEL=warn")}
	writer := c.client(procs[0])
	tn := c.tenant
	pool := &assetPool{e: writer, tn: tn}
	pool.refill(b)
	cursor := ledgerSize(b, writer, tn)
	for _, p := range procs {
		ledgerSize(b, c.client(p), tn) // warm both processes' pools
	}

	before := settledRSS(b, procs)
	runtimeBefore := runtimeGauges(b, procs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deliveries := make(chan followedEvent, benchSubscribers)
	subs := make([]*follower, 0, benchSubscribers)
	for i := range benchSubscribers {
		subs = append(subs, follow(ctx, procs[i%len(procs)].url, tn.tokens[domain.RoleHR], cursor, nil,
			func(ev followedEvent) {
				select {
				case deliveries <- ev:
				case <-ctx.Done():
				}
			}))
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // a ramp, not a connection storm
		}
	}
	defer func() {
		cancel()
		for _, s := range subs {
			<-s.done
		}
	}()
	for _, p := range procs {
		awaitConnections(b, p, benchSubscribers/len(procs))
	}
	after := settledRSS(b, procs)
	runtimeAfter := runtimeGauges(b, procs)

	// A first return proves every subscription is live before timing starts.
	await := func(seq int64, lat *[]float64) {
		b.Helper()
		timer := time.NewTimer(processPatience)
		defer timer.Stop()
		for n := 0; n < benchSubscribers; n++ {
			select {
			case ev := <-deliveries:
				if ev.Seq != seq || ev.Type != "RETURN_RECEIVED" {
					b.Fatalf("a subscriber got seq %d %s, want the return at seq %d", ev.Seq, ev.Type, seq)
				}
				if lat != nil {
					*lat = append(*lat, float64(ev.DeliveredAt.Sub(ev.RecordedAt))/float64(time.Millisecond))
				}
			case <-timer.C:
				b.Fatalf("%d of %d subscribers got seq %d within %v", n, benchSubscribers, seq, processPatience)
			}
		}
	}
	await(pool.returnOne(b), nil)

	var latencies []float64
	for b.Loop() {
		await(pool.returnOne(b), &latencies)
	}

	reconnects := 0
	for _, s := range subs {
		if n := s.reconnects.Load(); n > 0 {
			reconnects += int(n)
			b.Logf("subscriber: %s", s.summary())
		}
	}
	if reconnects > 0 {
		b.Errorf("%d subscriber connection(s) ended during the benchmark", reconnects)
	}
	slices.Sort(latencies)
	b.ReportMetric(percentile(latencies, 0.50), "ms-p50")
	b.ReportMetric(percentile(latencies, 0.99), "ms-p99")
	b.ReportMetric(float64(after-before)/benchSubscribers, "KiB/subscriber")
	b.Logf("VmRSS of both processes: %d KiB before, %d KiB with %d idle subscriptions; %d deliveries timed",
		before, after, benchSubscribers, len(latencies))
	// Where the idle memory goes, from the processes' Go runtime metrics.
	for i, name := range runtimeGaugeNames {
		b.Logf("%s: +%.1f per subscriber", name, float64(runtimeAfter[i]-runtimeBefore[i])/benchSubscribers)
	}

	cancel()
	for _, s := range subs {
		<-s.done
	}
	for _, p := range procs {
		p.stop(b)
	}
}

// benchNamed reports whether -test.bench names the benchmark itself rather
// than matching everything.
func benchNamed(name string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), name)
}

// needFiles makes sure this process may open n descriptors (one per
// client socket, plus slack), raising the soft limit up to the hard one.
func needFiles(tb testing.TB, n uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		needService(tb, "open file limit %d (hard %d) is below the %d sockets needed: raise `ulimit -n`", lim.Cur, lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raise the open file limit to %d: %v", n, err)
	}
}

// assetPool hands out DEPLOYED assets to return, delivering them in
// batches with the timer stopped.
type assetPool struct {
	e       *env
	tn      *tenant
	serials []string
	batches int
}

const poolBatch = 50

func (p *assetPool) refill(b *testing.B) {
	b.Helper()
	p.batches++
	prefix := fmt.Sprintf("BENCH%d", p.batches)
	tok := p.tn.tokens
	var person personPayload
	p.e.ok(b, tok[domain.RoleHR], personCreateDoc, map[string]any{"in": map[string]any{
		"employeeId": prefix + "-E", "name": "Employee " + prefix, "email": prefix + "@acme.example", "department": "Engineering"}}, &person)
	if person.PersonCreate.Person == nil {
		b.Fatalf("personCreate: %+v", person.PersonCreate.UserErrors)
	}
	who := person.PersonCreate.Person.ID
	var rec receivePayload
	p.e.ok(b, tok[domain.RoleMailroom], parcelReceiveDoc, map[string]any{"in": receiveInput(who, "")}, &rec)
	if rec.ParcelReceive.Parcel == nil {
		b.Fatalf("parcelReceive: %+v", rec.ParcelReceive.UserErrors)
	}
	serials := make([]string, poolBatch)
	for i := range serials {
		serials[i] = fmt.Sprintf("%s-SN%03d", prefix, i)
	}
	var ser serializePayload
	p.e.ok(b, tok[domain.RoleMailroom], parcelSerializeDoc, map[string]any{"in": serializeInput(rec.ParcelReceive.Parcel.ID, serials...)}, &ser)
	if len(ser.ParcelSerialize.Assets) != poolBatch {
		b.Fatalf("parcelSerialize: %+v", ser.ParcelSerialize.UserErrors)
	}
	ids := make([]string, poolBatch)
	for i, a := range ser.ParcelSerialize.Assets {
		ids[i] = a.ID
	}
	var not notifyPayload
	p.e.ok(b, tok[domain.RoleMailroom], recipientNotifyDoc, map[string]any{"in": map[string]any{"parcelId": rec.ParcelReceive.Parcel.ID}}, &not)
	var ho handOffPayload
	p.e.ok(b, tok[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(ids, who, "")}, &ho)
	if len(ho.AssetHandOff.UserErrors) > 0 || len(ho.AssetHandOff.Assets) != poolBatch {
		b.Fatalf("assetHandOff: %+v", ho.AssetHandOff.UserErrors)
	}
	p.serials = append(p.serials, serials...)
}

// returnOne records the return of the next pooled asset and returns its
// event's seq. Delivering a new batch is not timed.
func (p *assetPool) returnOne(b *testing.B) int64 {
	b.Helper()
	if len(p.serials) == 0 {
		b.StopTimer()
		p.refill(b)
		b.StartTimer()
	}
	serial := p.serials[0]
	p.serials = p.serials[1:]
	var out returnPayload
	p.e.ok(b, p.tn.tokens[domain.RoleMailroom], returnDoc, map[string]any{"in": map[string]any{
		"serial": serial, "location": "Dock", "condition": "GOOD"}}, &out)
	r := out.AssetReturnReceive
	if len(r.UserErrors) > 0 || r.AssetReturn == nil {
		b.Fatalf("return %s: %+v", serial, r)
	}
	return r.AssetReturn.Event.Seq
}

// awaitConnections waits until the process counts want open subscription
// sockets (its custody_websocket_connections gauge).
func awaitConnections(tb testing.TB, p *serveProc, want int) {
	tb.Helper()
	deadline := time.Now().Add(processPatience)
	got := -1
	for time.Now().Before(deadline) {
		got = gauge(tb, p, "custody_websocket_connections")
		if got >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s has %d subscription sockets open, want %d", p.name, got, want)
}

// gauge reads one unlabelled metric from the process's /metrics.
func gauge(tb testing.TB, p *serveProc, name string) int {
	tb.Helper()
	res, err := http.Get(p.url + "/metrics")
	if err != nil {
		tb.Fatalf("GET %s/metrics: %v", p.name, err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("%s %s = %q", p.name, name, v)
			}
			return int(f)
		}
	}
	tb.Fatalf("%s /metrics has no %s", p.name, name)
	return 0
}

// settledRSS sums the processes' VmRSS once they have been idle a moment:
// after a pause (the Go GC and scavenger run on their own schedule), the
// median of a few readings per process.
func settledRSS(tb testing.TB, procs []*serveProc) int64 {
	tb.Helper()
	time.Sleep(2 * time.Second)
	var sum int64
	for _, p := range procs {
		var reads []int64
		for range 5 {
			reads = append(reads, p.rssKiB(tb))
			time.Sleep(200 * time.Millisecond)
		}
		slices.Sort(reads)
		sum += reads[len(reads)/2]
	}
	return sum
}

// runtimeGaugeNames are the Go runtime metrics that explain a server's
// memory per connection.
var runtimeGaugeNames = []string{"go_goroutines", "go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes"}

// runtimeGauges sums runtimeGaugeNames over the processes.
func runtimeGauges(tb testing.TB, procs []*serveProc) []int {
	tb.Helper()
	out := make([]int, len(runtimeGaugeNames))
	for _, p := range procs {
		for i, name := range runtimeGaugeNames {
			out[i] += gauge(tb, p, name)
		}
	}
	return out
}

// percentile of sorted values, nearest-rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
