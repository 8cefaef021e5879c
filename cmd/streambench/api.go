package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// contentTypeBatch is the media type of a binary produce body: the wire
// Records encoding (router.ContentTypeBatch).
const contentTypeBatch = "application/vnd.streamhouse.batch"

// maxAnswerBytes bounds an answer the harness reads: a produce answer is an
// offset per record, at most a few MiB for the largest batch.
const maxAnswerBytes = 16 << 20

// readyTimeout bounds the wait for a new topic's partitions to be served.
const readyTimeout = 120 * time.Second

// errRetry marks an answer that asks the client to come back: 429 busy or
// 503 unavailable (a partition moving or starting).
var errRetry = errors.New("retry later")

// api talks to a cell through its public APIs only: HTTP for admin and
// produce, gRPC for fetch.
type api struct {
	base  string // http://host:port
	token string // sent as a bearer credential on every request if set
	http  *http.Client
	conn  *grpc.ClientConn
	cons  shv1.ConsumerServiceClient
}

// newAPI connects to a cell; token, if set, goes with every HTTP request
// and gRPC call (a cell with authentication on).
func newAPI(httpURL, grpcAddr, token string, conns int) (*api, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(grpcAddr, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", grpcAddr, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &api{
		base:  httpURL,
		token: token,
		http:  &http.Client{Transport: tr, Timeout: time.Minute},
		conn:  conn,
		cons:  shv1.NewConsumerServiceClient(conn),
	}, nil
}

func (a *api) close() {
	_ = a.conn.Close()
	a.http.CloseIdleConnections()
}

// post sends body and returns the status and the answer.
func (a *api) post(ctx context.Context, path string, query url.Values, contentType string, body []byte) (int, []byte, error) {
	u := a.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer of POST %s: %w", path, err)
	}
	return resp.StatusCode, b, nil
}

// createTopic creates a topic and returns its id.
func (a *api) createTopic(ctx context.Context, name string, partitions int, durability string) (int64, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "partitions": partitions, "durability": durability})
	status, answer, err := a.post(ctx, "/api/v1/topics", nil, "application/json", body)
	if err != nil {
		return 0, fmt.Errorf("create topic %s: %w", name, err)
	}
	if status/100 != 2 {
		return 0, fmt.Errorf("create topic %s: status %d: %s", name, status, answer)
	}
	var t struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(answer, &t); err != nil || t.ID == 0 {
		return 0, fmt.Errorf("create topic %s: no id in the answer %q", name, answer)
	}
	return t.ID, nil
}

// readyChunk is the partitions one readiness request writes to: the
// router sends a request's partition batches 64 at a time
// (router.DefaultProduceConcurrency), and in object mode each takes about
// the flush age, so the chunks go out at once instead of in one request.
const readyChunk = 64

// waitReady produces one small record to every partition, in JSON requests
// of readyChunk partitions sent at once, until all are written: then every
// partition has an owner and an actor, and the load that follows measures
// serving, not start-up.
func (a *api) waitReady(ctx context.Context, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readyChunk)
	for first := 0; first < partitions; first += readyChunk {
		g.Go(func() error { return a.readyChunk(gctx, topic, first, min(first+readyChunk, partitions)) })
	}
	return g.Wait()
}

// readyChunk writes a record to each partition in [first, end) until one
// request succeeds.
func (a *api) readyChunk(ctx context.Context, topic string, first, end int) error {
	type rec struct {
		Value     string `json:"value"`
		Partition int    `json:"partition"`
	}
	recs := make([]rec, 0, end-first)
	for p := first; p < end; p++ {
		recs = append(recs, rec{Value: "ready", Partition: p})
	}
	body, _ := json.Marshal(map[string]any{"records": recs})
	var last string
	for {
		status, answer, err := a.post(ctx, topicPath(topic)+"/records", nil, "application/json", body)
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("status %d: %.200s", status, answer)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: partitions %d to %d not all served within %s (last answer: %s)", topic, first, end-1, readyTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// produce sends one binary batch to one partition. A 429 or 503 answer is
// errRetry; any other failure is an error naming the answer.
func (a *api) produce(ctx context.Context, topic string, partition int, body []byte) error {
	q := url.Values{"partition": {strconv.Itoa(partition)}}
	status, answer, err := a.post(ctx, topicPath(topic)+"/records", q, contentTypeBatch, body)
	switch {
	case err != nil:
		return fmt.Errorf("produce to %s/%d: %w", topic, partition, err)
	case status == http.StatusOK:
		return nil
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return errRetry
	}
	return fmt.Errorf("produce to %s/%d: status %d: %.300s", topic, partition, status, answer)
}

// fetch is one gRPC Fetch. UNAVAILABLE and RESOURCE_EXHAUSTED are
// errRetry.
func (a *api) fetch(ctx context.Context, topic string, partition int, offset int64, maxBytes int32, wait time.Duration) (*shv1.FetchResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	resp, err := a.cons.Fetch(ctx, &shv1.FetchRequest{
		Topic: topic, Partition: int32(partition), Offset: offset, MaxBytes: maxBytes, MaxWaitMs: int32(wait.Milliseconds()),
	})
	switch status.Code(err) {
	case codes.OK:
		return resp, nil
	case codes.Unavailable, codes.ResourceExhausted:
		return nil, fmt.Errorf("fetch %s/%d at %d: %w (%w)", topic, partition, offset, err, errRetry)
	}
	return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
}

func topicPath(name string) string { return "/api/v1/topics/" + url.PathEscape(name) }
