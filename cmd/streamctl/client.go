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
	"strings"
	"time"
)

// maxResponseBytes bounds a response body the client reads. The largest
// answer is a produce response: about 40 bytes per record of a batch.
const maxResponseBytes = 64 << 20

// client calls the HTTP API at base.
type client struct {
	base  *url.URL
	http  *http.Client
	token string // sent as a bearer credential if set
}

func newClient(base *url.URL, timeout time.Duration) *client {
	return &client{base: base, http: &http.Client{Timeout: timeout}}
}

// response is an HTTP answer, its body read whole.
type response struct {
	status int
	body   []byte
}

// do sends one request to path (escaped, under the base URL). A transport failure (nothing came back) is a
// *connError; any HTTP answer, whatever its status, is a response.
func (c *client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) (*response, error) {
	u := *c.base // path is escaped already (topicPath): keep it so
	u.RawPath = c.base.EscapedPath() + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &connError{server: c.base.Redacted(), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, &connError{server: c.base.Redacted(), err: err}
	}
	return &response{status: resp.StatusCode, body: b}, nil
}

// call sends a request and returns the body of a 2xx answer; any other
// status is an *apiError.
func (c *client) call(ctx context.Context, method, path string, reqBody any) ([]byte, error) {
	var body []byte
	ct := ""
	if reqBody != nil {
		var err error
		if body, err = json.Marshal(reqBody); err != nil {
			return nil, err
		}
		ct = "application/json"
	}
	resp, err := c.do(ctx, method, path, nil, ct, body)
	if err != nil {
		return nil, err
	}
	if resp.status/100 != 2 {
		return nil, resp.apiError()
	}
	return resp.body, nil
}

// errorBody is the API's error object (DESIGN.md, Interfaces).
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error the server answered with: exit code 1.
type apiError struct {
	Status  int
	Code    string // the API's code, e.g. "not_found"
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// apiError reads the {"error":{"code","message"}} of a failed answer; an
// answer without one (a proxy's page, say) is shown by its status and the
// start of its body.
func (r *response) apiError() *apiError {
	var b struct {
		Error *errorBody `json:"error"`
	}
	if err := json.Unmarshal(r.body, &b); err == nil && b.Error != nil && b.Error.Code != "" {
		return &apiError{Status: r.status, Code: b.Error.Code, Message: b.Error.Message}
	}
	msg := strings.TrimSpace(string(r.body))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(r.status)
	}
	return &apiError{Status: r.status, Code: "http_" + fmt.Sprint(r.status), Message: msg}
}

// connError is a request that got no answer: exit code 3.
type connError struct {
	server string
	grpc   bool // the gRPC API's address, not the HTTP API's
	err    error
}

func (e *connError) Error() string {
	if e.grpc {
		return grpcUnreachable(e.server, e.err)
	}
	var ue *url.Error
	cause := e.err
	if errors.As(e.err, &ue) {
		cause = ue.Err
	}
	if errors.Is(e.err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()) {
		return fmt.Sprintf("no answer from %s in time (--timeout): %v", e.server, cause)
	}
	return fmt.Sprintf("cannot reach the server at %s (set --server or %s): %v", e.server, serverEnv, cause)
}

func (e *connError) Unwrap() error { return e.err }

// topicPath is the API path of a topic, its name escaped.
func topicPath(name string) string { return "/api/v1/topics/" + url.PathEscape(name) }
