package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestComingFrom runs every line of the README's "Coming from" table against
// Debian's nginx serving a certificate with 20 days left: the README's
// www.example.com is localhost, 10.0.0.5 is 127.0.0.1, port 443 nginx's.
func TestComingFrom(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	crt, key := writeChain(t, dir, "www", pki.leaf(t, "localhost", left(20)), pki.inter)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pemCert(pki.root.cert), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	startNginx(t, []nginxSite{{port: port, crt: crt, key: key}})
	local := strings.NewReplacer("www.example.com", "localhost", "10.0.0.5", "127.0.0.1",
		"443", strconv.Itoa(port), "/etc/ssl/private-ca.pem", caFile)
	for _, row := range testenv.ReadmeComingFrom(t, "README.md") {
		t.Run(strings.Join(row.Now, " "), func(t *testing.T) {
			if row.Now[0] != "check-crt-expiration" {
				t.Fatalf("the new line runs %s", row.Now[0])
			}
			if row.Unchanged() && !slices.Equal(row.Before[1:], row.Now[1:]) {
				t.Errorf("said unchanged, but %q is not %q", row.Now, row.Before)
			}
			var args []string
			for _, a := range row.Now[1:] {
				args = append(args, local.Replace(a))
			}
			r := runCheck(t, args...)
			want := local.Replace(row.Result)
			if !strings.HasPrefix(r.out, want) {
				t.Errorf("%q printed %q, the README says %q", args, r.out, want)
			}
			status := strings.TrimSuffix(strings.Fields(want)[1], ":")
			if code := slices.Index([]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}, status); r.code != code {
				t.Errorf("exit %d, want %d (%s)", r.code, code, status)
			}
		})
	}
}
