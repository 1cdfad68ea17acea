// genlog writes a realistic PHP error log for check-error-log's benchmark:
// mostly notices and warnings, and a given share of fatal errors with their
// stack traces, drawn from a few dozen distinct messages.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "", "file to write (required)")
	size := flag.Int64("bytes", 1<<30, "approximate size to write")
	share := flag.Float64("match", 0.01, "share of entries that are fatal errors")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genlog: -o FILE is required")
		os.Exit(2)
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	t := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	var written int64
	lines, fatals := 0, 0
	for written < *size {
		t = t.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		ts := t.Format("[02-Jan-2006 15:04:05 MST] ")
		var s string
		if rng.Float64() < *share {
			m := rng.IntN(40)
			s = fmt.Sprintf("%sPHP Fatal error:  Uncaught RuntimeException: job %d failed for request %016x in /var/www/app/src/Jobs/Job%d.php:%d\nStack trace:\n#0 /var/www/app/src/Queue/Worker.php(88): App\\Jobs\\Job%d->handle()\n#1 /var/www/app/public/index.php(31): App\\Queue\\Worker->run()\n#2 {main}\n  thrown in /var/www/app/src/Jobs/Job%d.php on line %d\n",
				ts, m, rng.Uint64(), m, 40+m, m, m, 40+m)
			fatals++
			lines += 6
		} else if rng.IntN(2) == 0 {
			s = fmt.Sprintf("%sPHP Notice:  Undefined index: field_%d in /var/www/app/src/View/Form.php on line %d\n", ts, rng.IntN(500), 10+rng.IntN(400))
			lines++
		} else {
			s = fmt.Sprintf("%sPHP Warning:  Undefined array key \"user_%d\" in /var/www/app/src/Controller/CartController.php on line %d (request %016x)\n", ts, rng.IntN(9999), 10+rng.IntN(200), rng.Uint64())
			lines++
		}
		n, err := w.WriteString(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	f.Close()
	fmt.Printf("%d %d %d\n", written, lines, fatals)
}
