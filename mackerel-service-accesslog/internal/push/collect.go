package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// CollectMain runs fleet.CollectCommand: a fleet.CollectRequest on stdin, a
// fleet.CollectReport on stdout. It exits 0 with a report, 1 when Redis
// failed (one line on stderr, without the URL's password), 2 when the
// request cannot be read.
func CollectMain(stdin io.Reader, stdout, stderr io.Writer) int {
	var req fleet.CollectRequest
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		fmt.Fprintf(stderr, "collect: read the request on stdin: %v\n", err)
		return 2
	}
	if req.URL == "" || req.Timeout <= 0 || req.MaxWindows < 1 || fleet.CheckService(req.Service) != nil {
		fmt.Fprintln(stderr, "collect: the request on stdin lacks url, service, timeout or max_windows")
		return 2
	}
	r, err := Collect(&req)
	if err != nil {
		fmt.Fprintf(stderr, "collect: %v\n", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

// Collect marks req.Posted posted, then freezes and returns the closed
// windows of the service's error groups.
func Collect(req *fleet.CollectRequest) (*fleet.CollectReport, error) {
	st, err := redisstore.Open(redisstore.Config{
		URL: req.URL, PasswordFile: req.PasswordFile, CAFile: req.CAFile, Cluster: req.Cluster,
		Timeout: min(2*time.Second, req.Timeout), Kind: fleet.KindErrors,
	}, req.Service)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout)
	defer cancel()
	b, err := st.Begin(ctx, req.Grace)
	if err != nil {
		return nil, err
	}
	r := &fleet.CollectReport{Gen: b.Gen.Unix(), Now: b.Now.Unix(), Windows: []fleet.CollectedWindow{}}
	for _, w := range req.Posted {
		if err := st.MarkPosted(ctx, w, b.Now); err != nil {
			return nil, err
		}
		r.Marked++
	}
	windows, err := st.Closed(ctx, b.Now.Add(-req.Grace), req.MaxWindows)
	if err != nil {
		return nil, err
	}
	for _, w := range windows {
		f, err := st.Freeze(ctx, w)
		switch {
		case errors.Is(err, redisstore.ErrPosted) || errors.Is(err, redisstore.ErrGone):
			if err := st.Forget(ctx, w); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		cw := fleet.CollectedWindow{Window: w, Incomplete: w.Start <= b.Gen.Unix(), Hosts: f.Hosts}
		for _, e := range f.Errors {
			cw.Errors = append(cw.Errors, *e)
		}
		sort.Slice(cw.Errors, func(i, j int) bool {
			if cw.Errors[i].Count != cw.Errors[j].Count {
				return cw.Errors[i].Count > cw.Errors[j].Count
			}
			return cw.Errors[i].Message < cw.Errors[j].Message
		})
		r.Windows = append(r.Windows, cw)
	}
	return r, nil
}
