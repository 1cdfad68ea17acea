package config

import (
	"fmt"
	"strings"
)

// at returns " (line N)" for the first line that sets key in data, or "".
// A non-empty hint prefers the lines whose value contains it (the offending
// element of an array of tables). The toml package does not expose key
// positions, so this finds the key under its table header: good enough to
// point a user at the right line.
func at(data []byte, key []string, hint string) string {
	if ls := lines(data, key, hint); len(ls) > 0 {
		return fmt.Sprintf(" (line %d)", ls[0])
	}
	return ""
}

// atLast is at for the last such line: the second of a duplicate.
func atLast(data []byte, key []string, hint string) string {
	if ls := lines(data, key, hint); len(ls) > 0 {
		return fmt.Sprintf(" (line %d)", ls[len(ls)-1])
	}
	return ""
}

func lines(data []byte, key []string, hint string) []int {
	if len(key) == 0 {
		return nil
	}
	table := strings.Join(key[:len(key)-1], ".")
	last := key[len(key)-1]
	current := ""
	var all, hinted []int
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			h := strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
			current = strings.ReplaceAll(strings.Trim(h, "[]"), " ", "")
			if current == strings.Join(key, ".") {
				all = append(all, i+1)
			}
			continue
		}
		if current != table {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.Trim(strings.TrimSpace(k), `"'`) != last {
			continue
		}
		all = append(all, i+1)
		if hint != "" && strings.Contains(v, hint) {
			hinted = append(hinted, i+1)
		}
	}
	if len(hinted) > 0 {
		return hinted
	}
	return all
}
