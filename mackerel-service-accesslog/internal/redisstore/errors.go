package redisstore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// check-error-log's groups (fleet.KindErrors) are fields of the window's
// data hash too, named by the group's fleet.ErrorID: "e/ID/n" (the count),
// "e/ID/msg" and "e/ID/ex" (the message and the first example, set by the
// first contribution that has the group), "e/ID/h/HOST" (the host's count).

func errorOps(ops []op, c *fleet.Contribution) []op {
	for _, g := range c.Errors {
		if g.Count == 0 {
			continue
		}
		msg := fleet.CutText(g.Message, fleet.MaxErrorText)
		scope := "e/" + fleet.ErrorID(msg) + "/"
		n := strconv.FormatUint(g.Count, 10)
		ops = append(ops,
			op{"i", scope + "n", n},
			op{"i", scope + "h/" + c.Host, n},
			op{"s", scope + "msg", msg},
			op{"s", scope + "ex", fleet.CutText(g.Example, fleet.MaxErrorText)})
	}
	return ops
}

// decodeErrors reads the error groups of a window's data hash. A group whose
// host counts do not add up to its count is an error: a damaged hash.
func decodeErrors(fields map[string]string) (map[string]*fleet.ErrorTotal, error) {
	out := map[string]*fleet.ErrorTotal{}
	get := func(id string) *fleet.ErrorTotal {
		if out[id] == nil {
			out[id] = &fleet.ErrorTotal{Hosts: map[string]uint64{}}
		}
		return out[id]
	}
	for f, v := range fields {
		rest, ok := strings.CutPrefix(f, "e/")
		if !ok {
			continue
		}
		id, name, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, fmt.Errorf("data field %s: no name after the error group", f)
		}
		e := get(id)
		if name == "msg" || name == "ex" {
			if name == "msg" {
				e.Message = v
			} else {
				e.Example = v
			}
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("data field %s=%q: not a count", f, v)
		}
		if host, ok := strings.CutPrefix(name, "h/"); ok {
			e.Hosts[host] = n
		} else if name == "n" {
			e.Count = n
		} else {
			return nil, fmt.Errorf("data field %s: unknown error-group field", f)
		}
	}
	for id, e := range out {
		var sum uint64
		for _, n := range e.Hosts {
			sum += n
		}
		if sum != e.Count || e.Message == "" {
			return nil, fmt.Errorf("data hash damaged: error group %s counts %d but its hosts %d", id, e.Count, sum)
		}
	}
	return out, nil
}
