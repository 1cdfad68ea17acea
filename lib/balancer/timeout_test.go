package balancer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

func TestNginxBasicAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ops" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("server 10.0.0.1:80 weight=1 max_fails=1 fail_timeout=10;\n"))
	}))
	defer srv.Close()
	for pw, ok := range map[string]bool{"pw": true, "wrong": false} {
		b, err := balancer.New(balancer.Config{Name: "a", Driver: balancer.DriverNginx, URL: srv.URL + "/dynamic",
			Upstreams: []string{"z"}, User: "ops", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.List(ctxT(t))
		if ok && err != nil || !ok && (err == nil || !strings.Contains(err.Error(), "not authorised (HTTP 401")) {
			t.Errorf("password %s: %v", pw, err)
		}
	}
}

// A 403 is the location's allow/deny list, not the password: the error
// says so rather than sending the operator after the password.
func TestNginxForbiddenIsNotThePassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	b, err := balancer.New(balancer.Config{Name: "a", Driver: balancer.DriverNginx, URL: srv.URL + "/dynamic",
		Upstreams: []string{"z"}, User: "ops", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.List(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "forbidden (HTTP 403") || !strings.Contains(err.Error(), "allow/deny list") ||
		strings.Contains(err.Error(), "password") {
		t.Errorf("403: %v", err)
	}
}

func TestHAProxySocketThatNeverAnswersTimesOut(t *testing.T) {
	b, err := balancer.New(balancer.Config{Name: "h", Driver: balancer.DriverHAProxy, Socket: silentListener(t),
		Upstreams: []string{"app"}, Timeout: balancer.Duration(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.List(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "balancer h: runtime API") || time.Since(start) > 2*time.Second {
		t.Errorf("%v after %v", err, time.Since(start))
	}
}
