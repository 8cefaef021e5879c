package router

// # Produce: POST /api/v1/topics/{topic}/records
//
// JSON (Content-Type application/json, or none):
//
//	{"records": [
//	  {"key": "k1", "value": {"amount": 3}, "headers": {"h": "v"}, "partition": 2, "timestamp": 1700000000000},
//	  {"value": "plain text"},
//	  {"key_b64": "AAEC", "value_b64": "3q2+7w=="}
//	]}
//
//   - value (required): any JSON. A string is stored as its text (without
//     the quotes, escapes resolved); an object, array, number or boolean as
//     its JSON text, as sent; null is a tombstone (a nil value, which a
//     compacted topic reads as "delete the key").
//   - value_b64 instead of value: the bytes, in standard base64 with padding
//     (RFC 4648 §4); null is a tombstone. Base64 is said per record, by the
//     field's name, so one request can mix text and binary records and no
//     mode changes the meaning of another field. Giving both is a 400.
//   - key (optional): a string, stored as its UTF-8 bytes; key_b64 instead
//     for binary keys. Absent or null is "no key"; "" is an empty key, which
//     is hashed like any other (as Kafka does).
//   - headers (optional): an object of string (or null) values; the order
//     is kept as written, and so are repeated keys.
//   - partition (optional): an explicit partition, 0 <= p < the topic's
//     partition count.
//   - timestamp (optional): milliseconds since the Unix epoch; absent or 0
//     lets the broker set it. Negative is a 400.
//   - Unknown fields are a 400: a misspelt "partiton" must not silently
//     send the record elsewhere.
//
// Binary (Content-Type application/vnd.streamhouse.batch): the body is the
// wire Records encoding (wire.AppendRecords; see package wire for the
// format), for high-rate clients. The query parameter partition=N sends all
// records to partition N; without it, records are partitioned by key as
// below.
//
// Idempotence (as Kafka's idempotent producer; sequences are per producer
// per partition). A JSON body may carry, beside "records":
//
//	{"producer_id": 8123456789, "producer_epoch": 0, "sequence": 0,
//	 "records": [{"value": "a", "partition": 0}, {"value": "b", "partition": 0}]}
//
//   - producer_id: an int64 >= 0. Pick a random one per producer instance
//     (e.g. a random 63-bit number when the producer starts), never
//     shared by two producers that run at once. Absent (or null) means not
//     idempotent, as before.
//   - producer_epoch: an int16 >= 0, default 0. A batch with an older epoch
//     than the partition has seen is refused with 409 producer_fenced.
//   - sequence (required with producer_id): an int32 >= 0, the sequence of
//     the batch's first record in its partition. Start at 0 for each
//     partition and, after each acknowledged batch, advance by its record
//     count (3 records at sequence 0: the next batch is sequence 3).
//   - All records of the request must go to one partition: every record
//     gives the same explicit "partition"; otherwise the request is a 400.
//     A binary body gives the three as query parameters producer_id,
//     producer_epoch and sequence, with partition=N required.
//
// After a timeout, a 503 (or any answer that leaves it unknown whether the
// batch was written), resend the very same batch with the same producer_id,
// epoch and sequence: if it was written, the answer is its first write's
// offsets and nothing is written twice (the partition remembers the last 5
// batches of each producer). A sequence past the next expected one is a 409
// sequence_gap (a batch before it was lost: nothing of this one is
// written).
//
// Partitioning: see partitioner.go (explicit, else Kafka's murmur2 of the
// key, else sticky per request). Records are grouped per partition, keeping
// their order, into one wire.ProduceRequest per partition; the batches are
// sent concurrently (at most Config.ProduceConcurrency at once).
//
// Limits: a record's key + value + headers over Config.MaxRecordBytes (1
// MiB), a body over Config.MaxRequestBytes (8 MiB) or more records than
// Config.MaxRequestRecords (100,000) is a 413 naming the limit. Every check
// (JSON, limits, partitions, schemas, then the organization's quota,
// Deps.Quotas) is made before anything is sent: a refused request writes
// nothing. Deps.Usage meters what the owners acknowledged, per batch.
//
// Success: 200 {"offsets": [{"partition": 2, "offset": 41}, ...]}, one entry
// per record in the order of the request.
//
// Partial failure. A request spanning several partitions cannot be atomic:
// each partition's batch succeeds or fails on its own, as the batches of a
// Kafka producer do. If any batch failed, the status is the highest of the
// failed batches' statuses (e.g. 429 for busy, 503 for a moving owner, 500),
// and the body is
//
//	{"offsets": [{"partition": 2, "offset": 41},
//	             {"partition": 0, "error": {"code": "busy", "message": "..."}}, ...],
//	 "error": {"code": "busy", "message": "1 of 2 partition batches failed: ..."}}
//
// Every record still has its entry, in request order: an offset if its
// partition's batch was written, an error if not (with "unavailable" it may
// or may not have been). A client that only looks at the status retries the
// whole request and duplicates the written records (Kafka's at-least-once,
// without idempotence); one that reads the entries resends only the records
// with an error, as a Kafka producer retries only its failed batches.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// ContentTypeBatch is the media type of a binary produce body: the wire
// Records encoding.
const ContentTypeBatch = "application/vnd.streamhouse.batch"

