package outage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
)

// read asks the app of one server how many requests it is serving.
func readInflight(d config.Drain, s config.Server) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.ReadTimeout())
	defer cancel()
	var body []byte
	var err error
	what := ""
	if d.InflightURL != "" {
		what = config.ExpandURL(d.InflightURL, s)
		body, err = getInflight(ctx, what)
	} else {
		what = config.ExpandCommand(d.InflightCommand, s)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", what)
		cmd.Env = append(os.Environ(), config.Env(s)...)
		cmd.WaitDelay = time.Second
		body, err = cmd.Output()
	}
	if err != nil {
		return 0, fmt.Errorf("in-flight figure of %s (%s): %v", s.Addr, what, err)
	}
	n, err := parseInflight(body)
	if err != nil {
		return 0, fmt.Errorf("in-flight figure of %s (%s): %v", s.Addr, what, err)
	}
	return n, nil
}

func getInflight(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d, want 200", resp.StatusCode)
	}
	return body, nil
}

// parseInflight reads the app's figure in one of two formats:
//   - the whole answer is one non-negative integer (spaces and a final
//     newline allowed): the requests in flight, not counting this one;
//   - php-fpm's plain status page (pm.status_path, without ?json): the line
//     "active processes: N". The worker answering the status request counts
//     itself, so N-1 are busy with other requests.
func parseInflight(body []byte) (int, error) {
	text := strings.TrimSpace(string(body))
	if n, err := strconv.Atoi(text); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%d is negative", n)
		}
		return n, nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "active processes" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("php-fpm status: active processes %q is not a count of 1 or more (the status request counts itself)", strings.TrimSpace(v))
		}
		return n - 1, nil
	}
	return 0, fmt.Errorf("want one number, or php-fpm's status page with \"active processes: N\"; got %.60q", text)
}
