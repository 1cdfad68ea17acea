package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
)

// maxPlainText bounds what a server may send before the TLS handshake.
const maxPlainText = 64 << 10

// startTLS speaks the plain-text start of a mail protocol on conn until the
// server has agreed to switch to TLS. The caller then runs the handshake on conn.
func startTLS(conn net.Conn, proto string) error {
	r := bufio.NewReader(io.LimitReader(conn, maxPlainText))
	send := func(line string) error {
		_, err := io.WriteString(conn, line+"\r\n")
		return err
	}
	switch proto {
	case "smtp":
		return smtpStartTLS(r, send)
	case "imap":
		return imapStartTLS(r, send)
	case "pop3":
		return pop3StartTLS(r, send)
	}
	return fmt.Errorf("unknown protocol %q", proto)
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if line != "" && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("reading the server's reply: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSMTPReply reads one possibly multi-line SMTP reply ("250-a", "250 b")
// and returns its code and the text of each line.
func readSMTPReply(r *bufio.Reader) (string, []string, error) {
	var texts []string
	for {
		line, err := readLine(r)
		if err != nil {
			return "", nil, err
		}
		if len(line) < 3 || !isDigits(line[:3]) || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return "", nil, fmt.Errorf("not an SMTP reply: %q", truncate(line, 80))
		}
		if len(line) > 4 {
			texts = append(texts, line[4:])
		} else {
			texts = append(texts, "")
		}
		if len(line) == 3 || line[3] == ' ' {
			return line[:3], texts, nil
		}
	}
}

func smtpStartTLS(r *bufio.Reader, send func(string) error) error {
	code, text, err := readSMTPReply(r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if code != "220" {
		return fmt.Errorf("greeting %s %s", code, strings.Join(text, " "))
	}
	if err := send("EHLO check-crt-expiration.invalid"); err != nil {
		return err
	}
	code, text, err = readSMTPReply(r)
	if err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if code != "250" {
		return fmt.Errorf("EHLO answered %s %s", code, strings.Join(text, " "))
	}
	offered := false
	for _, t := range text[1:] {
		if f := strings.Fields(t); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return fmt.Errorf("the server does not offer STARTTLS (EHLO lists %s)", strings.Join(text[1:], ", "))
	}
	if err := send("STARTTLS"); err != nil {
		return err
	}
	code, text, err = readSMTPReply(r)
	if err != nil {
		return err
	}
	if code != "220" {
		return fmt.Errorf("STARTTLS answered %s %s", code, strings.Join(text, " "))
	}
	return nil
}

// imapTagged reads untagged lines until the one tagged with tag and returns
// the untagged lines and the tagged status (OK, NO, BAD) with its text.
func imapTagged(r *bufio.Reader, tag string) (untagged []string, status, text string, err error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, "", "", err
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			status, text, _ = strings.Cut(rest, " ")
			return untagged, strings.ToUpper(status), text, nil
		}
		if !strings.HasPrefix(line, "* ") && !strings.HasPrefix(line, "+") {
			return nil, "", "", fmt.Errorf("not an IMAP response: %q", truncate(line, 80))
		}
		untagged = append(untagged, line)
	}
}

// imapCapabilities returns the capabilities listed in untagged CAPABILITY lines.
func imapCapabilities(untagged []string) []string {
	var caps []string
	for _, l := range untagged {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "*" && strings.EqualFold(f[1], "CAPABILITY") {
			caps = append(caps, f[2:]...)
		}
	}
	return caps
}

func imapStartTLS(r *bufio.Reader, send func(string) error) error {
	greeting, err := readLine(r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(strings.ToUpper(greeting), "* OK") {
		return fmt.Errorf("greeting %q", truncate(greeting, 80))
	}
	if err := send("a1 CAPABILITY"); err != nil {
		return err
	}
	untagged, status, text, err := imapTagged(r, "a1")
	if err != nil {
		return fmt.Errorf("CAPABILITY: %w", err)
	}
	if status != "OK" {
		return fmt.Errorf("CAPABILITY answered %s %s", status, text)
	}
	caps := imapCapabilities(untagged)
	if !containsFold(caps, "STARTTLS") {
		return fmt.Errorf("the server does not offer STARTTLS (CAPABILITY %s)", strings.Join(caps, " "))
	}
	if err := send("a2 STARTTLS"); err != nil {
		return err
	}
	_, status, text, err = imapTagged(r, "a2")
	if err != nil {
		return err
	}
	if status != "OK" {
		return fmt.Errorf("STARTTLS answered %s %s", status, text)
	}
	return nil
}

func pop3StartTLS(r *bufio.Reader, send func(string) error) error {
	greeting, err := readLine(r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "+OK") {
		return fmt.Errorf("greeting %q", truncate(greeting, 80))
	}
	if err := send("CAPA"); err != nil {
		return err
	}
	capa, err := readLine(r)
	if err != nil {
		return fmt.Errorf("CAPA: %w", err)
	}
	if strings.HasPrefix(capa, "+OK") {
		var caps []string
		for {
			l, err := readLine(r)
			if err != nil {
				return fmt.Errorf("CAPA: %w", err)
			}
			if l == "." {
				break
			}
			if f := strings.Fields(l); len(f) > 0 {
				caps = append(caps, f[0])
			}
		}
		if !containsFold(caps, "STLS") {
			return fmt.Errorf("the server does not offer STLS (CAPA %s)", strings.Join(caps, " "))
		}
	}
	// A server without CAPA (-ERR) may still know STLS: just ask.
	if err := send("STLS"); err != nil {
		return err
	}
	reply, err := readLine(r)
	if err != nil {
		return fmt.Errorf("STLS: %w", err)
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("STLS answered %q", truncate(reply, 80))
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
