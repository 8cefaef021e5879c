package router

// # Produce: GET /ws/produce?topic=NAME
//
// Every text frame is one produce request, in either form:
//
//	{"id": 7, "records": [{"key": "k1", "value": {...}}, ...]}   a batch: the HTTP body, plus an id
//	{"id": "a", "key": "k1", "value": "v", "partition": 2}         a single record, plus an id
//
// with the records exactly as POST /api/v1/topics/{topic}/records takes
// them (produce.go: fields, partitioning, limits; the same decoding code).
// "id" is optional, any JSON value, and echoed in the frame's ack. A binary
// frame is the wire Records encoding (ContentTypeBatch), partitioned by key
// or sent to ?partition=N of the URL; its ack has no id.
//
// An idempotent producer puts "producer_id", "producer_epoch" and
// "sequence" in a batch frame, as in the HTTP body (produce.go: all the
// frame's records in one partition; the sequence advances per partition by
// the records of each acked frame; resend a frame with the same values to
// get the same offsets):
//
//	{"id": 8, "producer_id": 42, "sequence": 3, "records": [{"value": "v", "partition": 0}]}
//
// A single-record frame and a binary frame cannot carry them (a binary
// frame's URL has no per-frame sequence: giving them in the URL refuses it).
//
// Every frame gets one ack, in frame order, whatever order the partition
// owners answer in:
//
//	{"id": 7, "offsets": [{"partition": 2, "offset": 41},
//	                      {"partition": 0, "error": {"code": "busy", "message": "..."}}],
//	 "error": {"code": "busy", "message": "1 of 2 partition batches failed; ..."}}
//
// offsets has one entry per record of the frame, as the HTTP answer's; the
// top-level error is there only if some partition batch failed. A frame
// refused whole (bad JSON, a limit, a partition that does not exist, the
// organization's quota: busy for a rate, forbidden, too_large) is acked
// {"id": ..., "error": {...}} without offsets (id if it could be read),
// nothing of it is written, and the connection goes on.
//
// Pipelining and back-pressure: the server reads up to WSConfig.MaxInFlight
// frames ahead and produces them concurrently; a frame's slot is freed when
// its ack is written. With MaxInFlight frames unacknowledged the server
// stops reading the socket, so a client that outruns the cell is held back
// by TCP, and a connection never holds more than MaxInFlight frames.
//
// A frame over Config.MaxRequestBytes ends the connection: the frames before
// it are acked, then the server closes with 1009. When the client closes,
// the frames it sent before are still produced and acked, then the server
// answers the close.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// errWSWrite cancels a connection whose writes failed.
var errWSWrite = errors.New("websocket: write failed")

func (s *wsServer) produce(w http.ResponseWriter, r *http.Request) {
	pr, err := s.rt.authorize(r, auth.ActProduce)
	if err != nil {
		s.rt.writeError(w, r, err)
		return
	}
	c := s.upgrade(w, r)
	if c == nil {
		return
	}
	defer c.Close()
	topic, err := s.wsTopic(r, pr.Tenant)
	if err != nil {
		s.fail(c, r, err)
		return
	}
	p := &wsProducer{s: s, rt: s.rt, c: c, r: r, tenant: pr.Tenant, topic: topic}
	p.run()
}

// wsProducer is one /ws/produce connection.
type wsProducer struct {
	s      *wsServer
	rt     *Router
	c      *websocket.Conn
	r      *http.Request
	tenant int64
	topic  registry.Topic
}

// wsFrame is a frame read and being produced; ack is set when done closes.
type wsFrame struct {
	done chan struct{}
	ack  []byte
}

