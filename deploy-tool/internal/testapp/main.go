// Command testapp is the app server of deploy-tool's end-to-end tests: an
// HTTP server with /healthz, fast GETs, slow GETs, POSTs, its version
// string and its count of requests in flight (/inflight), and a "restart"
// mode that is the tests' deploy command.
//
//	testapp serve   --addr 127.0.0.1:P --version V --pidfile F
//	testapp restart --addr 127.0.0.1:P --version V --pidfile F --log L
//
// Like many real apps it does not drain on SIGTERM: it exits at once and
// the requests in flight are cut. Taking it out of the balancers and
// draining it first is what makes its restart invisible to clients.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp serve|restart --addr ADDR --version V --pidfile F [--log L]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	version := fs.String("version", "v1", "version string served")
	pidfile := fs.String("pidfile", "", "pid file")
	logPath := fs.String("log", "", "restart: the new server's log")
	lifetime := fs.Duration("max-lifetime", 10*time.Minute, "exit after this long, so that a crashed test leaves nothing behind")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*addr, *version, *pidfile, *lifetime)
	case "restart":
		err = restart(*addr, *version, *pidfile, *logPath, *lifetime)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}

func serve(addr, version, pidfile string, lifetime time.Duration) error {
	l, err := listen(addr, 10*time.Second)
	if err != nil {
		return err
	}
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, version+"\n")
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", version)
		io.WriteString(w, version+"\n")
	})
	// /slow?ms=N answers after N ms (at most 5 s).
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(min(max(ms, 0), 5000)) * time.Millisecond)
		w.Header().Set("X-Version", version)
		io.WriteString(w, version+"\n")
	})
	// POST /post reads the body, works for a while, and answers its length.
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("X-Version", version)
		fmt.Fprintf(w, "%s %d\n", version, n)
	})
	// /inflight answers how many other requests are being served: the
	// app-side figure of deploy-tool's [drain] inflight_url.
	var inflight atomic.Int64
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/inflight" {
			fmt.Fprintf(w, "%d\n", inflight.Load())
			return
		}
		inflight.Add(1)
		defer inflight.Add(-1)
		mux.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 5 * time.Second}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-sig:
		case <-time.After(lifetime):
		}
		if pidfile != "" {
			os.Remove(pidfile)
		}
		os.Exit(0) // no drain: in-flight requests are cut
	}()
	return srv.Serve(l)
}

// listen retries while the port is still in use: the old server's main
// thread shows as a zombie (so restart saw it gone) while its other threads
// are still exiting and the listening socket is not yet closed.
func listen(addr string, patience time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(patience)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart stops the server in pidfile (if any), starts a new one detached
// with the given version, and returns once it accepts connections.
func restart(addr, version, pidfile, logPath string, lifetime time.Duration) error {
	if pidfile == "" {
		return errors.New("restart needs --pidfile")
	}
	if b, err := os.ReadFile(pidfile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(5 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				if time.Now().After(deadline.Add(5 * time.Second)) {
					return fmt.Errorf("old server pid %d did not exit", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var logf *os.File
	if logPath != "" {
		if logf, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
		defer logf.Close()
	}
	cmd := exec.Command(self, "serve", "--addr", addr, "--version", version, "--pidfile", pidfile, "--max-lifetime", lifetime.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if logf != nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Ready when it answers its own version over HTTP: a bare TCP connect
	// can succeed against something else (a port reused for a moment).
	client := &http.Client{Timeout: 500 * time.Millisecond}
	// Generous: the machine may be busy, and serve waits up to 10 s for
	// the port.
	const ready = 15 * time.Second
	deadline := time.After(ready)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("new server on %s exited: %v (see %s)", addr, err, logPath)
		case <-deadline:
			cmd.Process.Kill()
			return fmt.Errorf("new server on %s did not answer within %v", addr, ready)
		case <-time.After(10 * time.Millisecond):
		}
		resp, err := client.Get("http://" + addr + "/version")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) == version {
			break
		}
	}
	fmt.Printf("restarted %s: version %s, pid %d\n", addr, version, cmd.Process.Pid)
	return nil
}

// alive: the process exists and is not a zombie waiting for its reaper.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may hold spaces, so look after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
