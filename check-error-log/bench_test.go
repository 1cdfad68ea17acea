package main

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"
)

// BenchmarkAssemble is the in-memory cost per line, without reading a file:
// notices and warnings with 1% fatal errors (and their traces), through the
// entry assembly, --pattern and the grouping. bench.sh measures the binary
// on a 1 GiB file.
func BenchmarkAssemble(b *testing.B) {
	var buf bytes.Buffer
	lines := 0
	for i := range 10000 {
		if i%100 == 0 {
			fmt.Fprintf(&buf, "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  Uncaught RuntimeException: job %d failed for request %016x in /var/www/app/src/Jobs/Job.php:42\nStack trace:\n#0 {main}\n  thrown in /var/www/app/src/Jobs/Job.php on line 42\n", i%40, i*7919)
			lines += 4
			continue
		}
		fmt.Fprintf(&buf, "[01-Dec-2026 11:00:00 UTC] PHP Notice:  Undefined index: field_%d in /var/www/app/src/View/Form.php on line %d\n", i%500, i%400)
		lines++
	}
	data := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	n, _ := newNormalizer(false, nil)
	re := regexp.MustCompile(`PHP (Fatal|Parse) error`)
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for range b.N {
		g := newGrouper(n, 1000)
		asm := &assembler{match: re.Match, emit: g.add, maxTraceLines: 50, maxLineBytes: 4096}
		for _, l := range data {
			asm.feed(l)
		}
		asm.flush()
		if g.total != 100 {
			b.Fatalf("%d errors", g.total)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkKey is the cost of normalising one matched line.
func BenchmarkKey(b *testing.B) {
	n, _ := newNormalizer(false, nil)
	line := "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  Uncaught RuntimeException: job 12 failed for request 00000000deadbeef in /var/www/app/src/Jobs/Job.php:42"
	for range b.N {
		n.key(line)
	}
}