// noPartition marks a record without an explicit partition.
const noPartition = -1

// jsonRecord keeps key and value raw, so that null, absent, strings and
// other JSON can be told apart after decoding, and a string without escapes
// is used in place, without a second copy.
type jsonRecord struct {
	Key       json.RawMessage `json:"key"`
	KeyB64    json.RawMessage `json:"key_b64"`
	Value     json.RawMessage `json:"value"`
	ValueB64  json.RawMessage `json:"value_b64"`
	Headers   jsonHeaders     `json:"headers"`
	Partition *int32          `json:"partition"`
	Timestamp int64           `json:"timestamp"`
}

// jsonHeaders decodes a JSON object into ordered headers, keeping the order
// and repeated keys.
type jsonHeaders []wire.Header

func (h *jsonHeaders) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("headers: want an object of strings")
	}
	var out []wire.Header
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("headers: %w", err)
		}
		key, _ := t.(string) // object keys are always strings
		var v *string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("header %q: want a string or null", key)
		}
		hd := wire.Header{Key: key}
		if v != nil {
			hd.Value = []byte(*v)
		}
		out = append(out, hd)
	}
	*h = out
	return nil
}

// batch is a parsed produce request: its records, for each the explicit
// partition or noPartition, and the idempotent producer's fields if any.
type batch struct {
	recs  []wire.Record
	parts []int32
	idem  *idempotence // nil: not idempotent (wire.NoProducer is sent)
}

// idempotence is an idempotent producer's batch identity (see the top of
// this file).
type idempotence struct {
	producerID int64
	epoch      int16
	sequence   int32
}

// The names of the idempotence fields, in a JSON body and in the query.
const (
	fieldProducerID    = "producer_id"
	fieldProducerEpoch = "producer_epoch"
	fieldSequence      = "sequence"
)

// idempotenceOf checks the fields as given (nil: absent) and returns nil if
// none is.
func idempotenceOf(id, epoch, seq *int64) (*idempotence, error) {
	switch {
	case id == nil && (epoch != nil || seq != nil):
		return nil, errors.New("producer_epoch and sequence need a producer_id")
	case id == nil:
		return nil, nil
	case *id < 0:
		return nil, fmt.Errorf("producer_id %d is negative (want 0 or more; leave it out for a producer that is not idempotent)", *id)
	case seq == nil:
		return nil, errors.New("sequence missing: an idempotent batch (producer_id) needs the sequence of its first record")
	case *seq < 0 || *seq > math.MaxInt32:
		return nil, fmt.Errorf("sequence %d: want 0 to %d", *seq, math.MaxInt32)
	case epoch != nil && (*epoch < 0 || *epoch > math.MaxInt16):
		return nil, fmt.Errorf("producer_epoch %d: want 0 to %d", *epoch, math.MaxInt16)
	}
	idem := &idempotence{producerID: *id, sequence: int32(*seq)}
	if epoch != nil {
		idem.epoch = int16(*epoch)
	}
	return idem, nil
}

