package config

import (
	"strconv"
	"strings"
)

// Expand fills the {host}, {addr} and {port} placeholders. Config validation
// allows only characters that need no shell quoting in these values.
func Expand(tmpl string, s Server) string {
	return strings.NewReplacer("{host}", s.Host, "{addr}", s.Addr, "{port}", strconv.Itoa(s.Port)).Replace(tmpl)
}
