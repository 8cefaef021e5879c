package router

// # Consume: GET /ws/consume?topic=NAME&partition=N&offset=earliest|latest|N
//
// A live tail of one partition: partition defaults to 0, offset to latest
// (only records written from now on). Every record is one text frame:
//
//	{"partition": 0, "offset": 41, "timestamp_ms": 1700000000000,
//	 "key": "k1", "value": "{\"amount\":3}", "headers": {"h": "v"}}
//
// key and value are strings when their bytes are valid UTF-8, else
// key_b64 / value_b64 (standard base64); null is no key / a tombstone.
// headers (absent when none) keep their order; if any header value is not
// UTF-8, they come as headers_b64 with every value in base64. Records are
// read by long-poll fetches through the Fetcher (WSConfig.ConsumeMaxWait,
// 5 s), until the client closes. Moving ownership (not_owner, unavailable,
// fenced, busy) is retried with back-off; any other error (the offset is out
// of range, the topic was deleted) is sent as {"error": ...} and closes the
// connection (4416, 4404, ...; see ws.go).
//
// Slow clients: fetched records wait in a buffer of WSConfig.ConsumeBuffer
// frames. The fetcher stops while it is full; if it stays full for
// WSConfig.ConsumeStallTimeout the server closes with 1013 (Try Again
// Later), reason "slow consumer: ... resume at offset N", N being the offset
// after the last record written to the socket. 1013 rather than 1008
// (Policy Violation): the client broke no rule by anything it sent (1008's
// meaning), and the right reaction is the one 1013 asks for: reconnect and
// go on from offset N, which the log still holds; nothing is lost. Frames
// from the client are read (for pings, pongs and the close) and ignored.
//
// Quotas: every poll is one fetch (Deps.Quotas.AdmitFetch before it); while
// the organization's fetch rate is spent the stream waits (the refusal's
// RetryAfter) and goes on, any other refusal closes it (4403). The records
// written to the socket are charged and metered per fetch.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Positions that a fetch resolves.
const (
	offsetEarliest = -1
	offsetLatest   = -2
)

// wsSlowConsumer cancels a connection whose buffer stayed full.
type wsSlowConsumer struct{ buffer int }

func (e *wsSlowConsumer) Error() string {
	return fmt.Sprintf("slow consumer: the %d-record send buffer stayed full", e.buffer)
}

// wsClientGone cancels a connection whose read side ended; clientClose is
// the client's close, if it sent one.
type wsClientGone struct{ clientClose *websocket.CloseError }

func (e *wsClientGone) Error() string { return "websocket: client gone" }

// wsOut is an item of the send buffer: a record's frame (its metered size,
// and whether it is the last of its fetch), or the close that ends the
// stream.
type wsOut struct {
	frame  []byte
	offset int64
	size   int64
	last   bool
	close  *wsClose
}

func (s *wsServer) consume(w http.ResponseWriter, r *http.Request) {
	p, err := s.rt.authorize(r, auth.ActConsume)
	if err == nil && s.rt.deps.Fetch == nil {
		err = wire.Errorf(wire.NotFound, "%s is not enabled on this router", r.URL.Path)
	}
	if err != nil {
		s.rt.writeError(w, r, err)
		return
	}
	c := s.upgrade(w, r)
	if c == nil {
		return
	}
	defer c.Close()
	tenant := p.Tenant
	topic, err := s.wsTopic(r, tenant)
	var part int32
	var pos int64
	if err == nil {
		part, pos, err = consumeParams(r, topic.Partitions)
	}
	if err != nil {
		s.fail(c, r, err)
		return
	}
	req := wire.FetchRequest{TenantID: tenant, TopicID: topic.ID, Partition: part, Offset: pos,
		MaxBytes: DefaultFetchMaxBytes, MaxWaitMs: int32(s.cfg.ConsumeMaxWait.Milliseconds())}
	s.stream(c, r, req)
}

func consumeParams(r *http.Request, partitions int32) (int32, int64, error) {
	q := r.URL.Query()
	part := int64(0)
	if q.Has("partition") {
		p, err := strconv.ParseInt(q.Get("partition"), 10, 32)
		if err != nil || p < 0 {
			return 0, 0, wire.Errorf(wire.Invalid, "query parameter partition=%q: want a partition number", q.Get("partition"))
		}
		part = p
	}
	if int32(part) >= partitions {
		return 0, 0, wire.Errorf(wire.Invalid, "partition %d does not exist (the topic has %d: 0 to %d)", part, partitions, partitions-1)
	}
	pos := int64(offsetLatest)
	switch o := q.Get("offset"); o {
	case "", "latest":
	case "earliest":
		pos = offsetEarliest
	default:
		n, err := strconv.ParseInt(o, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, wire.Errorf(wire.Invalid, "query parameter offset=%q: want earliest, latest or an offset", o)
		}
		pos = n
	}
	return int32(part), pos, nil
}

