package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// The option-file syntax below follows what MariaDB's own clients accept
// (checked against my_print_defaults 10.11): "[group]" headers matched without
// regard to case, "key = value" or a bare "key", comment lines starting with
// "#" or ";", a "#" outside quotes ending the line, a value wrapped in
// matching quotes unwrapped, the escapes \b \t \n \r \s \\ \" \', and the
// directives !include FILE and !includedir DIR (its *.cnf files, sorted).
// A missing included file is skipped, as the clients do. A world-writable
// file, which the clients skip with a warning, is an error here.

const (
	maxOptionFileSize = 1 << 20
	maxIncludeDepth   = 10
)

// clientGroup is the option group the check reads, as every MySQL client does.
const clientGroup = "client"

// optionValues are the options of one group, keyed by normalised name
// ("ssl_ca" and "loose-ssl-ca" are both "ssl-ca"); later files and lines win.
// Bare options (a key without "=") are recorded with bare set.
type optionValues map[string]optionValue

type optionValue struct {
	value string
	bare  bool
}

// get returns the value of a key given as "key=value" (a bare key counts as
// not set: the clients would prompt for a bare "password").
func (o optionValues) get(key string) (string, bool) {
	v, ok := o[key]
	if !ok || v.bare {
		return "", false
	}
	return v.value, true
}

// readOptionFile reads path, and what it includes, adding the options of
// group to into. Errors name the file and line, never the line's text, which
// may hold a password.
func readOptionFile(path, group string, into optionValues) error {
	return readOptionFileDepth(path, group, into, 0, true)
}

func readOptionFileDepth(path, group string, into optionValues, depth int, required bool) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("%s: includes nested more than %d deep", path, maxIncludeDepth)
	}
	data, err := readLimited(path)
	if err != nil {
		if !required && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	include := func(directive, arg string) error {
		switch directive {
		case "include":
			return readOptionFileDepth(arg, group, into, depth+1, false)
		case "includedir":
			return readOptionDir(arg, group, into, depth+1)
		}
		return nil
	}
	return parseOptions(data, path, group, into, include)
}

func readOptionDir(dir, group string, into optionValues, depth int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("!includedir %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".cnf") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := readOptionFileDepth(filepath.Join(dir, n), group, into, depth, false); err != nil {
			return err
		}
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	f, st, err := cli.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Mode().Perm()&0o002 != 0 {
		// The clients skip such a file with a warning; skipping it silently
		// here would turn into a puzzling login failure.
		return nil, fmt.Errorf("%s is world-writable, so anyone could change where the check connects (MySQL clients ignore it): chmod o-w", path)
	}
	data, err := cli.ReadAtMost(f, path, maxOptionFileSize)
	if errors.Is(err, cli.ErrTooLarge) {
		return nil, fmt.Errorf("%s: larger than %d bytes, not an option file", path, maxOptionFileSize)
	}
	return data, err
}

// parseOptions parses one file's text. include is called for each !include
// or !includedir line, in order, so that later lines override included ones.
func parseOptions(data []byte, name, group string, into optionValues, include func(directive, arg string) error) error {
	inGroup, seenGroup := false, false
	for i, raw := range bytes.Split(data, []byte("\n")) {
		lineNo := i + 1
		line := trimSpace(string(raw))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '!' {
			directive, arg := line[1:], ""
			if i := strings.IndexAny(directive, " \t"); i >= 0 {
				directive, arg = directive[:i], trimSpace(directive[i:])
			}
			if (directive == "include" || directive == "includedir") && arg != "" {
				if err := include(directive, arg); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("%s:%d: unknown directive (want !include FILE or !includedir DIR)", name, lineNo)
		}
		line = trimSpace(stripComment(line))
		if line == "" {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return fmt.Errorf("%s:%d: group header without ']'", name, lineNo)
			}
			inGroup = strings.EqualFold(line[1:end], group)
			seenGroup = true
			continue
		}
		if !seenGroup {
			return fmt.Errorf("%s:%d: option before any [group]", name, lineNo)
		}
		if !inGroup {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		key = normaliseKey(key)
		if key == "" {
			continue
		}
		if !hasValue {
			into[key] = optionValue{bare: true}
			continue
		}
		into[key] = optionValue{value: unquote(trimSpace(value))}
	}
	return nil
}

// stripComment cuts the line at a "#" outside quotes. Inside quotes a
// backslash protects the next character; outside it does not.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && c == '#':
			return line[:i]
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		}
	}
	return line
}

// unquote removes one pair of matching outer quotes, then applies escapes;
// an unknown escape keeps its backslash.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i == len(v)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch v[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 's':
			b.WriteByte(' ')
		case '\\', '"', '\'':
			b.WriteByte(v[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// normaliseKey makes "ssl_ca", "ssl-ca" and "loose-ssl-ca" the same key.
func normaliseKey(k string) string {
	k = strings.ReplaceAll(trimSpace(k), "_", "-")
	return strings.TrimPrefix(k, "loose-")
}

// trimSpace trims the ASCII white space C's isspace knows, as the clients
// do, and no other Unicode space.
func trimSpace(s string) string { return strings.Trim(s, " \t\n\v\f\r") }
