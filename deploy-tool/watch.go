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
)

// watchEvery is how often the balancers are read during the command.
const watchEvery = 200 * time.Millisecond

type commandWatch struct {
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	failed []string // what could not be taken out again
}

// watchCommand starts watching the batch taken out by o.
func (e *Engine) watchCommand(o *Outage, batch []ServerConfig) *commandWatch {
	w := &commandWatch{stop: make(chan struct{}), done: make(chan struct{})}
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

func (w *commandWatch) check(e *Engine, o *Outage, batch []ServerConfig) {
	// A balancer that cannot be read is left to the read before the up; the
	// others are still checked.
	snap, _ := e.cl.Read()
	var again []ServerConfig
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
	t0 := time.Now()
	e.log.Printf("WARNING: during the deploy command: %s is back in rotation (balancer reloaded?): taking it out again", strings.Join(where, "; "))
	err := o.markDown(again)
	if err == nil {
		err = e.cl.Park(again)
	}
	if err != nil {
		e.log.Printf("ERROR: during the deploy command: %s could not be taken out again: %v", strings.Join(where, "; "), err)
		w.mu.Lock()
		w.failed = append(w.failed, fmt.Sprintf("%s (%v)", strings.Join(where, "; "), err))
		w.mu.Unlock()
		return
	}
	e.log.Printf("taken out again in %dms (read back): %s", time.Since(t0).Milliseconds(), labels(again))
}

// Stop ends the watch; the error names what came back in rotation and
// could not be taken out again.
func (w *commandWatch) Stop() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failed) == 0 {
		return nil
	}
	return fmt.Errorf("during the deploy command, %s came back in rotation and could not be taken out again: requests sent to it while its command ran may have failed; rollout stopped after this batch", strings.Join(w.failed, "; "))
}