func (p *wsProducer) run() {
	cfg := p.s.cfg
	ctx, cancel := context.WithCancelCause(p.r.Context())
	defer cancel(nil)
	// Unblock the reader when the connection's context ends.
	stop := context.AfterFunc(ctx, func() { _ = p.c.SetReadDeadline(time.Now()) })
	defer stop()

	var clientClose *websocket.CloseError
	p.c.SetCloseHandler(func(code int, text string) error {
		// Answered by the writer once the frames before are acked.
		clientClose = &websocket.CloseError{Code: code, Text: text}
		return nil
	})
	pongWait := 2 * cfg.PingInterval
	p.c.SetPongHandler(func(string) error { return p.c.SetReadDeadline(time.Now().Add(pongWait)) })

	slots := make(chan struct{}, cfg.MaxInFlight)
	queue := make(chan *wsFrame, cfg.MaxInFlight)
	var ending wsClose // set before queue is closed
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		p.write(ctx, cancel, queue, slots, &ending)
	}()

	var frames sync.WaitGroup
	limit := p.rt.cfg.MaxRequestBytes
	sendClose := true
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			ending = p.endOf(ctx, nil, nil)
			break
		}
		_ = p.c.SetReadDeadline(time.Now().Add(pongWait))
		mt, rd, err := p.c.NextReader()
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(rd, limit+1))
		}
		if err != nil {
			ending = p.endOf(ctx, err, clientClose)
			sendClose = false // the read side is done: no need to drain
			break
		}
		if int64(len(data)) > limit {
			ending = wsClose{code: websocket.CloseMessageTooBig,
				reason: fmt.Sprintf("frame over the %d-byte request limit", limit)}
			break
		}
		f := &wsFrame{done: make(chan struct{})}
		queue <- f // never blocks: a frame in queue holds a slot
		frames.Go(func() {
			defer close(f.done)
			f.ack = p.handle(ctx, mt, data)
		})
	}
	close(queue)
	<-writerDone
	if sendClose && ending.code != 0 && context.Cause(ctx) != errWSWrite {
		drain(p.c)
	}
	cancel(nil)
	frames.Wait()
}

// endOf says how to end after a read error err (nil: the context ended).
func (p *wsProducer) endOf(ctx context.Context, err error, clientClose *websocket.CloseError) wsClose {
	switch {
	case p.r.Context().Err() != nil:
		return wsClose{code: websocket.CloseGoingAway, reason: "server going away"}
	case ctx.Err() != nil: // a failed write: nothing can be sent
		return wsClose{}
	case clientClose != nil || errors.As(err, &clientClose):
		code := clientClose.Code
		if code == websocket.CloseNoStatusReceived || code == websocket.CloseAbnormalClosure {
			code = websocket.CloseNormalClosure
		}
		return wsClose{code: code}
	}
	return wsClose{} // the connection is broken or timed out
}

// write sends the acks in frame order, each once its frame is done, and
// pings; at the end, the close that ending says.
func (p *wsProducer) write(ctx context.Context, cancel context.CancelCauseFunc, queue <-chan *wsFrame, slots <-chan struct{}, ending *wsClose) {
	cfg := p.s.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	fail := func() {
		cancel(errWSWrite)
		for range queue { // let the reader finish; the frames' goroutines end with ctx
			<-slots
		}
	}
	for {
		var f *wsFrame
		select {
		case f = <-queue:
		case <-ping.C:
			if p.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)) != nil {
				fail()
				return
			}
			continue
		}
		if f == nil { // queue closed: all acked
			p.s.send(p.c, *ending)
			return
		}
	wait:
		for {
			select {
			case <-f.done:
				break wait
			case <-ping.C:
				if p.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)) != nil {
					<-slots
					fail()
					return
				}
			}
		}
		_ = p.c.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		err := p.c.WriteMessage(websocket.TextMessage, f.ack)
		<-slots
		if err != nil {
			fail()
			return
		}
	}
}

// handle produces one frame and returns its ack. The frame is one produce
// request for the quotas, admitted once its records are validated.
func (p *wsProducer) handle(ctx context.Context, mt int, data []byte) []byte {
	start := time.Now()
	acct := p.rt.deps.accounting()
	var plan *plan
	id, b, err := p.parseFrame(mt, data)
	if err == nil {
		err = p.rt.check(b, p.topic.Partitions)
	}
	if err == nil {
		err = p.rt.checkSchemas(ctx, p.tenant, p.topic.Name, b)
	}
	if err == nil {
		assignPartitions(b, p.topic.Partitions)
		plan = groupByPartition(b, p.tenant, p.topic.ID)
		err = acct.admitProduce(ctx, p.tenant, plan)
	}
	if err != nil {
		p.rt.deps.Metrics.wsFrame(wsProduceRoute, start, err)
		_, body := p.rt.errorOf(p.r, err)
		e, _ := json.Marshal(body)
		out := make([]byte, 0, 32+len(id)+len(e))
		out = append(out, '{')
		out = appendID(out, id)
		out = append(out, `"error":`...)
		out = append(out, e...)
		return append(out, '}')
	}
	pctx, cancel := context.WithTimeout(ctx, p.rt.cfg.ProduceTimeout)
	p.rt.send(pctx, plan)
	cancel()
	acct.produced(p.tenant, plan)
	p.rt.deps.Metrics.produced(p.topic.Name, plan)
	p.rt.deps.Metrics.wsFrame(wsProduceRoute, start, plan.firstErr())
	return p.ack(id, plan)
}