// hasProducerQuery reports whether the URL gives any idempotence field.
func hasProducerQuery(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has(fieldProducerID) || q.Has(fieldProducerEpoch) || q.Has(fieldSequence)
}

// producerQuery parses the idempotence fields of a binary request's query.
func producerQuery(r *http.Request) (*idempotence, error) {
	q := r.URL.Query()
	var vals [3]*int64
	for i, name := range []string{fieldProducerID, fieldProducerEpoch, fieldSequence} {
		if !q.Has(name) {
			continue
		}
		v, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil {
			return nil, wire.Errorf(wire.Invalid, "query parameter %s=%q: want an integer", name, q.Get(name))
		}
		vals[i] = &v
	}
	idem, err := idempotenceOf(vals[0], vals[1], vals[2])
	if err != nil {
		return nil, wire.Errorf(wire.Invalid, "query: %v", err)
	}
	return idem, nil
}

func (rt *Router) produce(w http.ResponseWriter, r *http.Request) {
	pr, topic, err := rt.dataTopic(r, auth.ActProduce)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var parse func(rt *Router, body []byte, r *http.Request) (batch, error)
	switch ct := mediaType(r.Header.Get("Content-Type")); ct {
	case "", "application/json":
		parse = (*Router).parseJSON
	case ContentTypeBatch:
		parse = (*Router).parseBinaryRequest
	default:
		rt.writeError(w, r, &statusError{status: http.StatusUnsupportedMediaType,
			err: wire.Errorf(wire.Invalid, "Content-Type %q: want application/json or %s", ct, ContentTypeBatch)})
		return
	}
	body, err := readBody(w, r, rt.cfg.MaxRequestBytes)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	b, err := parse(rt, body, r)
	if err == nil {
		err = rt.check(b, topic.Partitions)
	}
	if err == nil {
		err = rt.checkSchemas(r.Context(), pr.Tenant, topic.Name, b)
	}
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	assignPartitions(b, topic.Partitions)
	p := groupByPartition(b, pr.Tenant, topic.ID)
	acct := rt.deps.accounting()
	if err := acct.admitProduce(r.Context(), pr.Tenant, p); err != nil {
		rt.writeError(w, r, err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), rt.cfg.ProduceTimeout)
	defer cancel()
	rt.send(ctx, p)
	acct.produced(pr.Tenant, p)
	rt.deps.Metrics.produced(topic.Name, p)
	rt.writeProduceResponse(w, r, p)
}

