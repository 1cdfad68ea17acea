// genlog writes a realistic access log for the benchmark, the demo and tests:
// nginx-like LTSV (about 290 bytes a line, as kazeburo's axslog documents),
// combined with a trailing $request_time, or JSON. It is deterministic for a
// given --seed, and prints the status counts it wrote to stderr so that a
// reader's totals can be checked.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
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

func main() {
	lines := flag.Int("lines", 100000, "number of lines")
	format := flag.String("format", "ltsv", "ltsv, combined or json")
	seed := flag.Uint64("seed", 1, "random seed")
	out := flag.String("out", "-", "output file (- for stdout); appended to")
	flag.Parse()
	w := os.Stdout
	if *out != "-" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	r := rand.New(rand.NewPCG(*seed, 0x5eed))
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("", 9*3600))
	count := map[int]int{}
	for i := 0; i < *lines; i++ {
		st := status(r)
		count[st]++
		ts := t0.Add(time.Duration(i) * time.Millisecond).Format("02/Jan/2006:15:04:05 -0700")
		ip := fmt.Sprintf("192.0.2.%d", r.IntN(254)+1)
		path := paths[r.IntN(len(paths))]
		ua := uas[r.IntN(len(uas))]
		vhost := vhosts[r.IntN(len(vhosts))]
		app := r.IntN(800) + 1 // ms
		if r.IntN(50) == 0 {
			app += r.IntN(3000)
		}
		req := app + r.IntN(5)
		size := 200 + r.IntN(30000)
		switch *format {
		case "combined":
			fmt.Fprintf(bw, "%s - - [%s] \"GET %s HTTP/1.1\" %d %d \"-\" \"%s\" %d.%03d\n", ip, ts, path, st, size, ua, req/1000, req%1000)
		case "json":
			fmt.Fprintf(bw, "{\"time\":\"%s\",\"remote_addr\":\"%s\",\"request\":\"GET %s HTTP/1.1\",\"status\":%d,\"body_bytes_sent\":%d,\"http_user_agent\":\"%s\",\"request_time\":\"%d.%03d\",\"upstream_response_time\":\"%d.%03d\",\"host\":\"%s\"}\n",
				ts, ip, path, st, size, ua, req/1000, req%1000, app/1000, app%1000, vhost)
		default:
			fmt.Fprintf(bw, "time:%s\thost:%s\tforwardedfor:-\treq:GET %s HTTP/1.1\tstatus:%d\tsize:%d\treferer:-\tua:%s\treqtime:%d.%03d\tapptime:%d.%03d\tvhost:%s\n",
				ts, ip, path, st, size, ua, req/1000, req%1000, app/1000, app%1000, vhost)
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genlog: %d lines; by status: %v\n", *lines, count)
}