func appendID(out []byte, id json.RawMessage) []byte {
	if id == nil {
		return out
	}
	out = append(out, `"id":`...)
	out = append(out, id...)
	return append(out, ',')
}

// ack is writeProduceResponse's body, with the frame's id.
func (p *wsProducer) ack(id json.RawMessage, plan *plan) []byte {
	out := make([]byte, 0, 32+len(id)+len(plan.group)*32)
	out = append(out, '{')
	out = appendID(out, id)
	out, _ = p.rt.appendOffsets(out, p.r, plan)
	return append(out, '}')
}

// parseFrame decodes a frame: a batch ({"records":[...]}), a single record,
// or (binary) the wire Records encoding. id is the frame's "id", raw, if
// it was read before an error.
func (p *wsProducer) parseFrame(mt int, data []byte) (id json.RawMessage, b batch, err error) {
	if mt == websocket.BinaryMessage {
		if hasProducerQuery(p.r) {
			return nil, batch{}, wire.Errorf(wire.Invalid, "frame: a binary frame cannot be idempotent "+
				"(producer_id in the URL would give every frame the same sequence); use a batch frame")
		}
		b, err = p.rt.parseBinary(data, p.r)
		return nil, b, err
	}
	invalid := func(format string, args ...any) (json.RawMessage, batch, error) {
		return id, batch{}, wire.Errorf(wire.Invalid, "frame: "+format, args...)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		if err != nil {
			return invalid("%s", jsonMessage(err))
		}
		return invalid("want a JSON object")
	}
	var records json.RawMessage
	var idem bytes.Buffer   // the producer fields, `,"name":value` each, for the batch form
	var fields bytes.Buffer // the record's own fields, for the single-record form
	fields.WriteByte('{')
	var other string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return invalid("%s", jsonMessage(err))
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return invalid("%s: %s", key, jsonMessage(err))
		}
		switch key {
		case "id":
			if id != nil {
				return invalid(`"id" given twice`)
			}
			id = raw
		case "records":
			if records != nil {
				return invalid(`"records" given twice`)
			}
			records = raw
		case fieldProducerID, fieldProducerEpoch, fieldSequence:
			// parseJSON checks them (and repeats).
			fmt.Fprintf(&idem, ",%q:", key)
			idem.Write(raw)
		default:
			if other == "" {
				other = key
			}
			if fields.Len() > 1 {
				fields.WriteByte(',')
			}
			k, _ := json.Marshal(key)
			fields.Write(k)
			fields.WriteByte(':')
			fields.Write(raw)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return invalid("%s", jsonMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("data after the JSON object")
	}
	if records != nil {
		if other != "" {
			return invalid(`unknown field %q beside "records" (a batch frame has "records", "id", `+
				`"producer_id", "producer_epoch" and "sequence" only)`, other)
		}
		body := make([]byte, 0, len(records)+idem.Len()+16)
		body = append(body, `{"records":`...)
		body = append(body, records...)
		body = append(body, idem.Bytes()...)
		body = append(body, '}')
		b, err = p.rt.parseJSON(body, p.r)
		return id, b, err
	}
	if idem.Len() > 0 {
		return invalid(`producer_id, producer_epoch and sequence need a batch frame ({"records": [...], "producer_id": ...})`)
	}
	fields.WriteByte('}')
	rdec := json.NewDecoder(&fields)
	rdec.DisallowUnknownFields()
	var jr jsonRecord
	if err := rdec.Decode(&jr); err != nil {
		return invalid("record: %s", jsonMessage(err))
	}
	rec, part, err := jr.record()
	if err != nil {
		return invalid("record: %v", err)
	}
	return id, batch{recs: []wire.Record{rec}, parts: []int32{part}}, nil
}
