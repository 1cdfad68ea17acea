package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
)

// RestartablePort returns a free port on 127.0.0.1 below the kernel's
// ephemeral range (32768–60999 here), for a server a test stops and starts
// again on the same port: while it is down, a port of that range could be
// taken as the source port of some outgoing connection. Ports go up from a
// random start, so that tests running at once never pick the same one.
func RestartablePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + int(nextRestartable.Add(1)%12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}

var nextRestartable = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(rand.Int64N(12000))
	return &n
}()
