package main

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

func sampleState() fileState {
	return fileState{
		State: tail.State{
			Path:    "/var/log/nginx/access.log",
			Current: tail.Position{Dev: 2049, Inode: 1234567, Born: 1796127874123456789, Offset: 5 << 30, Fingerprint: "ab12", FPLen: 4096, TailFingerprint: "cd34", TailLen: 512, InLongLine: true},
			Rotated: []tail.Rotated{{Path: "/var/log/nginx/access.log.1", Position: tail.Position{Dev: 2049, Inode: 7, Offset: 9}, LastSeen: time.Unix(1796127800, 5).UTC()},
				{Path: "/var/log/nginx/access.log", Position: tail.Position{Inode: 8}, LastSeen: time.Unix(1796127801, 0).UTC(), Reported: true}},
			LastRun:  time.Unix(1796127874, 999999999).In(time.FixedZone("JST", 9*3600)),
			Siblings: []tail.Sibling{{Inode: 7, Born: -1}, {Inode: 8}},
		},
		Clock: runClock{Boot: "0f8e2c4a-1b2c-4d5e-8f90-a1b2c3d4e5f6", Uptime: 123456789012},
		Inode: 1234567, Pos: 5 << 30,
	}
}

// The hand-written reader reads what json.Marshal writes, without falling
// back to encoding/json.
func TestStateJSONPlainForm(t *testing.T) {
	for _, st := range []fileState{sampleState(), {}, {State: tail.State{Path: "/l", Siblings: []tail.Sibling{}}}} {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var fast fileState
		d := jdec{b: b}
		if !d.fileState(&fast) || !d.end() {
			t.Fatalf("plain form not read by hand: %s", b)
		}
		var slow fileStateJSON
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, fileState(slow)) {
			t.Fatalf("%s:\nby hand       %+v\nencoding/json %+v", b, fast, slow)
		}
	}
}

// FuzzStateJSON: whatever a state file holds, reading it gives what
// encoding/json gives (the same value, or an error from both).
func FuzzStateJSON(f *testing.F) {
	b, _ := json.Marshal(sampleState())
	f.Add(b)
	f.Add([]byte(`{"path":"/l","current":{"dev":1,"inode":2,"offset":3,"fp_len":0},"last_run":"2026-12-01T00:00:00Z","siblings":null,"clock":{}}`))
	f.Add([]byte(`{"path":"/l","path":"/m","rotated":[{"path":"a"}],"rotated":[{"position":{"offset":1}}]}`))
	f.Add([]byte(`{"PATH":"/l","current":null,"siblings":[],"rotated":[]}`))
	f.Add([]byte(`{"current":{"offset":-0,"dev":18446744073709551615,"born":1e3}}`))
	f.Add([]byte(` { "path" : "/l\u00e9" , "clock" : { "uptime_ns" : 01 } } `))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got fileState
		errGot := json.Unmarshal(b, &got)
		var want fileStateJSON
		errWant := json.Unmarshal(b, &want)
		if (errGot == nil) != (errWant == nil) {
			t.Fatalf("%q: by hand %v, encoding/json %v", b, errGot, errWant)
		}
		if errGot == nil && !reflect.DeepEqual(got, fileState(want)) {
			t.Fatalf("%q:\nby hand       %+v\nencoding/json %+v", b, got, want)
		}
	})
}
