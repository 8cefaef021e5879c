package dashboard

// # The /ws/console protocol
//
// Server → client, text frames of JSON with a "type":
//
//	{"type":"hello","refresh_ms":2000,"min_refresh_ms":500,"max_refresh_ms":60000}
//	{"type":"snapshot", ...}                 a Snapshot, every refresh_ms
//	{"type":"settings","refresh_ms":1000}    the rate in force after a change
//	{"type":"error","message":"..."}         a client frame that was refused
//
// Client → server: {"refresh_ms": N}, clamped into [min, max]. Frames over
// 4 KiB close the connection (1009).
//
// Each connection holds at most one snapshot not yet written: a newer one
// replaces it, so a slow browser sees fresh state late rather than stale
// state forever, and the server's memory per client stays bounded.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// maxClientFrame bounds a frame from the browser.
const maxClientFrame = 4 << 10

// client is one connection as the poller sees it.
type client struct {
	refresh atomic.Int64 // the period in ns
	out     chan []byte  // the snapshot not yet written: capacity 1
	sent    time.Time    // the poller's own: when it last offered
}

func (cl *client) period() time.Duration { return time.Duration(cl.refresh.Load()) }

// offer queues frame, replacing a frame still waiting. Only the poller
// calls it, so the slot it frees stays free for its own send.
func (cl *client) offer(frame []byte) {
	select {
	case cl.out <- frame:
		return
	default:
	}
	select {
	case <-cl.out:
	default:
	}
	select {
	case cl.out <- frame:
	default:
	}
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode console event: %w", err)
	}
	return b, nil
}

// register adds cl unless the console stopped or is full.
func (c *Console) register(cl *client) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.mu.stopped:
		return errors.New("the console is shutting down")
	case len(c.mu.clients) >= c.cfg.MaxClients:
		return fmt.Errorf("too many console connections (at most %d)", c.cfg.MaxClients)
	}
	c.mu.clients[cl] = struct{}{}
	c.conns.Add(1)
	return nil
}

func (c *Console) unregister(cl *client) {
	c.mu.Lock()
	delete(c.mu.clients, cl)
	c.mu.Unlock()
	c.conns.Done()
}

// clamp bounds a requested refresh period.
func (c *Console) clamp(d time.Duration) time.Duration {
	return min(max(d, c.cfg.MinRefresh), c.cfg.MaxRefresh)
}

// serveWS runs one console connection: a reader goroutine for the
// client's settings, pings and close, and this goroutine writing.
func (c *Console) serveWS(w http.ResponseWriter, r *http.Request) {
	cl := &client{out: make(chan []byte, 1)}
	cl.refresh.Store(int64(c.cfg.DefaultRefresh))
	if err := c.register(cl); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer c.unregister(cl)
	conn, err := c.up.Upgrade(w, r, nil) // answers the refusal itself
	if err != nil {
		return
	}
	defer conn.Close()

	control := make(chan []byte, 8) // replies to the client's frames; dropped when full
	reply := func(v any) {
		if b, err := marshal(v); err == nil {
			select {
			case control <- b:
			default:
			}
		}
	}
	reply(map[string]any{"type": "hello", "refresh_ms": c.cfg.DefaultRefresh.Milliseconds(),
		"min_refresh_ms": c.cfg.MinRefresh.Milliseconds(), "max_refresh_ms": c.cfg.MaxRefresh.Milliseconds()})
	c.kick()

	pongWait := 2 * c.cfg.PingInterval
	conn.SetReadLimit(maxClientFrame)
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(pongWait))
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var req struct {
				RefreshMs *int64 `json:"refresh_ms"`
			}
			if err := json.Unmarshal(msg, &req); err != nil || req.RefreshMs == nil {
				reply(map[string]any{"type": "error", "message": `want {"refresh_ms": N}`})
				continue
			}
			d := c.clamp(time.Duration(*req.RefreshMs) * time.Millisecond)
			cl.refresh.Store(int64(d))
			reply(map[string]any{"type": "settings", "refresh_ms": d.Milliseconds()})
			c.kick()
		}
	}()

	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	closeCode, reason := websocket.CloseGoingAway, "server going away"
loop:
	for {
		var frame []byte
		select {
		case <-c.stop:
			break loop
		case <-r.Context().Done():
			break loop
		case <-readerDone:
			closeCode = 0 // the client left or broke the protocol: nothing to say
			break loop
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)) != nil {
				closeCode = 0
				break loop
			}
			continue
		case frame = <-control:
		case frame = <-cl.out:
		}
		_ = conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			c.cfg.Logger.Debug("console client write", "remote", r.RemoteAddr, "err", err)
			closeCode = 0
			break loop
		}
	}
	if closeCode != 0 {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, reason),
			time.Now().Add(c.cfg.WriteTimeout))
	}
	_ = conn.Close() // ends the reader's ReadMessage
	<-readerDone
}
