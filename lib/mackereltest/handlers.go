package mackereltest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

func (s *Server) postMetrics(w http.ResponseWriter, r *http.Request) {
	var ms []Metric
	if err := json.NewDecoder(r.Body).Decode(&ms); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	service := r.PathValue("service")
	s.mu.Lock()
	s.metrics[service] = append(s.metrics[service], ms...)
	s.mu.Unlock()
	writeJSON(w, map[string]bool{"success": true})
}

// decodeAnnotation reads an annotation body and checks what the real API
// requires: service, title, from and to, from ≤ to.
func decodeAnnotation(w http.ResponseWriter, r *http.Request) (Annotation, bool) {
	var a Annotation
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return a, false
	}
	if a.Service == "" || a.Title == "" || a.From == 0 || a.To == 0 || a.From > a.To {
		writeError(w, http.StatusBadRequest, "service, title, from and to (from <= to) are required")
		return a, false
	}
	return a, true
}

func (s *Server) createAnnotation(w http.ResponseWriter, r *http.Request) {
	a, ok := decodeAnnotation(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	a.ID = s.newID("ann")
	s.annotations = append(s.annotations, a)
	s.mu.Unlock()
	writeJSON(w, a)
}

func (s *Server) updateAnnotation(w http.ResponseWriter, r *http.Request) {
	a, ok := decodeAnnotation(w, r)
	if !ok {
		return
	}
	a.ID = r.PathValue("id")
	s.mu.Lock()
	i := slices.IndexFunc(s.annotations, func(x Annotation) bool { return x.ID == a.ID })
	if i >= 0 {
		s.annotations[i] = a
	}
	s.mu.Unlock()
	if i < 0 {
		writeError(w, http.StatusNotFound, "Graph annotation not found")
		return
	}
	writeJSON(w, a)
}

// listAnnotations answers the annotations of a service that overlap
// [from, to], as the real API does; all three parameters are required.
func (s *Server) listAnnotations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	service := q.Get("service")
	if service == "" || err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "service, from and to are required")
		return
	}
	out := []Annotation{}
	for _, a := range s.Annotations() {
		if a.Service == service && a.From <= to && a.To >= from {
			out = append(out, a)
		}
	}
	writeJSON(w, map[string]any{"graphAnnotations": out})
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := []Alert{}
	for _, a := range s.alerts {
		if a.ClosedAt == 0 || r.URL.Query().Get("withClosed") == "true" {
			out = append(out, a)
		}
	}
	s.mu.Unlock()
	// Newest first, as the real API lists them.
	slices.Reverse(out)
	writeJSON(w, map[string]any{"alerts": out})
}

func (s *Server) listMonitors(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := append([]Monitor{}, s.monitors...)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"monitors": out})
}

func (s *Server) getMonitor(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := slices.IndexFunc(s.monitors, func(m Monitor) bool { return m.ID == r.PathValue("id") })
	var m Monitor
	if i >= 0 {
		m = s.monitors[i]
	}
	s.mu.Unlock()
	if i < 0 {
		writeError(w, http.StatusNotFound, "Monitor not found")
		return
	}
	writeJSON(w, map[string]any{"monitor": m})
}

// listHosts answers the hosts of ?service= that have any of the ?role=
// values (all of the service's hosts without role=). role without service
// is refused, as by the real API.
func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	service, roles := q.Get("service"), q["role"]
	if service == "" && len(roles) > 0 {
		writeError(w, http.StatusBadRequest, "role requires service")
		return
	}
	s.mu.Lock()
	out := []Host{}
	for _, h := range s.hosts {
		if hostMatches(h, service, roles) {
			out = append(out, h)
		}
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"hosts": out})
}

func hostMatches(h Host, service string, roles []string) bool {
	if service == "" {
		return true
	}
	have, ok := h.Roles[service]
	if !ok {
		return false
	}
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if slices.Contains(have, r) {
			return true
		}
	}
	return false
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	org := s.org
	s.mu.Unlock()
	writeJSON(w, map[string]string{"name": org})
}
