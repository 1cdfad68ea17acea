package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func guessCandidates(t testing.TB) []namedParser {
	_, guess, err := (&options{Format: "auto", StatusKey: "status", TimeUnit: "s"}).formatParsers()
	if err != nil {
		t.Fatal(err)
	}
	return guess
}

func TestGuessFormat(t *testing.T) {
	cands := guessCandidates(t)
	for _, c := range []struct{ content, want string }{
		{ltsvLine(200, "0.1"), "ltsv"},
		{`{"status":200,"request_time":0.1}` + "\n", "json"},
		{combinedLine(404), "combined"},
		{"\n\ngarbage\n" + combinedLine(200), "combined"}, // the first line that parses decides
	} {
		p := filepath.Join(t.TempDir(), "log")
		os.WriteFile(p, []byte(c.content), 0o644)
		f, _ := os.Open(p)
		got, ok := guessFormat(f, cands)
		f.Close()
		if !ok || got.name != c.want {
			t.Errorf("%q: guessed %s (%v), want %s", c.content, got.name, ok, c.want)
		}
	}
}

// FuzzGuessFormat: whatever a file begins with, the guess never fails
// badly, and a format guessed does parse one of the file's first lines.
func FuzzGuessFormat(f *testing.F) {
	f.Add([]byte(ltsvLine(200, "0.1")))
	f.Add([]byte(combinedLine(500)))
	f.Add([]byte("{\"status\":\"200\"}\n\x00\xff\n"))
	cands := guessCandidates(f)
	f.Fuzz(func(t *testing.T, content []byte) {
		p := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		got, ok := guessFormat(file, cands)
		if !ok {
			return
		}
		sample := content[:min(len(content), guessSample)]
		for _, line := range bytes.Split(sample[:bytes.LastIndexByte(sample, '\n')+1], []byte("\n")) {
			var r Record
			if got.Parse(bytes.Clone(line), &r) == nil && r.Status >= 100 {
				return
			}
		}
		t.Fatalf("guessed %s, which parses none of the first lines", got.name)
	})
}
