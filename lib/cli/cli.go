// Package cli is the suite's one command-line layer: every binary parses its
// flags through Program.Parse, which never exits the process itself. Parse
// returns what to print and the exit code (a pure function of the arguments
// and the options struct), so the same code serves main(), a subcommand and
// a test; Exit is the thin wrapper that prints and exits.
//
// The rules it enforces for every binary:
//   - --help prints the manual (what the binary is for, every flag with its
//     default, then the Manual text: statuses and exit codes, or metrics, and
//     an example) on stdout and exits 0; --version prints "NAME VERSION".
//   - A flag or value error is ONE line naming the flag, the bad value and
//     what to use instead, in the user's words (never a Go type name), with
//     the binary's exit code for bad input (3 for checks, 2 otherwise).
//   - Positional arguments are refused unless the binary takes them.
//   - Values are validated at parse time: every options struct (and every
//     struct embedded in it) with a Validate() error method is asked.
//
// Adopting it:
//
//   - A check: embed check.Common in the options, describe the check in a
//     cli.Program (Summary, Manual with its statuses and an example), and
//     call check.New(name, binary, version).Main(program, &opts, run) from
//     main, or Execute(program, &opts, args, run) where the exit code must be
//     returned (a subcommand such as deploy-tool check).
//   - A plugin or tool with run(args, stdout, stderr) int: set Name and
//     Version, then
//     rest, out := program.Parse(&opts, args); out.Print(stdout, stderr);
//     if out.Done { return out.Code }. A later error about a value (a file
//     that does not parse) goes through program.PlainBadInput(msg) to keep
//     the same one-line form and exit code.
//   - Durations: a field of type Duration (flags and TOML alike). Secrets:
//     ReadSecretFile or the environment, never a flag. Files named by flags:
//     ReadRegular, which refuses a FIFO instead of blocking on it.
//   - Add the binary to internal/clitest's table (one line).
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/jessevdk/go-flags"
)

// Program is one binary (or one subcommand) as its users see it.
type Program struct {
	// Name is the binary's name ("check-mysql-uptime"), or "deploy-tool
	// check" for a subcommand; --version and the usage line print it.
	Name    string
	Version string
	// Summary says what the binary is for: the first paragraph of --help.
	Summary string
	// Manual follows the flags in --help: statuses and exit codes (checks) or
	// metrics (plugins), and an example.
	Manual string
	// Args names the positional arguments in the usage line ("FILE..."). When
	// empty the binary takes none and any is refused.
	Args string
	// Hints add a way out to "unknown flag" errors, keyed by the flag as the
	// user typed it without dashes ("p", "password").
	Hints map[string]string
	// Descriptions replace shared flags' descriptions for this binary, keyed
	// by long name, so that --help says only what applies here.
	Descriptions map[string]string
	// BadInput turns the one-line message of a flag or value error into what
	// is printed and the exit code. Nil: PlainBadInput (stderr, exit 2).
	BadInput func(msg string) Outcome
}

// Outcome is what Parse decided: the text to print, and when Done, that the
// program should stop here with Code.
type Outcome struct {
	Stdout string
	Stderr string // warnings when not Done; they do not stop the run
	Code   int
	Done   bool
}

// Print writes the outcome's text.
func (o Outcome) Print(stdout, stderr io.Writer) {
	if o.Stdout != "" {
		io.WriteString(stdout, o.Stdout)
	}
	if o.Stderr != "" {
		io.WriteString(stderr, o.Stderr)
	}
}

// Exit prints the outcome to the process's stdout and stderr and exits with
// its code. It is the only place in the suite's flag handling that exits.
func Exit(o Outcome) {
	o.Print(os.Stdout, os.Stderr)
	os.Exit(o.Code)
}

// ExitCodeBadInput is the exit code of a flag or value error outside checks
// (checks use UNKNOWN, 3).
const ExitCodeBadInput = 2

// PlainBadInput reports a bad flag as "NAME: message (see --help)" on stderr
// with exit 2: the form for metrics plugins (whose stdout mackerel-agent
// reads as metrics and whose stderr it logs) and for deploy-tool.
func (p Program) PlainBadInput(msg string) Outcome {
	return Outcome{Stderr: p.Name + ": " + msg + " (see --help)\n", Code: ExitCodeBadInput, Done: true}
}

// Validator is implemented by options structs (or structs embedded in them)
// whose values need checking beyond their types.
type Validator interface{ Validate() error }

