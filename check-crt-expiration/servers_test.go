package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// nginxSite is one server block: TLS with crt/key, or plain HTTP when crt is "".
type nginxSite struct {
	port     int
	crt, key string
}

// startNginx runs Debian's nginx under a private prefix in a temporary folder
// with one server block per site, and stops it (by PID) when the test ends.
func startNginx(t *testing.T, sites []nginxSite) {
	t.Helper()
	bin := testenv.RequireCommand(t, "nginx")
	dir := t.TempDir()
	var conf strings.Builder
	if os.Geteuid() == 0 {
		conf.WriteString("user root;\n")
	}
	fmt.Fprintf(&conf, `worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
`, dir)
	for _, s := range sites {
		if s.crt == "" {
			fmt.Fprintf(&conf, "    server { listen 127.0.0.1:%d; location / { return 200 \"plain http\\n\"; } }\n", s.port)
			continue
		}
		fmt.Fprintf(&conf, "    server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s; location / { return 200 \"tls\\n\"; } }\n",
			s.port, s.crt, s.key)
	}
	conf.WriteString("}\n")
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	out, _ := os.Create(filepath.Join(dir, "stderr.log"))
	cmd.Stdout, cmd.Stderr = out, out
	p := testenv.Start(t, cmd)
	for _, s := range sites {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if p.Exited() || time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				errOut, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
				t.Fatalf("nginx did not listen on %d: %v\n%s%s", s.port, err, log, errOut)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// serve accepts connections on a loopback port until the test ends and runs
// handle on each, bounded by a deadline.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			})
		}
	})
	return l.Addr().String()
}

// mailServer speaks enough SMTP, IMAP or POP3 to reach STARTTLS the way
// Postfix, Dovecot and their peers do, then hands the connection to TLS.
// With offer false it does not announce STARTTLS (and refuses it).
func mailServer(t *testing.T, proto string, cert tls.Certificate, offer bool) string {
	return serve(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		w := func(lines ...string) { fmt.Fprint(c, strings.Join(lines, "\r\n")+"\r\n") }
		upgrade := func() {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.HandshakeContext(context.Background()) == nil {
				tc.Read(make([]byte, 1)) // until the client closes
			}
		}
		switch proto {
		case "smtp":
			w("220 mail.test ESMTP Postfix (Debian/GNU)")
		case "imap":
			w("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.")
		case "pop3":
			w("+OK Dovecot (Debian) ready.")
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			cmd := strings.ToUpper(strings.Fields(line + " x")[0])
			switch proto {
			case "smtp":
				switch {
				case cmd == "EHLO":
					last := "250 STARTTLS"
					if !offer {
						last = "250 8BITMIME"
					}
					w("250-mail.test", "250-PIPELINING", "250-SIZE 10240000", "250-ENHANCEDSTATUSCODES", last)
				case cmd == "STARTTLS" && offer:
					w("220 2.0.0 Ready to start TLS")
					upgrade()
					return
				case cmd == "QUIT":
					w("221 2.0.0 Bye")
					return
				default:
					w("502 5.5.2 Error: command not recognized")
				}
			case "imap":
				tag, rest, _ := strings.Cut(line, " ")
				caps := "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ LOGINDISABLED"
				if offer {
					caps += " STARTTLS"
				}
				switch strings.ToUpper(rest) {
				case "CAPABILITY":
					w("* CAPABILITY "+caps, tag+" OK Pre-login capabilities listed, post-login capabilities have more.")
				case "STARTTLS":
					if !offer {
						w(tag + " BAD Unknown command.")
						continue
					}
					w(tag + " OK Begin TLS negotiation now.")
					upgrade()
					return
				case "LOGOUT":
					w("* BYE Logging out", tag+" OK Logout completed.")
					return
				default:
					w(tag + " BAD Error in IMAP command received by server.")
				}
			case "pop3":
				switch cmd {
				case "CAPA":
					if offer {
						w("+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "SASL", ".")
					} else {
						w("+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "USER", "SASL PLAIN", ".")
					}
				case "STLS":
					if !offer {
						w("-ERR Unknown command.")
						continue
					}
					w("+OK Begin TLS negotiation now.")
					upgrade()
					return
				case "QUIT":
					w("+OK Logging out.")
					return
				default:
					w("-ERR Unknown command: " + cmd)
				}
			}
		}
	})
}

// tlsCert turns an issued leaf and its chain into what a Go server serves.
func tlsCert(leaf *issued, chain ...*issued) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key, Leaf: leaf.cert}
	for _, i := range chain {
		c.Certificate = append(c.Certificate, i.cert.Raw)
	}
	return c
}
