package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"
)

// PushGrace is the time the push command may take beyond the request's
// Timeout (its start, the spool's lock) before it is killed.
const PushGrace = 2 * time.Second

// RunPush runs the push command bin on req (as JSON on its stdin, so that no
// URL shows in ps) and returns its report and the warnings it wrote on
// stderr, one per line. An error means no report: what was spooled stays
// there for a later run. Neither the warnings nor the error hold the URL:
// the command builds its messages from the redacted form.
func RunPush(bin string, req *PushRequest) (PushReport, []string, error) {
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout+PushGrace)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, PushCommand)
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	var warnings []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			warnings = append(warnings, l)
		}
	}
	var r PushReport
	switch {
	case ctx.Err() != nil:
		return r, warnings, fmt.Errorf("%s %s: no answer within %s and %s more", bin, PushCommand, req.Timeout, PushGrace)
	case runErr != nil:
		return r, warnings, fmt.Errorf("%s %s: %v", bin, PushCommand, runErr)
	case json.Unmarshal(stdout.Bytes(), &r) != nil:
		return r, warnings, fmt.Errorf("%s %s: no report on its stdout (%q)", bin, PushCommand, printableCut(stdout.String(), 120))
	}
	return r, warnings, nil
}

func printableCut(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
	return CutText(s, n)
}

// CheckRedisFlags checks what the push command will be given: the URL as
// go-redis reads it (CheckRedisURL, whose messages hold no password), a CA
// file only with rediss://, holding a PEM certificate.
func CheckRedisFlags(raw, caFile string) error {
	if err := CheckRedisURL(raw); err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(raw, "://")
	if caFile == "" {
		return nil
	}
	if scheme != "rediss" {
		return fmt.Errorf("redis CA file %s: the URL %s is not rediss:// (TLS)", caFile, RedactURL(raw))
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("redis CA file: %v", err)
	}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return fmt.Errorf("redis CA file %s: no PEM certificate in it", caFile)
		}
		if blk.Type == "CERTIFICATE" {
			return nil
		}
	}
}
