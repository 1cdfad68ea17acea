package main

// While the deploy command runs, the balancers are read about every 200 ms:
// a server of the batch found back in rotation (an nginx reload puts every
// server back as its config file says) is taken out again at once, with a
// WARNING. If it cannot be, the rollout stops once the command has ended.

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
)

// watchEvery is how often the balancers are read during the command.
const watchEvery = 200 * time.Millisecond

type commandWatch struct {
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	failed map[string]string // what could not be taken out again → why
	order  []string
}

// watchCommand starts watching the batch taken out by o.
func (e *Engine) watchCommand(o *outage.Outage, batch []config.Server) *commandWatch {
	w := &commandWatch{stop: make(chan struct{}), done: make(chan struct{}), failed: map[string]string{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			w.check(e, o, batch)
		}
	}()
	return w
}

func (w *commandWatch) check(e *Engine, o *outage.Outage, batch []config.Server) {
	// A balancer that cannot be read is left to the read before the up; the
	// others are still checked.
	snap, _ := e.cl.Read()
	var again []config.Server
	var where []string
	for _, s := range batch {
		if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
			again = append(again, s)
			where = append(where, s.Addr+" on "+strings.Join(up, ", "))
		}
	}
	if len(again) == 0 {
		return
	}
	what := strings.Join(where, "; ")
	w.mu.Lock()
	_, known := w.failed[what]
	w.mu.Unlock()
	t0 := time.Now()
	if !known {
		e.log.Printf("WARNING: during the deploy command: %s is back in rotation (balancer reloaded?): taking it out again", what)
	}
	if err := o.TakeDownAgain(again); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !known {
			e.log.Printf("ERROR: during the deploy command: %s could not be taken out again (trying again every %v): %v", what, watchEvery, err)
			w.order = append(w.order, what)
		}
		w.failed[what] = err.Error()
		return
	}
	if known {
		w.mu.Lock()
		delete(w.failed, what)
		w.mu.Unlock()
	}
	e.log.Printf("taken out again in %v (read back): %s", time.Since(t0).Round(100*time.Microsecond), config.Labels(again))
}

// Stop ends the watch; the error names what came back in rotation and
// could not be taken out again.
func (w *commandWatch) Stop() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var msgs []string
	for _, what := range w.order {
		if why, ok := w.failed[what]; ok {
			msgs = append(msgs, what+" ("+why+")")
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("during the deploy command, %s came back in rotation and could not be taken out again: requests sent to it while its command ran may have failed; rollout stopped after this batch", strings.Join(msgs, "; "))
}
