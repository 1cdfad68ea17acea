package balancer

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Process-wide variables (proc.NAME) are a place on the balancer where a
// tool can leave a short note that changes no traffic (nothing in the
// HAProxy config reads a variable it does not name) and that every client
// of the runtime API reads back. HAProxy 2.6 reads them with `get var` and
// sets them with `set var`, which it allows only in experimental mode (one
// `experimental-mode on;` before it on the same connection). They are lost
// on reload, like the runtime server states.

var procVarName = regexp.MustCompile(`^proc\.[A-Za-z0-9_]+$`)
var procVarValue = regexp.MustCompile(`^[A-Za-z0-9_.:-]*$`)

// ProcVar reads the string variable name (proc.X); ok is false when it is
// not set.
func (h *HAProxy) ProcVar(ctx context.Context, name string) (value string, ok bool, err error) {
	if !procVarName.MatchString(name) {
		return "", false, fmt.Errorf("balancer %s: variable name %q is not proc.[A-Za-z0-9_]+", h.cfg.Name, name)
	}
	ans, err := h.command(ctx, "get var "+name)
	if err != nil {
		return "", false, err
	}
	ans = strings.TrimSpace(ans)
	if ans == "Variable not found." {
		return "", false, nil
	}
	// proc.X: type=str value=<V>
	_, rest, found := strings.Cut(ans, " value=<")
	if !found || !strings.HasSuffix(rest, ">") {
		return "", false, fmt.Errorf("balancer %s: get var %s: unexpected answer %.80q", h.cfg.Name, name, ans)
	}
	return strings.TrimSuffix(rest, ">"), true, nil
}

// SetProcVar sets the string variable name (proc.X) to value (letters,
// digits, _ . : -; "" clears it). It does not read it back: another client
// may set it in between, and ProcVar tells what it holds now.
func (h *HAProxy) SetProcVar(ctx context.Context, name, value string) error {
	if !procVarName.MatchString(name) {
		return fmt.Errorf("balancer %s: variable name %q is not proc.[A-Za-z0-9_]+", h.cfg.Name, name)
	}
	if !procVarValue.MatchString(value) {
		return fmt.Errorf("balancer %s: variable value %q has characters other than letters, digits and _ . : -", h.cfg.Name, value)
	}
	cmd := fmt.Sprintf("experimental-mode on; set var %s str(%s)", name, value)
	ans, err := h.command(ctx, cmd)
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(ans); msg != "" {
		return fmt.Errorf("balancer %s: %q: %s", h.cfg.Name, "set var "+name, msg)
	}
	return nil
}
