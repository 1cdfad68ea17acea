package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Command lines written for mackerelio's mackerel-plugin-accesslog (Go's flag
// package: single dashes, -format, -posfile, -no-posfile, format guessing)
// run unchanged and count the same lines.

func combinedLine(status int) string {
	return fmt.Sprintf("192.0.2.1 - - [25/Nov/2026:12:00:00 +0900] \"GET /x HTTP/1.1\" %d 612 \"-\" \"curl/8.0\"\n", status)
}

func TestMackerelioCommandLines(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, combinedLine(200))
	for _, args := range [][]string{
		{log},                   // the format guessed, as mackerelio's default
		{"-format=apache", log}, // Go-style single dash, its "apache"
		{"-format", "apache", "-metric-key-prefix", "web", log},
		{"-metric-key-prefix=web2", "--format=combined", log},
	} {
		state := t.TempDir()
		if r := runPlugin(t, state, nil, args...); r.code != 0 {
			t.Fatalf("%q: first run: exit %d %s", args, r.code, r.stderr)
		}
		writeFile(t, log, combinedLine(200)+combinedLine(502)+combinedLine(404))
		r := runPlugin(t, state, nil, args...)
		prefix := "accesslog"
		for i, a := range args {
			if v, ok := strings.CutPrefix(a, "-metric-key-prefix="); ok {
				prefix = v
			} else if a == "-metric-key-prefix" {
				prefix = args[i+1]
			}
		}
		m := r.metrics
		if r.code != 0 || m[prefix+".access_num.total_count"] != 3 || m[prefix+".access_num.5xx_count"] != 1 || m[prefix+".lines.malformed_count"] != 0 {
			t.Fatalf("%q: exit %d %v\n%s", args, r.code, m, r.stderr)
		}
	}
}

// The format is guessed per file: an LTSV log and a combined log together.
func TestFormatGuessedPerFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, ltsvLine(200, "0.1"))
	writeFile(t, b, combinedLine(200))
	runPlugin(t, dir, nil, a, b)
	writeFile(t, a, ltsvLine(500, "0.1"))
	writeFile(t, b, combinedLine(404)+combinedLine(200))
	r := runPlugin(t, dir, nil, "-v", a, b)
	m := r.metrics
	if r.code != 0 || m["accesslog.access_num.total_count"] != 3 || m["accesslog.lines.malformed_count"] != 0 {
		t.Fatalf("exit %d %v\n%s", r.code, m, r.stderr)
	}
	if !strings.Contains(r.stderr, "ltsv format, guessed") || !strings.Contains(r.stderr, "combined format, guessed") {
		t.Fatalf("stderr: %s", r.stderr)
	}
}

// -posfile names the state file (relative: where mackerelio keeps it);
// -no-posfile keeps none and reads the whole file at every run.
func TestPosfileAndNoPosfile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, combinedLine(200))
	runPlugin(t, dir, nil, "-posfile", "site.pos", log)
	pos := filepath.Join(dir, "mackerel-plugin-accesslog.d", "site.pos")
	b, err := os.ReadFile(pos)
	if err != nil || !json.Valid(b) {
		t.Fatalf("state at %s: %v %q", pos, err, b)
	}
	writeFile(t, log, combinedLine(503))
	r := runPlugin(t, dir, nil, "-posfile", "site.pos", log)
	if r.code != 0 || r.metrics["accesslog.access_num.503_count"] != 1 || r.metrics["accesslog.access_num.total_count"] != 1 {
		t.Fatalf("exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	abs := filepath.Join(t.TempDir(), "abs.pos")
	if r := runPlugin(t, dir, nil, "--posfile="+abs, log); r.code != 0 {
		t.Fatalf("absolute posfile: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatal(err)
	}

	empty := t.TempDir()
	for i := range 2 {
		r := runPlugin(t, empty, nil, "-no-posfile", log)
		if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 {
			t.Fatalf("-no-posfile run %d: exit %d %v %s", i, r.code, r.metrics, r.stderr)
		}
		if _, ok := r.metrics["accesslog.rps.total"]; ok {
			t.Fatal("a rate without an interval")
		}
		if r.stderr != "" {
			t.Fatalf("-no-posfile: stderr %q", r.stderr)
		}
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("-no-posfile left files: %v", ents)
	}
}

// What cannot run as it did fails at once, exit 2, one line naming the fix.
func TestMigrationMistakesExplainThemselves(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-posfile", "x.pos", log, log + "2"}, "--state-dir"},
		{[]string{"-format=xml", log}, "xml"},
		{[]string{"-posfile", "x.pos", "-no-posfile", log}, "excludes"},
		{[]string{"-formt=apache", log}, "unknown flag -formt"},
	} {
		r := runPlugin(t, dir, nil, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: exit %d stderr %q", c.args, r.code, r.stderr)
		}
	}
}

// Graph titles name the prefix, so several entries are told apart.
func TestGraphTitlesNameThePrefix(t *testing.T) {
	r := runPlugin(t, t.TempDir(), []string{"MACKEREL_AGENT_PLUGIN_META=1"}, "--metric-key-prefix", "shop", "unused.log")
	if r.code != 0 || !strings.Contains(r.stdout, `"label":"shop: Request time"`) {
		t.Fatalf("exit %d %s", r.code, r.stdout)
	}
}

// The first run after the switch resumes where mackerelio's plugin stopped,
// from its position file ({"inode":…,"pos":…}), at its default place or at
// -posfile; a position of another inode is not taken.
func TestResumesFromMackerelioPosition(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, combinedLine(200)+combinedLine(200)+combinedLine(200))
	fi, _ := os.Stat(log)
	ino := fi.Sys().(*syscall.Stat_t).Ino
	pos := func(path string, inode uint64, off int64) {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(fmt.Sprintf(`{"inode":%d,"pos":%d}`, inode, off)), 0o644)
	}
	writeFile(t, log, combinedLine(503)+combinedLine(404))

	work := t.TempDir()
	pos(filepath.Join(work, "mackerel-plugin-accesslog.d", log+".pos.json"), ino, fi.Size())
	r := runPlugin(t, work, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 || !strings.Contains(r.stderr, "mackerelio's position file") {
		t.Fatalf("default place: exit %d %v %s", r.code, r.metrics, r.stderr)
	}

	work = t.TempDir()
	pos(filepath.Join(work, "mackerel-plugin-accesslog.d", "site.pos"), ino, fi.Size())
	r = runPlugin(t, work, nil, "-posfile", "site.pos", log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 {
		t.Fatalf("-posfile: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	writeFile(t, log, combinedLine(200))
	r = runPlugin(t, work, nil, "-posfile", "site.pos", log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 1 {
		t.Fatalf("-posfile, next run: exit %d %v %s", r.code, r.metrics, r.stderr)
	}

	work = t.TempDir()
	pos(filepath.Join(work, "mackerel-plugin-accesslog.d", log+".pos.json"), ino+1, 0)
	r = runPlugin(t, work, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 0 {
		t.Fatalf("another inode: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
}
