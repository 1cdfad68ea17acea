// Package loggen writes realistic access logs for the benchmark, the demo
// and tests: nginx-like LTSV (about 290 bytes a line, as kazeburo's axslog
// documents), combined with a trailing $request_time, or JSON. Output is
// deterministic for a given seed, and the counts by status are returned so
// that a reader's totals can be checked.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

var (
	paths = []string{"/", "/items", "/items/123456", "/search?q=camera&page=2", "/cart", "/api/v1/users/42/orders", "/static/app.3f9a1c.js", "/login", "/api/v1/recommendations?limit=20"}
	uas   = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	}
	vhosts = []string{"www.example.com", "api.example.com", "static.example.com"}
)

// status draws a status code with a realistic mix, 5xx included.
func status(r *rand.Rand) int {
	switch x := r.IntN(1000); {
	case x < 900:
		return 200
	case x < 930:
		return 304
	case x < 950:
		return 302
	case x < 975:
		return 404
	case x < 985:
		return 499
	case x < 990:
		return 500
	case x < 994:
		return 502
	case x < 997:
		return 503
	case x < 999:
		return 504
	default:
		return 101
	}
}

// Write writes n lines in format ("ltsv", "combined" or "json") and returns
// the number written per status code.
func Write(w io.Writer, n int, format string, seed uint64) (map[int]int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("", 9*3600))
	count := map[int]int{}
	var line []byte
	for i := 0; i < n; i++ {
		st := status(r)
		count[st]++
		ts := t0.Add(time.Duration(i) * time.Millisecond).Format("02/Jan/2006:15:04:05 -0700")
		ip := "192.0.2." + strconv.Itoa(r.IntN(254)+1)
		path := paths[r.IntN(len(paths))]
		ua := uas[r.IntN(len(uas))]
		vhost := vhosts[r.IntN(len(vhosts))]
		app := r.IntN(800) + 1 // ms
		if r.IntN(50) == 0 {
			app += r.IntN(3000) // a slow tail
		}
		req := app + r.IntN(5)
		size := 200 + r.IntN(30000)
		line = line[:0]
		switch format {
		case "combined":
			line = fmt.Appendf(line, "%s - - [%s] \"GET %s HTTP/1.1\" %d %d \"-\" \"%s\" %d.%03d\n", ip, ts, path, st, size, ua, req/1000, req%1000)
		case "json":
			line = fmt.Appendf(line, "{\"time\":\"%s\",\"remote_addr\":\"%s\",\"request\":\"GET %s HTTP/1.1\",\"status\":%d,\"body_bytes_sent\":%d,\"http_user_agent\":\"%s\",\"request_time\":\"%d.%03d\",\"upstream_response_time\":\"%d.%03d\",\"host\":\"%s\"}\n",
				ts, ip, path, st, size, ua, req/1000, req%1000, app/1000, app%1000, vhost)
		case "ltsv", "":
			line = fmt.Appendf(line, "time:%s\thost:%s\tforwardedfor:-\treq:GET %s HTTP/1.1\tstatus:%d\tsize:%d\treferer:-\tua:%s\treqtime:%d.%03d\tapptime:%d.%03d\tvhost:%s\n",
				ts, ip, path, st, size, ua, req/1000, req%1000, app/1000, app%1000, vhost)
		default:
			return nil, fmt.Errorf("loggen: unknown format %q (want ltsv, combined or json)", format)
		}
		if _, err := bw.Write(line); err != nil {
			return nil, err
		}
	}
	return count, bw.Flush()
}

// Warm reads the file at path once, so that the runs measured next read it
// from the page cache.
func Warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