// Warner is implemented by options structs with values that are accepted but
// deserve a word on stderr (a timeout above the agent's).
type Warner interface{ Warnings() []string }

// Version is a --version flag to embed in an options struct.
type Version struct {
	Version bool `long:"version" description:"print the version and exit"`
}

// Parse parses args into opts, a go-flags options struct. When the result is
// not Done, the program goes on with opts (and the positional arguments
// returned, if Args allows them), after printing the outcome's warnings.
func (p Program) Parse(opts any, args []string) ([]string, Outcome) {
	parser := flags.NewParser(opts, flags.HelpFlag|flags.PassDoubleDash)
	parser.Name = p.Name
	parser.Usage = "[OPTIONS]"
	if p.Args != "" {
		parser.Usage += " " + p.Args
	}
	parser.ShortDescription = p.Summary
	parser.LongDescription = p.Summary
	for long, desc := range p.Descriptions {
		if o := parser.FindOptionByLongName(long); o != nil {
			o.Description = desc
		}
	}
	rest, err := parser.ParseArgs(args)
	if err != nil {
		var ferr *flags.Error
		if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
			if len(args) > 1 {
				// "-h db1" is a MySQL user's host, not a wish for help: a check
				// printing its manual would exit 0, OK, forever.
				return nil, p.bad(helpNotAlone(parser))
			}
			return nil, Outcome{Stdout: p.manual(parser), Done: true}
		}
		return nil, p.bad(p.reword(parser, err))
	}
	if versionWanted(opts) {
		return nil, Outcome{Stdout: p.Name + " " + p.Version + "\n", Done: true}
	}
	if len(rest) > 0 && p.Args == "" {
		return nil, p.bad(fmt.Sprintf("unexpected argument %s: this command takes flags only", shownArg(rest[0])))
	}
	var warnings strings.Builder
	warned := map[string]bool{}
	for _, v := range parts(opts) {
		if val, ok := v.(Validator); ok {
			if err := val.Validate(); err != nil {
				return nil, p.bad(err.Error())
			}
		}
		if w, ok := v.(Warner); ok {
			for _, line := range w.Warnings() {
				if warned[line] {
					continue
				}
				warned[line] = true
				fmt.Fprintf(&warnings, "%s: warning: %s\n", p.Name, line)
			}
		}
	}
	return rest, Outcome{Stderr: warnings.String()}
}

func helpNotAlone(parser *flags.Parser) string {
	msg := "-h/--help shows the manual and goes alone"
	if o := parser.FindOptionByShortName('H'); o != nil && o.LongName != "" {
		msg += ": for --" + o.LongName + " the short flag is -H"
	}
	return msg
}

func (p Program) bad(msg string) Outcome {
	msg = oneLine(msg)
	if p.BadInput != nil {
		return p.BadInput(msg)
	}
	return p.PlainBadInput(msg)
}

// oneLine keeps a message to one line whatever an error wrapped.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// manual is --help: go-flags' usage and flag list, then the Manual text.
func (p Program) manual(parser *flags.Parser) string {
	var b strings.Builder
	parser.WriteHelp(&b)
	out := strings.TrimRight(b.String(), "\n") + "\n"
	if m := strings.TrimSpace(p.Manual); m != "" {
		out += "\n" + m + "\n"
	}
	return out
}

func versionWanted(opts any) bool {
	for _, v := range parts(opts) {
		switch x := v.(type) {
		case *Version:
			if x.Version {
				return true
			}
		case interface{ VersionWanted() bool }:
			if x.VersionWanted() {
				return true
			}
		}
	}
	return false
}

// parts returns, depth first, a pointer to every struct opts embeds, then
// opts itself: the values asked for Validate, Warnings and --version. A
// method promoted from an embedded struct is thus asked twice, which is
// harmless: the first error wins, and warnings are printed once.
func parts(opts any) []any {
	var out []any
	v := reflect.ValueOf(opts)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		v = v.Elem()
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Anonymous && f.IsExported() && f.Type.Kind() == reflect.Struct {
				out = append(out, parts(v.Field(i).Addr().Interface())...)
			}
		}
	}
	return append(out, opts)
}

// shownArg quotes a stray argument for an error message, except a URL: a
// webhook's or an API's URL may carry its secret in the path or user info,
// and a message reaches Mackerel, Slack and logs.
func shownArg(a string) string {
	if strings.Contains(a, "://") {
		return "(a URL, not shown: it may hold a secret)"
	}
	return fmt.Sprintf("%q", a)
}
