package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// mackerelioPosition reads a position file as mackerelio's plugin does
// (Songmu/postailer: encoding/json into {"inode": uint, "pos": int64}, other
// keys ignored; a missing inode reads as 0, which makes it read the log from
// its start).
func mackerelioPosition(t *testing.T, path string) (inode uint, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Inode uint  `json:"inode"`
		Pos   int64 `json:"pos"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("mackerelio's plugin cannot read %s: %v\n%s", path, err, b)
	}
	return p.Inode, p.Pos
}

// -posfile, both ways: after this plugin ran, mackerelio's plugin finds its
// position in the file (inode and offset of the next unread line); after
// mackerelio's plugin rewrote the file in its own format, this plugin
// resumes from it again.
func TestPosfileReadableByMackerelio(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	work := t.TempDir()
	posfile := filepath.Join(work, "mackerel-plugin-accesslog.d", "site.pos")
	writeFile(t, log, combinedLine(200))
	runPlugin(t, work, nil, "-posfile", "site.pos", log)
	writeFile(t, log, combinedLine(200)+combinedLine(500))
	if r := runPlugin(t, work, nil, "-posfile", "site.pos", log); r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 {
		t.Fatalf("exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	fi, _ := os.Stat(log)
	ino := fi.Sys().(*syscall.Stat_t).Ino
	if gotIno, gotPos := mackerelioPosition(t, posfile); uint64(gotIno) != ino || gotPos != fi.Size() {
		t.Fatalf("mackerelio's plugin reads inode %d pos %d; want %d %d", gotIno, gotPos, ino, fi.Size())
	}

	// Back to mackerelio's plugin: it reads one more line and writes its
	// own format over the file.
	writeFile(t, log, combinedLine(404))
	fi, _ = os.Stat(log)
	os.WriteFile(posfile, []byte(fmt.Sprintf(`{"inode":%d,"pos":%d}`, ino, fi.Size())), 0o600)
	// And to this plugin again: it resumes there, counting only what came
	// after.
	writeFile(t, log, combinedLine(503))
	r := runPlugin(t, work, nil, "-posfile", "site.pos", log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 1 || r.metrics["accesslog.access_num.503_count"] != 1 {
		t.Fatalf("after mackerelio's plugin: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	fi, _ = os.Stat(log)
	if _, gotPos := mackerelioPosition(t, posfile); gotPos != fi.Size() {
		t.Fatalf("pos %d, want %d", gotPos, fi.Size())
	}
}
