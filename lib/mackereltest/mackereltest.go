// Package mackereltest is a fake Mackerel API for tests and demos: an HTTP
// server on loopback that checks the X-Api-Key header, records what it
// receives and serves the parts of the API the suite uses, with the JSON
// field names of the real API (as mackerel-client-go and mkr read them):
//
//	POST /api/v0/services/NAME/tsdb          service metrics (mkr throw, mackerel-service-accesslog)
//	POST /api/v0/graph-annotations           create an annotation, answers it with its id
//	PUT  /api/v0/graph-annotations/ID        update it
//	GET  /api/v0/graph-annotations?service=&from=&to=   list (mkr annotations list)
//	GET  /api/v0/alerts                      open alerts
//	GET  /api/v0/monitors, /api/v0/monitors/ID
//	GET  /api/v0/hosts?service=&role=
//	GET  /api/v0/org
//
// Knobs change what it serves while a test runs: OpenAlert/CloseAlert,
// AddHost, AddMonitor, and FailNext/HangNext/LoseNextAnswers to make the
// next calls answer 500, hang until the client gives up, or do their work
// and then hang.
package mackereltest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
)

// Metric is one service metric value as posted to /tsdb.
type Metric struct {
	Name  string  `json:"name"`
	Time  int64   `json:"time"`
	Value float64 `json:"value"`
}

// Annotation is a graph annotation, with the API's field names.
type Annotation struct {
	ID          string   `json:"id,omitempty"`
	Title       string   `json:"title,omitempty"`
	Description string   `json:"description,omitempty"`
	From        int64    `json:"from,omitempty"`
	To          int64    `json:"to,omitempty"`
	Service     string   `json:"service,omitempty"`
	Roles       []string `json:"roles,omitempty"`
}

// Alert is an alert as GET /api/v0/alerts lists it.
type Alert struct {
	ID        string  `json:"id,omitempty"`
	Status    string  `json:"status,omitempty"` // OK, WARNING, CRITICAL, UNKNOWN
	MonitorID string  `json:"monitorId,omitempty"`
	Type      string  `json:"type,omitempty"` // host, service, connectivity, check, …
	HostID    string  `json:"hostId,omitempty"`
	Value     float64 `json:"value,omitempty"`
	Message   string  `json:"message,omitempty"`
	OpenedAt  int64   `json:"openedAt,omitempty"`
	ClosedAt  int64   `json:"closedAt,omitempty"`
}

// Monitor is the part of a monitor the suite reads. A service metric
// monitor has Type "service" and names its Service and Metric.
type Monitor struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Type    string `json:"type,omitempty"` // host, service, connectivity, external, expression, …
	Service string `json:"service,omitempty"`
	Metric  string `json:"metric,omitempty"`
}

// Host is a host with its roles: Roles maps a service to its role names.
type Host struct {
	ID     string              `json:"id"`
	Name   string              `json:"name"`
	Status string              `json:"status"`
	Roles  map[string][]string `json:"roles"`
}

// Request is one request received, whatever its answer.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	APIKey string
	Status int // what the fake answered; 0 when the client gave up first
}

// Server is the fake API. Its methods are safe for concurrent use.
type Server struct {
	URL    string // http://127.0.0.1:PORT, the apibase to give clients
	srv    *httptest.Server
	key    string
	closed chan struct{}

	mu          sync.Mutex
	org         string
	requests    []Request
	metrics     map[string][]Metric // by service
	annotations []Annotation
	alerts      []Alert // open and closed, in order opened
	monitors    []Monitor
	hosts       []Host
	fail, hang  int
	lose        int
	failStatus  int
	nextID      int
}

