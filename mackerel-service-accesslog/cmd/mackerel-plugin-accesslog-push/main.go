// mackerel-plugin-accesslog-push delivers mackerel-plugin-accesslog's fleet
// spool to Redis, and check-error-log's too (the same protocol, a request of
// kind "errors"); its collect-errors command hands check-error-log
// --fleet-post the service's closed windows of error groups. The plugin runs it (`mackerel-plugin-accesslog-push push`,
// the request as JSON on stdin) when --fleet-redis is given, so that the
// plugin links no Redis client. It is named like a plugin so that
// `mkr plugin install` installs it beside the plugin, which finds it there;
// it is not a plugin itself. See mackerel-service-accesslog/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/push"
)

var version = "dev"

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == fleet.PushCommand:
		os.Exit(push.Main(os.Stdin, os.Stdout, os.Stderr))
	case len(os.Args) == 2 && os.Args[1] == fleet.CollectCommand:
		os.Exit(push.CollectMain(os.Stdin, os.Stdout, os.Stderr))
	case len(os.Args) == 2 && os.Args[1] == "--version":
		fmt.Println(fleet.PushBinary, version)
	default:
		fmt.Fprintf(os.Stderr, "%s: not a plugin: mackerel-plugin-accesslog --fleet-redis runs it (%s %s, a request on stdin) to deliver its spool to Redis; see mackerel-service-accesslog's README\n",
			fleet.PushBinary, fleet.PushBinary, fleet.PushCommand)
		os.Exit(2)
	}
}
