package redisstore

import (
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// FuzzDecodeData: whatever a window's data hash holds, decoding it returns
// an error or counts whose histograms agree with their declared n and
// max, and computing values from them does not panic.
func FuzzDecodeData(f *testing.F) {
	f.Add("total", "3", "req/v/1000", "3")
	f.Add("g/api/total", "1", "g/api/req/n", "1")
	f.Add("class/2", "5", "code/503", "1")
	f.Add("bytes", "1.8446744073709552e+19", "g/api/bytes", "18446744073709551614")
	f.Add("req/n", "2", "req/v/-1", "2")
	f.Add("g//x", "1", "up/max", "9")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		all, groups, err := decodeData(map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		fr := &fleet.Frozen{Window: fleet.Window{Start: 0, Len: 60}, All: all, Groups: groups, Hosts: map[string]int64{"h": 1}}
		fr.Values(2)
	})
}
