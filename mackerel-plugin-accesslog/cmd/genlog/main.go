// genlog appends a realistic access log to a file (or stdout) for the
// benchmark, the demo and manual tests, and prints the counts it wrote by
// status to stderr so that the plugin's totals can be checked.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

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
	count, err := loggen.Write(w, *lines, *format, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genlog: %d lines; by status: %v\n", *lines, count)
}
