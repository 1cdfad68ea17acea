package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

// BenchmarkRun reads a generated LTSV log from its start, as the first run
// with --from-start does: the whole pipeline, parsing on every core.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := loggen.Write(f, 200000, "ltsv", 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(logPath)
	p, err := NewParser("ltsv", "", Fields{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opts := options{Files: []string{logPath}, Format: "ltsv", Prefix: "accesslog", MaxReadBytes: 1 << 40, MaxLineBytes: 256 << 10, FromStart: true, StateDir: filepath.Join(dir, "state", time.Now().Format("150405.000000000"))}
		rn := &runner{opts: &opts, parser: namedParser{"ltsv", p}, stderr: io.Discard, now: time.Now()}
		res, err := rn.Run()
		if err != nil {
			b.Fatal(err)
		}
		if res.stats.all.total != 200000 {
			b.Fatalf("read %d lines", res.stats.all.total)
		}
	}
}
