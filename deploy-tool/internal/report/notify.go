package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Notifier posts Slack-compatible messages ({"text": …}) to notify_webhook:
// on start, on each failure and at the end. A webhook that fails is reported
// on the progress output and never stops a rollout.
type Notifier struct {
	URL string
	Log *Progress
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
		n.Log.Printf("notify: notify_webhook is not a usable URL")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// A *url.Error names the whole URL, whose path is the secret.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		n.Log.Printf("notify: webhook %s://%s/…: %v", req.URL.Scheme, req.URL.Host, err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		n.Log.Printf("notify: webhook answered %s", resp.Status)
	}
}

// Sendf formats and posts one message.
func (n *Notifier) Sendf(format string, args ...any) { n.Send(fmt.Sprintf(format, args...)) }