// stream runs a consume connection: a reader for control frames, a fetcher
// filling the buffer, and this goroutine writing it.
func (s *wsServer) stream(c *websocket.Conn, r *http.Request, req wire.FetchRequest) {
	cfg := s.cfg
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)

	pongWait := 2 * cfg.PingInterval
	c.SetReadLimit(4 << 10)
	c.SetCloseHandler(func(int, string) error { return nil }) // answered below
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongWait)) })
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_ = c.SetReadDeadline(time.Now().Add(pongWait))
			if _, _, err := c.NextReader(); err != nil {
				gone := &wsClientGone{}
				errors.As(err, &gone.clientClose)
				cancel(gone)
				return
			}
		}
	}()

	out := make(chan wsOut, cfg.ConsumeBuffer)
	fetcherDone := make(chan struct{})
	go func() {
		defer close(fetcherDone)
		s.fetchLoop(ctx, cancel, r, req, out)
	}()

	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	next := req.Offset // after the last record written
	// What was written since the last fetch's end is booked per fetch (and
	// at the end): only what reached the socket counts as served.
	acct := s.rt.deps.accounting()
	var served, servedBytes int64
	defer func() { acct.served(req.TenantID, served, servedBytes) }()
	var end wsClose
loop:
	for {
		if ctx.Err() != nil { // before any buffered frame: a slow client is not waited for
			end = s.consumeEnd(ctx, r, next)
			break
		}
		select {
		case <-ctx.Done():
		case <-ping.C:
			if c.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)) != nil {
				break loop
			}
		case o := <-out:
			if o.close != nil {
				end = *o.close
				break loop
			}
			_ = c.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if c.WriteMessage(websocket.TextMessage, o.frame) != nil {
				break loop
			}
			next = o.offset + 1
			served, servedBytes = served+1, servedBytes+o.size
			if o.last {
				acct.served(req.TenantID, served, servedBytes)
				served, servedBytes = 0, 0
			}
		}
	}
	s.send(c, end)
	cancel(nil)
	<-fetcherDone
	if end.code == 0 { // nothing sent: no answer to wait for
		_ = c.Close()
	}
	select { // the reader returns on the client's answer to our close
	case <-readerDone:
	case <-time.After(wsCloseGrace):
		_ = c.Close()
		<-readerDone
	}
}

// consumeEnd is the close for the cause of ctx's end.
func (s *wsServer) consumeEnd(ctx context.Context, r *http.Request, next int64) wsClose {
	var slow *wsSlowConsumer
	var gone *wsClientGone
	switch cause := context.Cause(ctx); {
	case r.Context().Err() != nil:
		return wsClose{code: websocket.CloseGoingAway, reason: "server going away"}
	case errors.As(cause, &slow):
		reason := fmt.Sprintf("slow consumer: buffer full for %v", s.cfg.ConsumeStallTimeout)
		if next >= 0 {
			reason += fmt.Sprintf("; resume at offset %d", next)
		}
		return wsClose{code: websocket.CloseTryAgainLater, reason: reason}
	case errors.As(cause, &gone) && gone.clientClose != nil:
		return wsClose{code: websocket.CloseNormalClosure}
	}
	return wsClose{}
}