// New starts a fake API that accepts apiKey alone. Close stops it.
func New(apiKey string) *Server {
	s := &Server{key: apiKey, org: "test-org", closed: make(chan struct{}), metrics: map[string][]Metric{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v0/services/{service}/tsdb", s.postMetrics)
	mux.HandleFunc("POST /api/v0/graph-annotations", s.createAnnotation)
	mux.HandleFunc("PUT /api/v0/graph-annotations/{id}", s.updateAnnotation)
	mux.HandleFunc("GET /api/v0/graph-annotations", s.listAnnotations)
	mux.HandleFunc("GET /api/v0/alerts", s.listAlerts)
	mux.HandleFunc("GET /api/v0/monitors", s.listMonitors)
	mux.HandleFunc("GET /api/v0/monitors/{id}", s.getMonitor)
	mux.HandleFunc("GET /api/v0/hosts", s.listHosts)
	mux.HandleFunc("GET /api/v0/org", s.getOrg)
	s.srv = httptest.NewServer(s.front(mux))
	s.URL = s.srv.URL
	return s
}

// Close ends hanging requests and stops the server.
func (s *Server) Close() {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.srv.Close()
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// front records every request, checks the key and applies FailNext and
// HangNext before the handler runs.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w}
		s.mu.Lock()
		idx := len(s.requests)
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, APIKey: r.Header.Get("X-Api-Key")})
		hang, fail := s.hang > 0, s.fail > 0 && s.hang == 0
		lose := !hang && !fail && s.lose > 0
		switch {
		case hang:
			s.hang--
		case fail:
			s.fail--
		case lose:
			s.lose--
		}
		failStatus := s.failStatus
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.requests[idx].Status = rec.status
			s.mu.Unlock()
		}()
		switch {
		case hang:
			select { // the body is read: a client that gives up ends the context
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		case fail:
			writeError(rec, failStatus, "fake failure")
			return
		case r.Header.Get("X-Api-Key") != s.key:
			writeError(rec, http.StatusUnauthorized, "Authentication failed. Please try with valid Api Key.")
			return
		}
		if lose { // done, but the answer never leaves
			next.ServeHTTP(httptest.NewRecorder(), r)
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// FailNext makes the next n requests answer 500 with an API error body.
func (s *Server) FailNext(n int) { s.FailNextWith(n, http.StatusInternalServerError) }

// FailNextWith makes the next n requests answer status.
func (s *Server) FailNextWith(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.failStatus = n, status
}

// HangNext makes the next n requests hang, unanswered, until the client
// gives up (its context ends or it closes the connection) or Close.
// Hanging requests are counted before failing ones.
func (s *Server) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = n
}

// LoseNextAnswers makes the next n requests (after those HangNext and
// FailNext take) do what they ask, then hang without answering until the
// client gives up: a create that landed although the client saw a timeout.
func (s *Server) LoseNextAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// SetOrg sets the organization name GET /api/v0/org answers (default test-org).
func (s *Server) SetOrg(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.org = name
}

// Requests returns a copy of every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Metrics returns the service metric values received for service, in order.
func (s *Server) Metrics(service string) []Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Metric(nil), s.metrics[service]...)
}

// Annotations returns the annotations as they stand, in creation order.
func (s *Server) Annotations() []Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Annotation, len(s.annotations))
	for i, a := range s.annotations {
		a.Roles = append([]string(nil), a.Roles...)
		out[i] = a
	}
	return out
}

// AddHost adds a host (its ID is made up when empty) and returns its ID.
func (s *Server) AddHost(h Host) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.ID == "" {
		h.ID = s.newID("host")
	}
	if h.Status == "" {
		h.Status = "working"
	}
	s.hosts = append(s.hosts, h)
	return h.ID
}

// AddMonitor adds a monitor (its ID is made up when empty) and returns its ID.
func (s *Server) AddMonitor(m Monitor) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.ID == "" {
		m.ID = s.newID("mon")
	}
	s.monitors = append(s.monitors, m)
	return m.ID
}

// OpenAlert opens an alert (ID made up when empty, Status CRITICAL when
// empty; OpenedAt must be set by the caller) and returns its ID.
func (s *Server) OpenAlert(a Alert) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == "" {
		a.ID = s.newID("alert")
	}
	if a.Status == "" {
		a.Status = "CRITICAL"
	}
	a.ClosedAt = 0
	s.alerts = append(s.alerts, a)
	return a.ID
}

// CloseAlert closes an open alert at closedAt (epoch seconds).
func (s *Server) CloseAlert(id string, closedAt int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.alerts {
		if s.alerts[i].ID == id {
			s.alerts[i].Status, s.alerts[i].ClosedAt = "OK", closedAt
		}
	}
}

// newID makes a short unique ID; s.mu is held.
func (s *Server) newID(kind string) string {
	s.nextID++
	return kind + "-" + strconv.Itoa(s.nextID)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}
