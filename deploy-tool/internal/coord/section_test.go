package coord

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const secret = "s3cr3t-pw"

func noEnv(string) string { return "" }

func parse(t *testing.T, doc string) Section {
	t.Helper()
	var c struct {
		Coordination Section `toml:"coordination"`
	}
	if _, err := toml.Decode(doc, &c); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return c.Coordination
}

func TestSectionOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "shop v2.toml")
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := parse(t, `[coordination]
etcd_endpoints = ["http://127.0.0.1:2379", "http://[::1]:2379/"]
username = "deploy"
password_file = "pw"`)
	o, err := s.Options(cfg, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if o.Prefix != "/deploy-tool/shop_v2" || o.LeaseTTL != 10*time.Second || o.Password != secret ||
		fmt.Sprint(o.Endpoints) != "[http://127.0.0.1:2379 http://[::1]:2379]" || o.TLS != nil {
		t.Fatalf("%+v", o)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if strings.Contains(fmt.Sprintf(f, o), secret) {
			t.Fatalf("%s of Options prints the password", f)
		}
	}
	s = parse(t, `[coordination]
etcd_endpoints = ["http://127.0.0.1:2379"]
prefix = "/a/b"
lease_ttl = "3s"
username = "deploy"`)
	o, err = s.Options("", func(k string) string { return map[string]string{PasswordEnv: secret}[k] })
	if err != nil || o.Password != secret || o.Prefix != "/a/b" || o.LeaseTTL != 3*time.Second {
		t.Fatalf("%+v %v", o, err)
	}
}

func TestSectionErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "shop.toml")
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "notpem"), []byte("hello"), 0o600)
	ep := `etcd_endpoints = ["http://127.0.0.1:2379"]` + "\n"
	eps := `etcd_endpoints = ["https://127.0.0.1:2379"]` + "\n"
	for _, tc := range []struct{ doc, cfg, want string }{
		{``, cfg, "coordination.etcd_endpoints: missing"},
		{`etcd_endpoints = ["127.0.0.1:2379"]`, cfg, `coordination.etcd_endpoints: "127.0.0.1:2379": want http://HOST:PORT`},
		{`etcd_endpoints = ["http://127.0.0.1"]`, cfg, "the port is missing"},
		{`etcd_endpoints = ["http://u:` + secret + `@127.0.0.1:1"]`, cfg, `coordination.etcd_endpoints: "…@127.0.0.1:1": user info in an endpoint is refused`},
		{`etcd_endpoints = ["http://127.0.0.1:1", "https://127.0.0.1:2"]`, cfg, "mixes http and https"},
		{ep, "", "coordination.prefix: missing"},
		{ep + `prefix = "deploy"`, cfg, "coordination.prefix: \"deploy\": want a key path"},
		{ep + `prefix = "/a/"`, cfg, "coordination.prefix"},
		{ep + `prefix = "/a b"`, cfg, "coordination.prefix"},
		{ep + `lease_ttl = "1s"`, cfg, "coordination.lease_ttl: 1s: want whole seconds from 2s to 10m"},
		{ep + `lease_ttl = "2500ms"`, cfg, "coordination.lease_ttl"},
		{ep + `ca_file = "x"`, cfg, "coordination.ca_file: is set, but etcd_endpoints are http://"},
		{eps + `ca_file = "missing"`, cfg, "coordination.ca_file: open " + filepath.Join(dir, "missing")},
		{eps + `ca_file = "notpem"`, cfg, "coordination.ca_file: notpem holds no PEM certificate"},
		{eps + `cert_file = "notpem"`, cfg, "cert_file and key_file go together"},
		{eps + "cert_file = \"notpem\"\nkey_file = \"notpem\"", cfg, "coordination.cert_file: notpem with key_file notpem"},
		{ep + `username = "u"`, cfg, "coordination.username: is set, but there is no password: set coordination.password_file or $DEPLOY_TOOL_ETCD_PASSWORD"},
		{ep + `password_file = "pw"`, cfg, "coordination.password_file: is set without username"},
		{ep + "username = \"u\"\npassword_file = \"empty\"", cfg, "coordination.password_file " + filepath.Join(dir, "empty") + ": the file is empty"},
	} {
		s := parse(t, "[coordination]\n"+tc.doc)
		_, err := s.Options(tc.cfg, noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("%s\n got  %v\n want %s", tc.doc, err, tc.want)
		}
	}
}

// etcd with authentication: the password reaches etcd, and a wrong one is
// refused at NewEtcd without being printed.
func TestAuth(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	ctx := ctxT(t, 20*time.Second)
	admin, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, f := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", secret); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	o := testOptions(t, c, testTTL)
	o.Username, o.Password = "root", secret
	e := newEtcd(t, o, "h", "r")
	lock(t, e)
	o.Password = "wrong-" + secret
	_, err = NewEtcd(ctx, o, "h", "r2")
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), secret) {
		t.Fatalf("wrong password: %v", err)
	}
}
