// Package loadgen sends keep-alive HTTP traffic at a fixed rate to a test
// app behind a load balancer and counts every outcome: deploy-tool's
// zero-5xx tests and `make demo` use it. The mix is what deploy-tool's
// testapp serves: 70% fast GETs, 25% POSTs (100 ms of work each), 5% slow
// GETs of 1–2 s. Traffic goes only where url points (loopback in tests).
package loadgen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Load is traffic in progress.
type Load struct {
	url     string
	client  *http.Client
	stopped chan struct{}
	wg      sync.WaitGroup
	start   time.Time
	end     time.Time

	mu       sync.Mutex
	total    int
	statuses map[int]int
	errs     int
	examples []string
	versions map[string]int
}

// Start sends rate requests per second to url (the balancer's front end)
// from up to 96 concurrent keep-alive clients, until Stop.
func Start(url string, rate int) *Load { return start(url, rate, false) }

// StartFresh is Start with a new connection for every request: for a test
// across `nginx -s reload`, where the old workers close idle keep-alive
// connections and a POST racing that close fails whatever the balancer's
// servers do (a client may not retry a non-idempotent request).
func StartFresh(url string, rate int) *Load { return start(url, rate, true) }

func start(url string, rate int, fresh bool) *Load {
	l := &Load{
		url:      strings.TrimSuffix(url, "/"),
		stopped:  make(chan struct{}),
		statuses: map[int]int{},
		versions: map[string]int{},
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 128, IdleConnTimeout: 60 * time.Second, DisableCompression: true,
			DisableKeepAlives: fresh,
		}},
	}
	tokens := make(chan int, 4*rate)
	l.start = time.Now()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(tokens)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		sent := 0
		for {
			select {
			case <-l.stopped:
				return
			case <-tick.C:
			}
			due := int(time.Since(l.start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				select {
				case tokens <- sent:
				default: // every client busy: not sent, and the rate shows it
				}
			}
		}
	}()
	for range 96 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := range tokens {
				l.one(n)
			}
		}()
	}
	return l
}

func (l *Load) one(n int) {
	var req *http.Request
	switch k := n % 20; {
	case k == 0:
		req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/slow?ms=%d", l.url, 1000+rand.IntN(1000)), nil)
	case k <= 5:
		req, _ = http.NewRequest(http.MethodPost, l.url+"/post", strings.NewReader(strings.Repeat("x", 1024)))
	default:
		req, _ = http.NewRequest(http.MethodGet, l.url+"/fast", nil)
	}
	resp, err := l.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	switch {
	case err != nil:
		l.errs++
		if len(l.examples) < 5 {
			l.examples = append(l.examples, req.Method+" "+req.URL.Path+": "+err.Error())
		}
	default:
		l.statuses[resp.StatusCode]++
		if resp.StatusCode/100 != 2 && len(l.examples) < 5 {
			l.examples = append(l.examples, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(body))))
		}
		if resp.StatusCode == 200 {
			l.versions[strings.Fields(string(body) + " ?")[0]]++
		}
	}
}

// Stop ends the traffic and waits for the requests in flight.
func (l *Load) Stop() {
	select {
	case <-l.stopped:
		return
	default:
	}
	close(l.stopped)
	l.wg.Wait()
	l.end = time.Now()
	l.client.CloseIdleConnections()
}

// Report sums up a load.
type Report struct {
	Total, Non2xx, Errors int
	Rate                  float64 // requests per second achieved
	Text                  string  // one line for a log
}

// Report stops the load and sums it up.
func (l *Load) Report() Report {
	l.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Report{Total: l.total, Errors: l.errs}
	for code, n := range l.statuses {
		if code/100 != 2 {
			r.Non2xx += n
		}
	}
	r.Rate = float64(l.total) / l.end.Sub(l.start).Seconds()
	var codes []string
	for code, n := range l.statuses {
		codes = append(codes, fmt.Sprintf("%d×%d", code, n))
	}
	sort.Strings(codes)
	r.Text = fmt.Sprintf("%d requests in %.1fs (%.0f/s): statuses %s, transport errors %d, versions %v, examples %q",
		l.total, l.end.Sub(l.start).Seconds(), r.Rate, strings.Join(codes, " "), l.errs, l.versions, l.examples)
	return r
}
