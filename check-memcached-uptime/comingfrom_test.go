package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// testComingFrom runs every line of the README's "Coming from" table against
// srv: the README's port 11211 becomes the test server's.
func testComingFrom(t *testing.T, srv *memcachedServer) {
	local := strings.NewReplacer("11211", strconv.Itoa(srv.Port))
	for _, row := range testenv.ReadmeComingFrom(t, "README.md") {
		t.Run(strings.Join(row.Before, " "), func(t *testing.T) {
			if row.Now[0] != "check-memcached-uptime" {
				t.Fatalf("the new line runs %s", row.Now[0])
			}
			if row.Unchanged() && !slices.Equal(row.Before, row.Now) {
				t.Errorf("said unchanged, but %q is not %q", row.Now, row.Before)
			}
			var args []string
			for _, a := range row.Now[1:] {
				args = append(args, local.Replace(a))
			}
			r := runCheck(t, args...)
			if !strings.HasPrefix(r.out, row.Result) {
				t.Errorf("%q printed %q, the README says %q", args, r.out, row.Result)
			}
			status := strings.TrimSuffix(strings.Fields(row.Result)[1], ":")
			if want := slices.Index([]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}, status); r.code != want {
				t.Errorf("exit %d, want %d (%s)", r.code, want, status)
			}
		})
	}
}
