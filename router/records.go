package router

// # Read: GET /api/v1/topics/{topic}/partitions/{partition}/records
//
// A page of one partition's records for browsing (the console's record
// browser), read through the same Fetcher as /ws/consume and gRPC Fetch,
// without waiting for new records. Query parameters:
//
//	offset=earliest|latest|N   where to start (default earliest)
//	timestamp=MS               start at the first record at or after MS
//	                           (ms since the Unix epoch; not with offset)
//	limit=N                    at most N records, 1 to MaxRecordsLimit
//	                           (default DefaultRecordsLimit)
//
// The answer is
//
//	{"topic": "t", "partition": 0, "high_watermark": 42, "log_start_offset": 0,
//	 "next_offset": 10, "records": [{...}, ...]}
//
// each record shaped as a /ws/consume frame (ws_consume.go). next_offset is
// where the following page starts. The records' payload is also bounded by
// DefaultFetchMaxBytes: a page may hold fewer than limit records, never
// fewer than one when the partition has any past the start.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Limits of the records endpoint.
const (
	DefaultRecordsLimit = 50
	MaxRecordsLimit     = 500
)

type recordsJSON struct {
	Topic          string            `json:"topic"`
	Partition      int32             `json:"partition"`
	HighWatermark  int64             `json:"high_watermark"`
	LogStartOffset int64             `json:"log_start_offset"`
	NextOffset     int64             `json:"next_offset"`
	Records        []json.RawMessage `json:"records"`
}

