package testenv

import (
	"os"
	"strings"
	"testing"
)

// ComingFromMarker is the line before a README's table of the command lines
// users already have with another tool; it does not show on GitHub. The
// table's rows are
//
//	| `old command line` | `new command line` | `expected first line…` | notes |
//
// and ReadmeComingFrom gives them to a test that runs every new line
// against a real server, so the README and the test cannot drift apart.
const ComingFromMarker = "<!-- coming-from -->"

// ComingFrom is one row of such a table.
type ComingFrom struct {
	Before, Now []string // the command lines split on spaces, binary first
	// Result is the first line expected from Now, cut at its first "…"
	// (the rest varies from run to run).
	Result string
	Notes  string
}

// Unchanged reports whether the row says the old line runs as it is: its
// notes begin with "unchanged".
func (c ComingFrom) Unchanged() bool { return strings.HasPrefix(c.Notes, "unchanged") }

// ReadmeComingFrom returns the rows of every table that follows a line
// ComingFromMarker in readme, failing the test when there is none or a row
// is malformed. Cells hold one `code span` each (no '|' inside).
func ReadmeComingFrom(t testing.TB, readme string) []ComingFrom {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	var rows []ComingFrom
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != ComingFromMarker {
			continue
		}
		// The header and the separator, then the rows up to the first line
		// that is not one.
		for j := i + 3; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			rows = append(rows, comingFromRow(t, readme, lines[j]))
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no table after a line %s", readme, ComingFromMarker)
	}
	return rows
}

func comingFromRow(t testing.TB, readme, line string) ComingFrom {
	t.Helper()
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	if len(cells) != 4 {
		t.Fatalf("%s: want 4 cells in %q", readme, line)
	}
	code := func(c string) string {
		c = strings.TrimSpace(c)
		if len(c) < 2 || c[0] != '`' || c[len(c)-1] != '`' {
			t.Fatalf("%s: want a `code span` in cell %q of %q", readme, c, line)
		}
		return c[1 : len(c)-1]
	}
	result, _, _ := strings.Cut(code(cells[2]), "…")
	return ComingFrom{
		Before: strings.Fields(code(cells[0])),
		Now:    strings.Fields(code(cells[1])),
		Result: result,
		Notes:  strings.TrimSpace(cells[3]),
	}
}
