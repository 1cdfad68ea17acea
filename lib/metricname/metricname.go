// Package metricname applies Mackerel's rules for metric and graph names:
// characters [-a-zA-Z0-9_.], with "*" and "#" allowed only as whole
// dot-separated parts and "#" at most once.
package metricname

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sanitize turns an arbitrary string (a vhost, an upstream name, a server
// address) into one metric-name part: every character outside [-a-zA-Z0-9_]
// becomes "_" (dots too, since a dot separates parts). An empty result is "_".
func Sanitize(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Valid reports whether name follows Mackerel's rules, naming what is wrong.
func Valid(name string) error {
	if name == "" {
		return fmt.Errorf("metric name is empty")
	}
	hashes := 0
	for _, part := range strings.Split(name, ".") {
		switch part {
		case "":
			return fmt.Errorf("metric name %q has an empty part", name)
		case "*":
			continue
		case "#":
			hashes++
			continue
		}
		for _, c := range part {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("metric name %q has %q, outside [-a-zA-Z0-9_.]", name, c)
			}
		}
	}
	if hashes > 1 {
		return fmt.Errorf("metric name %q has more than one #", name)
	}
	return nil
}

// Units Mackerel accepts for graph definitions.
var Units = map[string]bool{
	"float": true, "integer": true, "percentage": true, "seconds": true, "milliseconds": true,
	"bytes": true, "bytes/sec": true, "bits/sec": true, "iops": true,
}

// CheckMeta validates a plugin's meta-mode output (the first line
// "# mackerel-agent-plugin", then the JSON graph definitions): every graph
// key and metric name, combined, follows the naming rules, and every unit is
// one Mackerel accepts. It returns the graph keys found.
func CheckMeta(out []byte) ([]string, error) {
	s := string(out)
	first, rest, ok := strings.Cut(s, "\n")
	if !ok || strings.TrimSpace(first) != "# mackerel-agent-plugin" {
		return nil, fmt.Errorf("meta output does not start with \"# mackerel-agent-plugin\": %.80q", s)
	}
	var def struct {
		Graphs map[string]struct {
			Label   string `json:"label"`
			Unit    string `json:"unit"`
			Metrics []struct {
				Name  string `json:"name"`
				Label string `json:"label"`
			} `json:"metrics"`
		} `json:"graphs"`
	}
	if err := json.Unmarshal([]byte(rest), &def); err != nil {
		return nil, fmt.Errorf("meta output is not graph JSON: %v", err)
	}
	if len(def.Graphs) == 0 {
		return nil, fmt.Errorf("meta output defines no graphs")
	}
	var keys []string
	for key, g := range def.Graphs {
		keys = append(keys, key)
		if !Units[g.Unit] {
			return nil, fmt.Errorf("graph %q: unit %q is not one Mackerel accepts", key, g.Unit)
		}
		if len(g.Metrics) == 0 {
			return nil, fmt.Errorf("graph %q has no metrics", key)
		}
		for _, m := range g.Metrics {
			if err := Valid(key + "." + m.Name); err != nil {
				return nil, fmt.Errorf("graph %q: %v", key, err)
			}
		}
	}
	return keys, nil
}
