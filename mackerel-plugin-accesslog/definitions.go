package main

import (
	"encoding/json"
	"io"
)

// graphDef and metricDef are a graph definition as mackerel-agent reads it
// in meta mode (MACKEREL_AGENT_PLUGIN_META set): the JSON that
// go-mackerel-plugin prints, written here without that library, whose
// package initialisers (golang.org/x/text's tables) every run would pay for.
type graphDef struct {
	Label   string      `json:"label"`
	Unit    string      `json:"unit"`
	Metrics []metricDef `json:"metrics"`
}

type metricDef struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Stacked bool   `json:"stacked"`
}

// Units that Mackerel accepts, as used here.
const (
	unitFloat          = "float"
	unitInteger        = "integer"
	unitPercentage     = "percentage"
	unitSeconds        = "seconds"
	unitBytes          = "bytes"
	unitBytesPerSecond = "bytes/sec"
)

// outputDefinitions prints the meta-mode header and the graphs, each key
// under the prefix ("PREFIX.KEY"), as go-mackerel-plugin's OutputDefinitions
// does for a plugin with a MetricKeyPrefix. Every label is set here, so none
// is made up from the names.
func outputDefinitions(w io.Writer, prefix string, graphs map[string]graphDef) error {
	out := struct {
		Graphs map[string]graphDef `json:"graphs"`
	}{map[string]graphDef{}}
	for k, g := range graphs {
		out.Graphs[prefix+"."+k] = g
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(append([]byte("# mackerel-agent-plugin\n"), b...), '\n'))
	return err
}
