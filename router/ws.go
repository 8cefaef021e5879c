package router

// # WebSocket: /ws/produce and /ws/consume
//
// Both endpoints take the topic as a query parameter (?topic=NAME) and act
// as the principal Config.Authenticate returns for the upgrade request
// (member at least). Authentication and the role are checked before the
// upgrade: a refusal is an HTTP 401 (with WWW-Authenticate) or 403 with the
// API's error shape, and no connection is opened. Quotas apply per frame
// (produce) and per poll (consume), as on the HTTP API; see ws_produce.go
// and ws_consume.go. A plain HTTP request (no upgrade) is answered 426
// with the API's error shape; an
// Origin that is neither the request's own host nor one of
// WSConfig.AllowedOrigins is a 403 (a request without an Origin header, from
// a program rather than a browser, is allowed).
//
// Errors that end a connection (unknown topic, bad parameters, a fetch that
// cannot go on) are sent twice: first as a text frame
// {"error":{"code","message"}} with the whole message, then as the close
// frame's status and reason (the reason is cut to the 123 bytes a close
// frame can carry). The close status is the error table's WebSocket column:
// 4000 + the HTTP status of the code (4400 invalid, 4401, 4403, 4404 topic
// not found, 4413, 4416 out of range, 4503 ...), and 1011 for internal
// errors. Other closes: 1000 answers the client's own close, 1001 when the
// request's context ends (the server is going away), 1009 for a frame over
// the request limit (produce), 1013 for a consumer that does not keep up
// (consume; see ws_consume.go).
//
// The server pings every WSConfig.PingInterval; a connection from which
// nothing (not even a pong) arrives for two intervals while the server
// reads is closed. Every write has WSConfig.WriteTimeout: a client that
// stops reading altogether is dropped.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// Defaults of WSConfig.
const (
	DefaultWSMaxInFlight         = 64
	DefaultWSPingInterval        = 30 * time.Second
	DefaultWSWriteTimeout        = 10 * time.Second
	DefaultWSConsumeBuffer       = 256
	DefaultWSConsumeStallTimeout = 10 * time.Second
	DefaultWSConsumeMaxWait      = 5 * time.Second
)

// wsCloseGrace bounds the wait for the client's answer to our close frame.
const wsCloseGrace = 2 * time.Second

// WSConfig configures the WebSocket endpoints; zero (or negative) fields
// take the defaults.
type WSConfig struct {
	// MaxInFlight is the most /ws/produce frames of one connection read and
	// not yet acknowledged. When that many are in flight the server stops
	// reading the socket, and TCP pushes back on the client. The default is
	// 64. A connection holds at most MaxInFlight frames of at most
	// Config.MaxRequestBytes each.
	MaxInFlight int
	// AllowedOrigins are Origin header values (scheme://host[:port]) allowed
	// besides the request's own host; "*" allows any origin.
	AllowedOrigins []string
	// PingInterval is the keepalive ping period. The default is 30 s.
	PingInterval time.Duration
	// WriteTimeout bounds every write to the client. The default is 10 s.
	WriteTimeout time.Duration
	// ConsumeBuffer is the most /ws/consume records fetched and not yet
	// written to the socket. The default is 256.
	ConsumeBuffer int
	// ConsumeStallTimeout is how long the consume buffer may stay full
	// before the slow client is closed with 1013. The default is 10 s.
	ConsumeStallTimeout time.Duration
	// ConsumeMaxWait is the long-poll wait of each fetch. The default is 5 s.
	ConsumeMaxWait time.Duration
}

func (c WSConfig) withDefaults() WSConfig {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultWSMaxInFlight
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultWSPingInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWSWriteTimeout
	}
	if c.ConsumeBuffer <= 0 {
		c.ConsumeBuffer = DefaultWSConsumeBuffer
	}
	if c.ConsumeStallTimeout <= 0 {
		c.ConsumeStallTimeout = DefaultWSConsumeStallTimeout
	}
	if c.ConsumeMaxWait <= 0 {
		c.ConsumeMaxWait = DefaultWSConsumeMaxWait
	}
	return c
}