// mediaType returns the media type of a Content-Type value, lower-cased,
// without parameters.
func mediaType(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

// readBody reads the whole body, refusing one over limit before reading it
// when its length is declared.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	size := int64(bytes.MinRead)
	if r.ContentLength > 0 {
		size += r.ContentLength // room to read EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}

// parseJSON decodes {"records": [...]} one record at a time, so that the
// record count limit holds while decoding and each record is converted as
// it comes.
func (rt *Router) parseJSON(body []byte, r *http.Request) (batch, error) {
	midMessage := func(err error) string { // after the first token, EOF is a cut
		if errors.Is(err, io.EOF) {
			return "truncated JSON"
		}
		return jsonMessage(err)
	}
	invalid := func(format string, args ...any) (batch, error) {
		return batch{}, wire.Errorf(wire.Invalid, "request body: "+format, args...)
	}
	if r != nil && hasProducerQuery(r) {
		return batch{}, wire.Errorf(wire.Invalid, "producer_id, producer_epoch and sequence go in the JSON body, not the query")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		if err != nil {
			return invalid("%s", jsonMessage(err))
		}
		return invalid("want a JSON object")
	}
	var b batch
	var idem [3]*int64 // producer_id, producer_epoch, sequence
	var idemSeen [3]bool
	seen := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return invalid("%s", midMessage(err))
		}
		if i := slices.Index([]json.Token{fieldProducerID, fieldProducerEpoch, fieldSequence}, t); i >= 0 {
			if idemSeen[i] {
				return invalid("%q given twice", t)
			}
			idemSeen[i] = true
			if err := dec.Decode(&idem[i]); err != nil {
				return invalid("%s: %s", t, midMessage(err))
			}
			continue
		}
		if t != "records" {
			return invalid("json: unknown field %q", t)
		}
		if seen {
			return invalid(`"records" given twice`)
		}
		seen = true
		if t, err = dec.Token(); err != nil {
			return invalid("%s", midMessage(err))
		}
		if t == nil { // "records": null
			continue
		}
		if t != json.Delim('[') {
			return invalid("records: want an array")
		}
		for i := 0; dec.More(); i++ {
			if i == rt.cfg.MaxRequestRecords {
				return batch{}, wire.Errorf(wire.TooLarge, "more than %d records, the per-request limit", rt.cfg.MaxRequestRecords)
			}
			var jr jsonRecord
			if err := dec.Decode(&jr); err != nil {
				return invalid("record %d: %s", i, midMessage(err))
			}
			rec, part, err := jr.record()
			if err != nil {
				return batch{}, wire.Errorf(wire.Invalid, "record %d: %v", i, err)
			}
			b.recs = append(b.recs, rec)
			b.parts = append(b.parts, part)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return invalid("%s", midMessage(err))
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return invalid("%s", midMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("data after the JSON object")
	}
	var err error
	if b.idem, err = idempotenceOf(idem[0], idem[1], idem[2]); err != nil {
		return invalid("%v", err)
	}
	return b, nil
}

// record converts a decoded JSON record.
func (jr *jsonRecord) record() (wire.Record, int32, error) {
	var rec wire.Record
	var err error
	if rec.Key, err = oneOf(jr.Key, jr.KeyB64, "key", false); err != nil {
		return rec, 0, err
	}
	if jr.Value == nil && jr.ValueB64 == nil {
		return rec, 0, errors.New("value missing (give value, or value_b64; null for a tombstone)")
	}
	if rec.Value, err = oneOf(jr.Value, jr.ValueB64, "value", true); err != nil {
		return rec, 0, err
	}
	if jr.Timestamp < 0 {
		return rec, 0, fmt.Errorf("timestamp %d is negative (milliseconds since 1970, or 0 for the broker's time)", jr.Timestamp)
	}
	rec.Timestamp = jr.Timestamp
	rec.Headers = jr.Headers
	part := int32(noPartition)
	if jr.Partition != nil {
		if *jr.Partition < 0 {
			return rec, 0, fmt.Errorf("partition %d is negative", *jr.Partition)
		}
		part = *jr.Partition
	}
	return rec, part, nil
}

// oneOf decodes a key or value given as plain JSON (raw) or base64 (b64).
// For a key, plain JSON must be a string; for a value (anyJSON) any JSON
// other than a string is kept as its text. null (in either) is nil.
func oneOf(raw, b64 json.RawMessage, field string, anyJSON bool) ([]byte, error) {
	switch {
	case raw != nil && b64 != nil:
		return nil, fmt.Errorf("give %s or %s_b64, not both", field, field)
	case b64 != nil:
		if isNull(b64) {
			return nil, nil
		}
		s, ok := jsonString(b64)
		if !ok {
			return nil, fmt.Errorf("%s_b64 must be a base64 string", field)
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			return nil, fmt.Errorf("%s_b64 is not standard base64 (RFC 4648 §4, with padding): %v", field, err)
		}
		return out[:n:n], nil
	case raw == nil || isNull(raw):
		return nil, nil
	}
	if s, ok := jsonString(raw); ok {
		return s, nil
	}
	if !anyJSON {
		return nil, fmt.Errorf("%s must be a string (or %s_b64 for bytes)", field, field)
	}
	return raw, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonString returns the bytes of a JSON string literal (ok false if raw is
// not one). Without escapes they are raw's own bytes; with escapes, a
// decoded copy.
func jsonString(raw json.RawMessage) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false // cannot happen: the decoder has checked raw
	}
	return []byte(s), true
}

// parseBinaryRequest is parseBinary plus the idempotence fields of the
// query, for a binary HTTP body.
func (rt *Router) parseBinaryRequest(body []byte, r *http.Request) (batch, error) {
	idem, err := producerQuery(r)
	if err != nil {
		return batch{}, err
	}
	b, err := rt.parseBinary(body, r)
	b.idem = idem
	return b, err
}

// parseBinary decodes the wire Records encoding, all to ?partition=N if
// the URL gives it.
func (rt *Router) parseBinary(body []byte, r *http.Request) (batch, error) {
	part := int64(noPartition)
	if q := r.URL.Query(); q.Has("partition") {
		p, err := strconv.ParseInt(q.Get("partition"), 10, 32)
		if err != nil || p < 0 {
			return batch{}, wire.Errorf(wire.Invalid, "query parameter partition=%q: want a partition number", q.Get("partition"))
		}
		part = p
	}
	n, err := wire.RecordsCount(body)
	if err == nil && n > rt.cfg.MaxRequestRecords {
		return batch{}, wire.Errorf(wire.TooLarge, "%d records, over the per-request limit of %d", n, rt.cfg.MaxRequestRecords)
	}
	var recs []wire.Record
	if err == nil {
		recs, err = wire.DecodeRecords(body, nil)
	}
	if err != nil {
		return batch{}, wire.Errorf(wire.Invalid, "request body: %v", err)
	}
	b := batch{recs: recs, parts: make([]int32, len(recs))}
	for i := range b.parts {
		b.parts[i] = int32(part)
	}
	for i := range recs {
		if recs[i].Timestamp < 0 {
			return batch{}, wire.Errorf(wire.Invalid, "record %d: timestamp %d is negative", i, recs[i].Timestamp)
		}
	}
	return b, nil
}

// check applies the request-wide rules: some records, each within the
// record size limit, explicit partitions within the topic.
func (rt *Router) check(b batch, partitions int32) error {
	if len(b.recs) == 0 {
		return wire.Errorf(wire.Invalid, "no records")
	}
	if b.idem != nil {
		for _, p := range b.parts {
			if p == noPartition || p != b.parts[0] {
				return wire.Errorf(wire.Invalid, "producer_id needs every record of the request in one partition "+
					"(sequences are per partition): give every record the same \"partition\" (a binary body: ?partition=N)")
			}
		}
	}
	for i := range b.recs {
		if size := b.recs[i].Size(); size > rt.cfg.MaxRecordBytes {
			return wire.Errorf(wire.TooLarge, "record %d is %d bytes (key, value and headers), over the %d-byte record limit",
				i, size, rt.cfg.MaxRecordBytes)
		}
		if p := b.parts[i]; p >= partitions {
			return wire.Errorf(wire.Invalid, "record %d: partition %d does not exist (the topic has %d: 0 to %d)",
				i, p, partitions, partitions-1)
		}
	}
	return nil
}

// assignPartitions sets every record's partition (partitioner.go).
func assignPartitions(b batch, partitions int32) {
	sticky := int32(noPartition)
	for i := range b.recs {
		switch {
		case b.parts[i] != noPartition:
		case b.recs[i].Key != nil:
			b.parts[i] = keyPartition(b.recs[i].Key, partitions)
		default:
			if sticky == noPartition {
				sticky = stickyPartition(partitions)
			}
			b.parts[i] = sticky
		}
	}
}

// plan is a request's records grouped into one ProduceRequest per
// partition, and where each record went.
type plan struct {
	reqs    []wire.ProduceRequest // in order of each partition's first record
	results []result              // per request
	bytes   []int64               // per request: its records' keys, values and headers (metered)
	group   []int32               // per record: its request
	pos     []int32               // per record: its index in the request
}

type result struct {
	base int64
	dup  bool // an idempotent retry the owner had written before: not metered again
	err  error
}

// groupByPartition lays the records out per partition, keeping their order,
// in one backing array shared by the requests.
func groupByPartition(b batch, tenant, topic int64) *plan {
	p := &plan{group: make([]int32, len(b.recs)), pos: make([]int32, len(b.recs))}
	index := make(map[int32]int32, 4)
	var counts []int32
	for i, part := range b.parts {
		g, ok := index[part]
		if !ok {
			g = int32(len(p.reqs))
			index[part] = g
			req := wire.ProduceRequest{
				TenantID: tenant, TopicID: topic, Partition: part,
				ProducerID: wire.NoProducer, ProducerEpoch: wire.NoProducer, BaseSequence: wire.NoProducer,
			}
			if b.idem != nil { // check has made sure there is one partition
				req.ProducerID, req.ProducerEpoch, req.BaseSequence = b.idem.producerID, b.idem.epoch, b.idem.sequence
			}
			p.reqs = append(p.reqs, req)
			counts = append(counts, 0)
		}
		p.group[i] = g
		p.pos[i] = counts[g]
		counts[g]++
	}
	all := make([]wire.Record, len(b.recs))
	start := int32(0)
	for g := range p.reqs {
		end := start + counts[g]
		p.reqs[g].Records = all[start:start:end]
		start = end
	}
	p.bytes = make([]int64, len(p.reqs))
	for i := range b.recs {
		g := p.group[i]
		p.reqs[g].Records = append(p.reqs[g].Records, b.recs[i])
		p.bytes[g] += int64(b.recs[i].Size())
	}
	p.results = make([]result, len(p.reqs))
	return p
}

// send produces every request of p, concurrently, and records the results.
func (rt *Router) send(ctx context.Context, p *plan) {
	if len(p.reqs) == 1 {
		p.results[0] = rt.produceOne(ctx, &p.reqs[0])
		return
	}
	sem := make(chan struct{}, rt.cfg.ProduceConcurrency)
	var wg sync.WaitGroup
	for g := range p.reqs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.results[g] = rt.produceOne(ctx, &p.reqs[g])
		})
	}
	wg.Wait()
}