// fetchLoop fetches from req.Offset on (resolving earliest and latest
// first) and fills out until ctx ends or an error that retrying cannot
// help, which it sends as the stream's close.
func (s *wsServer) fetchLoop(ctx context.Context, cancel context.CancelCauseFunc, r *http.Request, req wire.FetchRequest, out chan<- wsOut) {
	stall := time.NewTimer(time.Hour)
	stall.Stop()
	push := func(o wsOut) bool {
		select {
		case out <- o:
			return true
		default:
		}
		stall.Reset(s.cfg.ConsumeStallTimeout)
		defer stall.Stop()
		select {
		case out <- o:
			return true
		case <-stall.C:
			cancel(&wsSlowConsumer{buffer: cap(out)})
		case <-ctx.Done():
		}
		return false
	}
	backoff := time.Duration(0)
	topic := r.URL.Query().Get("topic") // checked by wsTopic: the metrics' label
	acct := s.rt.deps.accounting()
	for ctx.Err() == nil {
		var resp *wire.FetchResponse
		err := acct.admitFetch(ctx, req.TenantID)
		if wait, ok := retryAfter(err); ok { // the fetch rate is spent: wait, as a Kafka consumer is throttled
			select {
			case <-time.After(max(wait, 10*time.Millisecond)):
			case <-ctx.Done():
			}
			continue
		}
		if err == nil { // else another refusal (closes) or a failed check (retried)
			resp, err = s.fetchOnce(ctx, &req)
		}
		if err != nil {
			code, _, _ := codeOf(err)
			if ctx.Err() != nil {
				return
			}
			switch code {
			case wire.NotOwner, wire.Unavailable, wire.Fenced, wire.Busy:
				backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			cl := s.errorClose(r, err)
			push(wsOut{close: &cl})
			return
		}
		backoff = 0
		s.rt.deps.Metrics.fetched(topic, len(resp.Records), fetchedBytes(resp.Records))
		for i := range resp.Records {
			rec := &resp.Records[i]
			if !push(wsOut{frame: recordFrame(req.Partition, rec), offset: rec.Offset,
				size: int64(rec.Size()), last: i == len(resp.Records)-1}) {
				return
			}
			req.Offset = rec.Offset + 1
		}
		if resp.NextOffset > req.Offset {
			req.Offset = resp.NextOffset
		}
	}
}

// fetchOnce makes one fetch, or, while the position is earliest or latest,
// resolves it (req.Offset is then set and resp is empty).
func (s *wsServer) fetchOnce(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	f := *req
	if req.Offset < 0 { // resolve: an answer at once, of one record at most
		f.Offset, f.MaxBytes, f.MaxWaitMs = 0, 1, 0
	}
	fctx, cancel := context.WithTimeout(ctx, time.Duration(f.MaxWaitMs)*time.Millisecond+s.rt.cfg.ProduceTimeout)
	defer cancel()
	resp, err := s.rt.deps.Fetch.Fetch(fctx, &f)
	switch {
	case err != nil:
		return nil, err
	case resp == nil:
		return nil, errors.New("fetcher returned neither a response nor an error")
	case req.Offset == offsetLatest && (resp.Code == wire.OK || resp.Code == wire.OutOfRange):
		req.Offset = resp.HighWatermark
		return &wire.FetchResponse{}, nil
	case req.Offset == offsetEarliest && resp.Code == wire.OK:
		req.Offset = 0
		return &wire.FetchResponse{}, nil
	case req.Offset == offsetEarliest && resp.Code == wire.OutOfRange:
		req.Offset = resp.LogStartOffset
		return &wire.FetchResponse{}, nil
	case resp.Code != wire.OK:
		return nil, resp.Err()
	}
	return resp, nil
}

// recordFrame is a record's JSON text frame.
func recordFrame(part int32, rec *wire.FetchedRecord) []byte {
	out := make([]byte, 0, 96+rec.Size()*2)
	out = append(out, `{"partition":`...)
	out = strconv.AppendInt(out, int64(part), 10)
	out = append(out, `,"offset":`...)
	out = strconv.AppendInt(out, rec.Offset, 10)
	out = append(out, `,"timestamp_ms":`...)
	out = strconv.AppendInt(out, rec.Timestamp, 10)
	out = appendBytesField(out, "key", rec.Key)
	out = appendBytesField(out, "value", rec.Value)
	if len(rec.Headers) > 0 {
		b64 := false
		for _, h := range rec.Headers {
			if !utf8.Valid(h.Value) {
				b64 = true
				break
			}
		}
		if b64 {
			out = append(out, `,"headers_b64":{`...)
		} else {
			out = append(out, `,"headers":{`...)
		}
		for i, h := range rec.Headers {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, h.Key)
			out = append(out, ':')
			switch {
			case h.Value == nil:
				out = append(out, "null"...)
			case b64:
				out = appendJSONString(out, base64.StdEncoding.EncodeToString(h.Value))
			default:
				out = appendJSONString(out, string(h.Value))
			}
		}
		out = append(out, '}')
	}
	return append(out, '}')
}

// appendBytesField appends ,"name":"text" (UTF-8), ,"name_b64":"..." or
// ,"name":null.
func appendBytesField(out []byte, name string, b []byte) []byte {
	out = append(out, ',', '"')
	out = append(out, name...)
	switch {
	case b == nil:
		return append(out, `":null`...)
	case utf8.Valid(b):
		out = append(out, `":`...)
		return appendJSONString(out, string(b))
	}
	out = append(out, `_b64":`...)
	return appendJSONString(out, base64.StdEncoding.EncodeToString(b))
}

func appendJSONString(out []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string cannot fail
	return append(out, b...)
}
