package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
)

func TestProgressRedactsAndSummaryTotals(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := NewProgress(&out)
	p.Redact([]string{"s3cret-token"})
	p.Printf("posting to https://hooks.example/s3cret-token")
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("secret printed: %q", out.String())
	}
	out.Reset()
	r := &ServerResult{Server: config.Server{Addr: "10.0.0.1:80", Host: "10.0.0.1"}, Times: map[string]time.Duration{"down": time.Second, "deploy": 2 * time.Second}}
	r.Set(Done, "ok")
	WriteSummary(&out, []*ServerResult{r})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "3.00s") || !strings.HasSuffix(lines[1], "ok") || !strings.Contains(lines[1], "-") {
		t.Errorf("summary:\n%s", out.String())
	}
}
