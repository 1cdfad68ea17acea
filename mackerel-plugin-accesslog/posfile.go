package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// mackerelioPosfile is where mackerelio's plugin keeps the position of log
// when -posfile is not given: under the work dir, in
// mackerel-plugin-accesslog.d, the log's path with ".pos.json".
func mackerelioPosfile(log string) string {
	return filepath.Join(state.Dir(), binaryName+".d", log+".pos.json")
}

// importPosfile reads a position file written by mackerelio's plugin
// ({"inode": N, "pos": N}) and returns it as a state, so that the first run
// after the switch resumes where that plugin stopped instead of at the end.
// It is taken only while the log still has that inode; otherwise nil.
func importPosfile(path, log string, now time.Time) *fileState {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pos struct {
		Inode *uint64 `json:"inode"`
		Pos   *int64  `json:"pos"`
	}
	if json.Unmarshal(b, &pos) != nil || pos.Inode == nil || pos.Pos == nil || *pos.Inode == 0 || *pos.Pos < 0 {
		return nil
	}
	fi, err := os.Stat(log)
	if err != nil {
		return nil
	}
	dev, ino := tail.FileID(fi)
	if ino != *pos.Inode {
		return nil
	}
	last := now
	if pfi, err := os.Stat(path); err == nil && pfi.ModTime().Before(now) {
		last = pfi.ModTime() // that plugin's last run
	}
	return &fileState{State: tail.State{
		Path:    log,
		Current: tail.Position{Dev: dev, Inode: ino, Offset: *pos.Pos},
		LastRun: last,
	}}
}