// wsServer serves the WebSocket endpoints of a Router.
type wsServer struct {
	rt  *Router
	cfg WSConfig
	up  websocket.Upgrader
}

func newWSServer(rt *Router) *wsServer {
	s := &wsServer{rt: rt, cfg: rt.cfg.WebSocket.withDefaults()}
	s.up = websocket.Upgrader{
		HandshakeTimeout: s.cfg.WriteTimeout,
		CheckOrigin:      s.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := wire.Invalid
			if status == http.StatusForbidden {
				code = wire.Forbidden
			}
			rt.writeError(w, r, &statusError{status: status, err: wire.Errorf(code, "websocket: %s", strings.TrimPrefix(reason.Error(), "websocket: "))})
		},
	}
	return s
}

// checkOrigin allows no Origin, the request's own host, and the configured
// origins.
func (s *wsServer) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}

// upgrade answers a request that is no upgrade with 426, else upgrades.
func (s *wsServer) upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	if !websocket.IsWebSocketUpgrade(r) {
		s.rt.writeError(w, r, &statusError{status: http.StatusUpgradeRequired,
			err: wire.Errorf(wire.Invalid, "%s is a WebSocket endpoint: send GET with Connection: Upgrade and Upgrade: websocket", r.URL.Path)})
		return nil
	}
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrader.Error has answered
	}
	return c
}

// wsTopic resolves the ?topic= of a request in the tenant.
func (s *wsServer) wsTopic(r *http.Request, tenant int64) (registry.Topic, error) {
	q := r.URL.Query()
	if !q.Has("topic") {
		return registry.Topic{}, wire.Errorf(wire.Invalid, "query parameter topic is required")
	}
	name := q.Get("topic")
	if err := registry.ValidateName(name); err != nil {
		return registry.Topic{}, wire.Errorf(wire.Invalid, "topic: %s", trimSentinel(err, registry.ErrInvalid))
	}
	return s.rt.admin().lookupTopic(r.Context(), tenant, name, true)
}

// wsClose is how a connection ends: a close frame with code and reason,
// preceded by frame if set. code 0 sends nothing (the transport is gone).
type wsClose struct {
	code   int
	reason string
	frame  []byte
}

// wsCloseCode is the WebSocket column of the error table (errors.go).
func wsCloseCode(c wire.Code) int {
	if c == wire.Internal {
		return websocket.CloseInternalServerErr
	}
	return 4000 + statusFor(c)
}

// errorClose classifies err through the error table into the close that
// reports it.
func (s *wsServer) errorClose(r *http.Request, err error) wsClose {
	_, body := s.rt.errorOf(r, err)
	code, _ := wire.ParseCode(body.Code)
	frame, _ := json.Marshal(struct {
		Error apiError `json:"error"`
	}{body})
	return wsClose{code: wsCloseCode(code), reason: body.Code + ": " + body.Message, frame: frame}
}

// send writes cl (its frame, then the close frame), ignoring errors: the
// client may be gone.
func (s *wsServer) send(c *websocket.Conn, cl wsClose) {
	if cl.code == 0 {
		return
	}
	if cl.frame != nil {
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_ = c.WriteMessage(websocket.TextMessage, cl.frame)
	}
	msg := websocket.FormatCloseMessage(cl.code, closeReason(cl.reason))
	if cl.code == websocket.CloseNoStatusReceived {
		msg = []byte{}
	}
	_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout))
}

// drain reads (and discards) until the client answers our close or
// wsCloseGrace passes, so that closing the socket with unread input does not
// reset the connection under frames the client has yet to read.
func drain(c *websocket.Conn) {
	c.SetCloseHandler(func(int, string) error { return nil })
	_ = c.SetReadDeadline(time.Now().Add(wsCloseGrace))
	for {
		if _, _, err := c.NextReader(); err != nil {
			return
		}
	}
}

// fail ends a connection that has not started with err.
func (s *wsServer) fail(c *websocket.Conn, r *http.Request, err error) {
	s.send(c, s.errorClose(r, err))
	drain(c)
}

// closeReason cuts a reason to the 123 bytes a close frame carries, on a
// rune boundary.
func closeReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