// readRecords answers GET .../partitions/{partition}/records.
// A read is one fetch for the quotas (Deps.Quotas.AdmitFetch before it),
// and its records are charged and metered as served.
func (rt *Router) readRecords(w http.ResponseWriter, r *http.Request) {
	p, t, err := rt.dataTopic(r, auth.ActConsume)
	if err == nil && rt.deps.Fetch == nil {
		err = wire.Errorf(wire.NotFound, "%s is not enabled on this router", r.URL.Path)
	}
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	q, err := recordsParams(r, t.Partitions)
	if err == nil {
		err = rt.deps.accounting().admitFetch(r.Context(), p.Tenant)
	}
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	out, err := rt.fetchPage(r.Context(), p.Tenant, t, q)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// recordsQuery is a records request's parsed parameters.
type recordsQuery struct {
	partition int32
	offset    int64 // offsetEarliest, offsetLatest or an offset
	timestamp int64 // -1: none
	limit     int
}

func recordsParams(r *http.Request, partitions int32) (recordsQuery, error) {
	q := recordsQuery{offset: offsetEarliest, timestamp: -1, limit: DefaultRecordsLimit}
	ps := chi.URLParam(r, "partition")
	p, err := strconv.ParseInt(ps, 10, 32)
	if err != nil || p < 0 {
		return q, wire.Errorf(wire.Invalid, "partition %q in path: want a partition number", ps)
	}
	if int32(p) >= partitions {
		return q, wire.Errorf(wire.NotFound, "partition %d does not exist (the topic has %d: 0 to %d)", p, partitions, partitions-1)
	}
	q.partition = int32(p)
	v := r.URL.Query()
	if v.Has("offset") && v.Has("timestamp") {
		return q, wire.Errorf(wire.Invalid, "query parameters offset and timestamp: give one, not both")
	}
	switch o := v.Get("offset"); o {
	case "", "earliest":
	case "latest":
		q.offset = offsetLatest
	default:
		n, err := strconv.ParseInt(o, 10, 64)
		if err != nil || n < 0 {
			return q, wire.Errorf(wire.Invalid, "query parameter offset=%q: want earliest, latest or an offset", o)
		}
		q.offset = n
	}
	if v.Has("timestamp") {
		n, err := strconv.ParseInt(v.Get("timestamp"), 10, 64)
		if err != nil || n < 0 {
			return q, wire.Errorf(wire.Invalid, "query parameter timestamp=%q: want milliseconds since the Unix epoch", v.Get("timestamp"))
		}
		q.timestamp = n
	}
	if v.Has("limit") {
		n, err := strconv.Atoi(v.Get("limit"))
		if err != nil || n < 1 || n > MaxRecordsLimit {
			return q, wire.Errorf(wire.Invalid, "query parameter limit=%q: want 1 to %d", v.Get("limit"), MaxRecordsLimit)
		}
		q.limit = n
	}
	return q, nil
}

// fetchPage resolves the start (a timestamp through Deps.OffsetForTime;
// earliest and latest through the owner's answer) and fetches one page
// without waiting.
func (rt *Router) fetchPage(ctx context.Context, tenant int64, t registry.Topic, q recordsQuery) (recordsJSON, error) {
	if q.timestamp >= 0 {
		if rt.deps.OffsetForTime == nil {
			return recordsJSON{}, wire.Errorf(wire.Unavailable, "reading by timestamp is not served by this router")
		}
		off, err := rt.deps.OffsetForTime(ctx, registry.PartitionID{Tenant: tenant, Topic: t.ID, Partition: q.partition}, q.timestamp)
		if err != nil {
			return recordsJSON{}, err
		}
		q.offset = off
	}
	req := wire.FetchRequest{TenantID: tenant, TopicID: t.ID, Partition: q.partition, Offset: q.offset, MaxBytes: DefaultFetchMaxBytes}
	resp, err := rt.fetchNow(ctx, &req)
	if err == nil && (q.offset == offsetEarliest || q.offset == offsetLatest) {
		q.offset = req.Offset // resolved: now read from there
		resp, err = rt.fetchNow(ctx, &req)
	}
	if err != nil {
		return recordsJSON{}, err
	}
	out := recordsJSON{Topic: t.Name, Partition: q.partition, HighWatermark: resp.HighWatermark,
		LogStartOffset: resp.LogStartOffset, NextOffset: max(resp.NextOffset, q.offset), Records: []json.RawMessage{}}
	recs := resp.Records
	if len(recs) > q.limit {
		recs = recs[:q.limit]
		out.NextOffset = recs[len(recs)-1].Offset + 1
	}
	for i := range recs {
		out.Records = append(out.Records, recordFrame(q.partition, &recs[i]))
	}
	servedFetch(rt.deps.Metrics, rt.deps.accounting(), t.Name, tenant, recs)
	return out, nil
}

// fetchNow makes one fetch that does not wait; while req.Offset is earliest
// or latest it resolves it from the owner's watermarks instead (req.Offset
// is set and the answer holds no records).
func (rt *Router) fetchNow(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	f := *req
	if req.Offset < 0 {
		f.Offset, f.MaxBytes = 0, 1
	}
	fctx, cancel := context.WithTimeout(ctx, rt.cfg.ProduceTimeout)
	defer cancel()
	resp, err := rt.deps.Fetch.Fetch(fctx, &f)
	switch {
	case err != nil:
		return nil, err
	case resp == nil:
		return nil, errors.New("fetcher returned neither a response nor an error")
	case req.Offset == offsetLatest && (resp.Code == wire.OK || resp.Code == wire.OutOfRange):
		req.Offset = resp.HighWatermark
		return &wire.FetchResponse{HighWatermark: resp.HighWatermark, LogStartOffset: resp.LogStartOffset}, nil
	case req.Offset == offsetEarliest && resp.Code == wire.OK:
		req.Offset = 0
		return &wire.FetchResponse{HighWatermark: resp.HighWatermark, LogStartOffset: resp.LogStartOffset}, nil
	case req.Offset == offsetEarliest && resp.Code == wire.OutOfRange:
		req.Offset = resp.LogStartOffset
		return &wire.FetchResponse{HighWatermark: resp.HighWatermark, LogStartOffset: resp.LogStartOffset}, nil
	case resp.Code != wire.OK:
		return nil, resp.Err()
	}
	return resp, nil
}
