package balancer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Nginx drives ngx_dynamic_upstream, or the Lua drop-in in nginx/ that
// serves the same API, over HTTP(S). Drain is the same as Down: nginx has no
// draining state. Active is reported only by the drop-in (active=N).
//
// The C module lists only the primary servers of the first upstream block
// that uses the zone: backup servers and the servers of a second block
// sharing the zone are invisible to it and cannot be changed through it.
// A reload puts every server back as the file says (down flags, weights,
// max_fails, fail_timeout, failure counts); for about 100 ms after it the
// old workers still answer, with the state from before the reload, so one
// read right after a reload proves little.
type Nginx struct {
	cfg    Config
	base   *url.URL
	client *http.Client

	mu            sync.Mutex
	reportsActive *bool // nil until a verbose listing was read
}

// NewNginx builds the ngx_dynamic_upstream driver.
func NewNginx(cfg Config) (*Nginx, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("balancer %s: url %q: %v", cfg.Name, redactURLText(cfg.URL), urlParseReason(cfg.URL))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("balancer %s: url %q is not http(s)://host/path", cfg.Name, redactURLText(cfg.URL))
	}
	for _, up := range cfg.Upstreams {
		if !queryValueOK(up) {
			return nil, fmt.Errorf("balancer %s: upstream name %q has characters a query cannot carry unescaped", cfg.Name, up)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// An admin endpoint on the balancer itself is never reached through the
	// environment's web proxy.
	transport.Proxy = nil
	return &Nginx{
		cfg:  cfg,
		base: u,
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.CallTimeout(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// nginx reads $arg_* without unescaping, so names go into the query as they
// are; anything that would end or split a parameter is refused.
func queryValueOK(s string) bool {
	return s != "" && !strings.ContainsAny(s, "&=#?% \t\r\n+")
}

func (n *Nginx) Name() string        { return n.cfg.Name }
func (n *Nginx) Upstreams() []string { return slices.Clone(n.cfg.Upstreams) }

// ReportsActive tells whether the listing carries active=N (the drop-in
// does, the C module does not). Before the first List it reads one listing.
func (n *Nginx) ReportsActive() bool {
	n.mu.Lock()
	known := n.reportsActive
	n.mu.Unlock()
	if known != nil {
		return *known
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout())
	defer cancel()
	servers, _, err := n.call(ctx, n.cfg.Upstreams[0], "", "&verbose=")
	if err != nil {
		return false
	}
	return n.noteActive(servers)
}

func (n *Nginx) noteActive(servers []Server) bool {
	all := len(servers) > 0
	for _, s := range servers {
		if s.Active < 0 {
			all = false
		}
	}
	n.mu.Lock()
	n.reportsActive = &all
	n.mu.Unlock()
	return all
}

// List reads the verbose listing of every configured upstream.
func (n *Nginx) List(ctx context.Context) ([]Server, error) {
	var out []Server
	for _, up := range n.cfg.Upstreams {
		servers, err := n.list(ctx, up)
		if err != nil {
			return nil, err
		}
		out = append(out, servers...)
	}
	return out, nil
}

func (n *Nginx) list(ctx context.Context, upstream string) ([]Server, error) {
	servers, _, err := n.call(ctx, upstream, "", "&verbose=")
	if err != nil {
		return nil, err
	}
	n.noteActive(servers)
	return servers, nil
}

// Down marks the server down (down=) and confirms it from the answer.
func (n *Nginx) Down(ctx context.Context, upstream, addr string) error {
	return n.change(ctx, upstream, addr, "&down=", "down", func(s Server) bool { return s.State == Down })
}

// Drain is Down: nginx stops sending new requests and lets in-flight ones
// finish. With the drop-in, Server.Active tells when they have.
func (n *Nginx) Drain(ctx context.Context, upstream, addr string) error {
	return n.Down(ctx, upstream, addr)
}

// Up clears the down flag (up=) and confirms it from the answer.
func (n *Nginx) Up(ctx context.Context, upstream, addr string) error {
	return n.change(ctx, upstream, addr, "&up=", "up", func(s Server) bool { return s.State == Up })
}

// SetWeight sets the server's weight (weight=N) and confirms it.
func (n *Nginx) SetWeight(ctx context.Context, upstream, addr string, weight int) error {
	if weight < 1 {
		return fmt.Errorf("balancer %s upstream %s: server %s: weight %d is not a positive number", n.cfg.Name, upstream, addr, weight)
	}
	return n.change(ctx, upstream, addr, "&weight="+strconv.Itoa(weight), "weight="+strconv.Itoa(weight),
		func(s Server) bool { return s.Weight == weight })
}

// SetFailures sets the server's passive health check (max_fails=N
// fail_timeout=S) and confirms both from the answer. maxFails 0 turns the
// check off: failed requests never exclude the server, and a server
// excluded now is taken again at once. failTimeout is whole seconds, as
// nginx keeps it. A reload puts back the values of the config file (the C
// module; the drop-in keeps run-time values unless the file changed).
func (n *Nginx) SetFailures(ctx context.Context, upstream, addr string, maxFails int, failTimeout time.Duration) error {
	if maxFails < 0 {
		return fmt.Errorf("balancer %s upstream %s: server %s: max_fails %d is negative", n.cfg.Name, upstream, addr, maxFails)
	}
	if failTimeout < 0 || failTimeout%time.Second != 0 {
		return fmt.Errorf("balancer %s upstream %s: server %s: fail_timeout %v is not a whole number of seconds (nginx keeps seconds)", n.cfg.Name, upstream, addr, failTimeout)
	}
	secs := int(failTimeout / time.Second)
	param := fmt.Sprintf("&max_fails=%d&fail_timeout=%d", maxFails, secs)
	return n.change(ctx, upstream, addr, param, fmt.Sprintf("max_fails=%d fail_timeout=%d", maxFails, secs),
		func(s Server) bool { return s.MaxFails == maxFails && s.FailTimeout == failTimeout })
}

func (n *Nginx) change(ctx context.Context, upstream, addr, param, what string, applied func(Server) bool) error {
	if !slices.Contains(n.cfg.Upstreams, upstream) {
		return fmt.Errorf("balancer %s: upstream %s is not configured (configured: %s)", n.cfg.Name, upstream, strings.Join(n.cfg.Upstreams, ", "))
	}
	before, err := n.list(ctx, upstream)
	if err != nil {
		return err
	}
	if c, ok := CanonicalAddr(addr); ok && !listsAddr(before, c) {
		return fmt.Errorf("balancer %s upstream %s: server %s is not listed (servers are %s); ngx_dynamic_upstream lists neither backup servers nor the servers of a second upstream block sharing the zone, and cannot change them",
			n.cfg.Name, upstream, addr, strings.Join(addrs(before), ", "))
	}
	target, err := findServer(ctx, n.cfg.Name, upstream, before, addr)
	if err != nil {
		return err
	}
	after, verbose, err := n.call(ctx, upstream, target.Addr, param)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("balancer %s upstream %s server %s", n.cfg.Name, upstream, target.Addr)
	if !verbose {
		// Every change makes the module answer verbosely: a short listing
		// means the parameter was not taken as one.
		return fmt.Errorf("%s: %s was not applied: the answer is the plain listing, as for a request without a change", where, what)
	}
	n.noteActive(after)
	for _, s := range after {
		if s.Addr == target.Addr {
			if !applied(s) {
				return fmt.Errorf("%s: %s was not applied: the answer still lists %s", where, what, describe(s))
			}
			return nil
		}
	}
	return fmt.Errorf("%s: %s: the server is missing from the answer", where, what)
}

func describe(s Server) string {
	return fmt.Sprintf("state %s weight %d max_fails %d fail_timeout %v", s.State, s.Weight, s.MaxFails, s.FailTimeout)
}

func listsAddr(servers []Server, canonical string) bool {
	for _, s := range servers {
		if c, ok := CanonicalAddr(s.Addr); ok && c == canonical || s.Addr == canonical {
			return true
		}
	}
	return false
}

func addrs(servers []Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}

// call sends GET base?upstream=U[&server=S]PARAMS and parses the listing.
func (n *Nginx) call(ctx context.Context, upstream, server, params string) ([]Server, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout())
	defer cancel()
	u := *n.base
	q := "upstream=" + upstream
	if server != "" {
		if !queryValueOK(server) {
			return nil, false, fmt.Errorf("balancer %s upstream %s: server %q cannot be sent unescaped", n.cfg.Name, upstream, server)
		}
		q += "&server=" + server
	}
	q += params
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("balancer %s upstream %s: %v", n.cfg.Name, upstream, err)
	}
	if n.cfg.User != "" || n.cfg.Password != "" {
		req.SetBasicAuth(n.cfg.User, n.cfg.Password)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("balancer %s upstream %s: %v", n.cfg.Name, upstream, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, false, fmt.Errorf("balancer %s upstream %s: reading the answer of %s: %v", n.cfg.Name, upstream, n.base.Redacted(), err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, false, fmt.Errorf("balancer %s: upstream %s not found (HTTP 404 from %s; upstream= takes the zone name)", n.cfg.Name, upstream, n.base.Redacted())
	case http.StatusBadRequest:
		if server != "" {
			return nil, false, fmt.Errorf("balancer %s upstream %s: server %s or a parameter was refused (HTTP 400 from %s)", n.cfg.Name, upstream, server, n.base.Redacted())
		}
		return nil, false, fmt.Errorf("balancer %s upstream %s: request refused (HTTP 400 from %s)", n.cfg.Name, upstream, n.base.Redacted())
	case http.StatusUnauthorized:
		hint := "the location asks for basic auth: set user and password"
		if n.cfg.User != "" || n.cfg.Password != "" || n.base.User != nil {
			hint = "the user or password given was refused"
		}
		return nil, false, fmt.Errorf("balancer %s upstream %s: not authorised (HTTP 401 from %s): %s", n.cfg.Name, upstream, n.base.Redacted(), hint)
	case http.StatusForbidden:
		return nil, false, fmt.Errorf("balancer %s upstream %s: forbidden (HTTP 403 from %s): the location's allow/deny list refuses this host", n.cfg.Name, upstream, n.base.Redacted())
	default:
		return nil, false, fmt.Errorf("balancer %s upstream %s: HTTP %d from %s", n.cfg.Name, upstream, resp.StatusCode, n.base.Redacted())
	}
	servers, verbose, err := ParseList(upstream, body)
	if err != nil {
		return nil, false, fmt.Errorf("balancer %s upstream %s: the answer of %s: %v", n.cfg.Name, upstream, n.base.Redacted(), err)
	}
	if len(servers) == 0 {
		return nil, false, fmt.Errorf("balancer %s upstream %s: the answer of %s lists no servers", n.cfg.Name, upstream, n.base.Redacted())
	}
	return servers, verbose, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %v", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return err
}

// redactURLText hides the user info of a URL as written, also one that
// does not parse or has no authority (url.URL.Redacted would miss
// "ops:pw@host"): everything before the last '@' after the scheme. A
// "://" counts as the end of the scheme only after a scheme's characters,
// so one inside the password is hidden with it.
func redactURLText(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i > 0 && i < at && isScheme(s[:i]) {
		start = i + len("://")
	}
	return s[:start] + "xxxxx" + s[at:]
}

// isScheme tells whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.').
func isScheme(s string) bool {
	for i, c := range s {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// urlParseReason tells why s does not parse without quoting its user
// info: url.Parse's error repeats the URL, and its reason may quote the
// password (a password with '/' is read as host:port, "invalid port
// \":PASSWORD\""). The reason is taken from the redacted URL; if that
// parses, the fault is in the hidden part.
func urlParseReason(s string) error {
	_, err := url.Parse(redactURLText(s))
	if err == nil {
		return errors.New("its user info does not parse (write / ? # and % in the password as %XX)")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// ParseList parses an ngx_dynamic_upstream listing: one line per server,
// `server ADDR[ weight=N max_fails=N fail_timeout=N[ active=N]][ down];`
// (fail_timeout in seconds). verbose tells whether the lines carried
// parameters (weight=), which every change forces. Active, MaxFails and
// FailTimeout are -1 where absent. A flag other than `down` is an error: a
// server whose state this parser does not know is never counted as up.
func ParseList(upstream string, body []byte) (servers []Server, verbose bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		s, v, err := parseListLine(upstream, text)
		if err != nil {
			return nil, false, fmt.Errorf("line %d: %v", line, err)
		}
		if len(servers) > 0 && v != verbose {
			return nil, false, fmt.Errorf("line %d: mixes verbose and plain lines", line)
		}
		verbose = v
		servers = append(servers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	return servers, verbose, nil
}

// maxFailTimeout keeps FailTimeout from overflowing (about 290 years).
const maxFailTimeout = 1 << 33

func parseListLine(upstream, text string) (Server, bool, error) {
	rest, ok := strings.CutPrefix(text, "server ")
	if !ok {
		return Server{}, false, fmt.Errorf("not a server line: %.60q", text)
	}
	rest, ok = strings.CutSuffix(rest, ";")
	if !ok {
		return Server{}, false, fmt.Errorf("server line without ';': %.60q", text)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || strings.Contains(rest, ";") {
		return Server{}, false, fmt.Errorf("not one server per line: %.60q", text)
	}
	s := Server{Upstream: upstream, Addr: fields[0], State: Up, Active: -1, MaxFails: -1, FailTimeout: -1}
	verbose := false
	for _, f := range fields[1:] {
		if f == "down" {
			s.State = Down
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Server{}, false, fmt.Errorf("server %s: unknown flag %q", s.Addr, f)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Server{}, false, fmt.Errorf("server %s: %s is not a number", s.Addr, f)
		}
		switch k {
		case "weight":
			s.Weight, verbose = n, true
		case "active":
			s.Active = n
		case "max_fails":
			s.MaxFails = n
		case "fail_timeout":
			if n > maxFailTimeout {
				return Server{}, false, fmt.Errorf("server %s: %s is out of range", s.Addr, f)
			}
			s.FailTimeout = time.Duration(n) * time.Second
		}
	}
	return s, verbose, nil
}
