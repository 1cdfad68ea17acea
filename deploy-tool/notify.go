package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Notifier posts Slack-compatible messages ({"text": …}) to notify_webhook:
// on start, on each failure and at the end. A webhook that fails is reported
// on the progress output and never stops a rollout.
type Notifier struct {
	URL string
	log *Progress
}

// notifyTimeout bounds one webhook post.
const notifyTimeout = 5 * time.Second

// Send posts one message.
func (n *Notifier) Send(text string) {
	if n == nil || n.URL == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		n.log.Printf("notify: %v", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.log.Printf("notify: %v", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		n.log.Printf("notify: webhook answered %s", resp.Status)
	}
}

// Sendf formats and posts one message.
func (n *Notifier) Sendf(format string, args ...any) { n.Send(fmt.Sprintf(format, args...)) }
