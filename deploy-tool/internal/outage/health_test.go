package outage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
)

// Issue 19 fix 7: a health URL that redirects is not followed: a 3xx is a
// failure (naming where it points) unless health.status names it.
func TestHealthCheckDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	app := httptest.NewServer(mux)
	defer app.Close()
	addr := strings.TrimPrefix(app.URL, "http://")
	s := config.Server{Addr: addr, Host: "127.0.0.1"}
	h := config.HealthConfig{URL: "http://{addr}/healthz", Status: 200, Retries: 2, Interval: config.Duration(10 * time.Millisecond), Timeout: config.Duration(time.Second)}
	err := HealthCheck(t.Context(), h, s)
	if err == nil || !strings.Contains(err.Error(), `status 302 (redirect to "/ok", not followed), want 200`) {
		t.Errorf("a redirect: %v, want a failure naming it", err)
	}
	failed := CheckHealthAll(t.Context(), h, []config.Server{s, {Addr: "127.0.0.1:1", Host: "127.0.0.1"}})
	if len(failed) != 2 || failed["127.0.0.1:1"] == nil {
		t.Errorf("CheckHealthAll: %v, want both", failed)
	}
	h.Status = http.StatusFound
	if err := HealthCheck(t.Context(), h, s); err != nil {
		t.Errorf("health.status = 302: %v", err)
	}
	h.URL, h.Status = "http://{addr}/ok", 200
	if failed := CheckHealthAll(t.Context(), h, []config.Server{s}); len(failed) != 0 {
		t.Errorf("a healthy server: %v", failed)
	}
}
