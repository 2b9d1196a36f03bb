package server

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// reloads is the goroutine that reloads on every signal of Config.Reload.
type reloads struct {
	quit, done chan struct{}
}

// startReloads runs every reloader, in order, each time sig receives,
// until stop. A failing reloader is logged and keeps its old value; the
// others still reload.
func startReloads(sig <-chan os.Signal, rs []Reloader, log *slog.Logger) *reloads {
	r := &reloads{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.quit:
				return
			case s, ok := <-sig:
				if !ok {
					sig = nil
					continue
				}
				failed := 0
				for _, rl := range rs {
					if err := rl.Reload(); err != nil {
						failed++
						log.Error("reload failed: keeping the old value", "err", err)
					}
				}
				log.Info("reloaded", "signal", signalName(s), "reloaders", len(rs), "failed", failed)
			}
		}
	}()
	return r
}

// stop ends the goroutine and waits for it (a reload under way finishes:
// each reads local files only).
func (r *reloads) stop() {
	close(r.quit)
	<-r.done
}

func signalName(s os.Signal) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// reloaders returns Config.Reloaders and, with ReloadKeys, the one that
// hands the reloaded keys to the store.
func (s *server) reloaders() []Reloader {
	rs := s.cfg.Reloaders
	if f := s.cfg.ReloadKeys; f != nil {
		rs = append(rs[:len(rs):len(rs)], ReloadFunc(func() error {
			trust, commits, err := f()
			if err != nil {
				return fmt.Errorf("signing keys: %w", err)
			}
			s.store.SetTrust(trust)
			s.store.SetCommits(commits)
			return nil
		}))
	}
	return rs
}

// tlsAddrs and operatorAddrs list the addresses of the TLS and of the
// operator listeners, for the start-up record.
func tlsAddrs(ls []Listener, addrs []string) string {
	var out []string
	for i, l := range ls {
		if l.TLS != nil {
			out = append(out, addrs[i])
		}
	}
	return strings.Join(out, ", ")
}

func operatorAddrs(ls []Listener, addrs []string) string {
	var out []string
	for i, l := range ls {
		if l.Operator {
			out = append(out, addrs[i])
		}
	}
	return strings.Join(out, ", ")
}
