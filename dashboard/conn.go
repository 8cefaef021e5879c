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
// With Config.Authenticate the upgrade request carries the credential
// (?access_token=): 401 without a valid one. The connection is
// authenticated again every Config.Reauthenticate and closed with 1008
// (policy violation) once refused, e.g. after a logout.
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

	"github.com/streamhouse/streamhouse/router/auth"
)

// maxClientFrame bounds a frame from the browser.
const maxClientFrame = 4 << 10

// client is one connection as the poller sees it.
type client struct {
	refresh   atomic.Int64                   // the period in ns
	principal atomic.Pointer[auth.Principal] // who it acts as; renewed by reauthentication
	out       chan []byte                    // the snapshot not yet written: capacity 1
	sent      time.Time                      // the poller's own: when it last offered
}

func (cl *client) period() time.Duration { return time.Duration(cl.refresh.Load()) }

// who is the principal the client's snapshots are read as.
func (cl *client) who() auth.Principal { return *cl.principal.Load() }

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

// register adds cl unless the console stopped or is full, overall (503)
// or for cl's organization (429).
func (c *Console) register(cl *client) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tenant := cl.who().Tenant
	switch {
	case c.mu.stopped:
		return http.StatusServiceUnavailable, errors.New("the console is shutting down")
	case len(c.mu.clients) >= c.cfg.MaxClients:
		return http.StatusServiceUnavailable, fmt.Errorf("too many console connections (at most %d)", c.cfg.MaxClients)
	case c.mu.byTenant[tenant] >= c.cfg.MaxClientsPerTenant:
		return http.StatusTooManyRequests, fmt.Errorf("too many console connections for this organization (at most %d)", c.cfg.MaxClientsPerTenant)
	}
	c.mu.clients[cl] = struct{}{}
	c.mu.byTenant[tenant]++
	c.conns.Add(1)
	return 0, nil
}

// unregister removes cl. Its organization is the one it registered with:
// a reauthentication never moves a client to another (recheck).
func (c *Console) unregister(cl *client) {
	c.mu.Lock()
	delete(c.mu.clients, cl)
	tenant := cl.who().Tenant
	if c.mu.byTenant[tenant]--; c.mu.byTenant[tenant] <= 0 {
		delete(c.mu.byTenant, tenant)
	}
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
	p, err := c.authenticate(r)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, auth.ErrUnauthenticated) {
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		http.Error(w, "console: "+err.Error(), status)
		return
	}
	cl := &client{out: make(chan []byte, 1)}
	cl.principal.Store(&p)
	cl.refresh.Store(int64(c.cfg.DefaultRefresh))
	if status, err := c.register(cl); err != nil {
		http.Error(w, err.Error(), status)
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
	reauth := time.NewTicker(c.cfg.Reauthenticate)
	defer reauth.Stop()
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
		case <-reauth.C:
			if code, why := c.recheck(r, cl); code != 0 {
				closeCode, reason = code, why
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

// authenticate is Config.Authenticate, or the zero Principal without it.
func (c *Console) authenticate(r *http.Request) (auth.Principal, error) {
	if c.cfg.Authenticate == nil {
		return auth.Principal{}, nil
	}
	return c.cfg.Authenticate(r)
}

// recheck authenticates cl's request again and returns the close code and
// reason that end the connection, or 0: refused credentials end it, and so
// does a principal of another organization (its snapshots must not change
// hands); a failure to check (the registry is down) keeps the principal
// the connection had, so an outage does not drop every browser.
func (c *Console) recheck(r *http.Request, cl *client) (int, string) {
	p, err := c.authenticate(r)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return websocket.ClosePolicyViolation, "unauthenticated"
	case err != nil:
		c.cfg.Logger.Warn("console reauthentication", "remote", r.RemoteAddr, "err", err)
		return 0, ""
	case p.Tenant != cl.who().Tenant:
		return websocket.ClosePolicyViolation, "the credential now names another organization"
	}
	cl.principal.Store(&p)
	return 0, ""
}