func (rt *Router) produceOne(ctx context.Context, req *wire.ProduceRequest) result {
	resp, err := rt.deps.Producer.Produce(ctx, req)
	switch {
	case err != nil:
		return result{err: err}
	case resp == nil:
		return result{err: errors.New("producer returned neither a response nor an error")}
	case resp.Code != wire.OK:
		return result{err: resp.Err()}
	}
	return result{base: resp.BaseOffset, dup: resp.Duplicate}
}

// writeProduceResponse answers with every record's offset or error, in
// request order (see the top of this file). The body is built by hand: it
// is the one response whose size grows with the request.
func (rt *Router) writeProduceResponse(w http.ResponseWriter, r *http.Request, p *plan) {
	out := make([]byte, 0, 16+len(p.group)*32)
	out = append(out, '{')
	out, status := rt.appendOffsets(out, r, p)
	out = append(out, "}\n"...)
	writeBody(w, status, out)
}

// appendOffsets appends `"offsets":[...]` with every record's offset or its
// partition batch's error, in request order, and, if any batch failed,
// `,"error":{...}` with the worst; it returns the status of the worst
// failure (200 if none).
func (rt *Router) appendOffsets(out []byte, r *http.Request, p *plan) ([]byte, int) {
	status := http.StatusOK
	var errJSON [][]byte // per request, the {"code","message"} of its error
	var worst apiError
	failed := 0
	for g, res := range p.results {
		if res.err == nil {
			continue
		}
		if errJSON == nil {
			errJSON = make([][]byte, len(p.results))
		}
		s, body := rt.errorOf(r, res.err)
		body.Message = fmt.Sprintf("partition %d: %s", p.reqs[g].Partition, body.Message)
		errJSON[g], _ = json.Marshal(body)
		failed++
		if s > status {
			status, worst = s, body
		}
	}
	out = append(out, `"offsets":[`...)
	for i, g := range p.group {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"partition":`...)
		out = strconv.AppendInt(out, int64(p.reqs[g].Partition), 10)
		if res := p.results[g]; res.err != nil {
			out = append(out, `,"error":`...)
			out = append(out, errJSON[g]...)
		} else {
			out = append(out, `,"offset":`...)
			out = strconv.AppendInt(out, res.base+int64(p.pos[i]), 10)
		}
		out = append(out, '}')
	}
	out = append(out, ']')
	if failed > 0 {
		worst.Message = fmt.Sprintf("%d of %d partition batches failed; %s", failed, len(p.reqs), worst.Message)
		e, _ := json.Marshal(worst)
		out = append(out, `,"error":`...)
		out = append(out, e...)
	}
	return out, status
}
