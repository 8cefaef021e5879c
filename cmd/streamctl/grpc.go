package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

const (
	defaultGRPC = "127.0.0.1:50051"
	grpcEnv     = "STREAMHOUSE_GRPC"
)

// grpcClient is the ConsumerService client, dialled on first use: only
// consume and group commands need it. The connection has no TLS: the dev
// cell listens on loopback; TLS comes with authentication.
type grpcClient struct {
	addr    string
	timeout time.Duration // of each call, beside a long poll's wait
	token   string        // sent as the authorization metadata if set

	once sync.Once
	conn *grpc.ClientConn
	svc  shv1.ConsumerServiceClient
	err  error
}

func (g *grpcClient) consumer() (shv1.ConsumerServiceClient, error) {
	g.once.Do(func() {
		// NewClient does not connect: the first call does.
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if g.token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearer(g.token)))
		}
		g.conn, g.err = grpc.NewClient(g.addr, opts...)
		if g.err != nil {
			g.err = usageErrorf("--grpc %q: %v", g.addr, g.err)
			return
		}
		g.svc = shv1.NewConsumerServiceClient(g.conn)
	})
	return g.svc, g.err
}

func (g *grpcClient) close() {
	if g.conn != nil {
		_ = g.conn.Close()
	}
}

// callCtx bounds one call: --timeout, plus the wait of a long poll.
func (g *grpcClient) callCtx(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout+wait)
}

// grpcError is a status the server answered with: exit code 1. Reason is
// the ErrorInfo reason (e.g. "out_of_range") or, without one, the status
// code in snake case.
type grpcError struct {
	Code    codes.Code
	Reason  string
	Message string
}

func (e *grpcError) Error() string { return e.Reason + ": " + e.Message }

// grpcErr classifies an RPC's error: a status without an ErrorInfo that says
// the server could not be reached (UNAVAILABLE, or DEADLINE_EXCEEDED from
// our own --timeout) is a *connError (exit code 3); any other status a
// *grpcError. The server's own UNAVAILABLE (ownership moving) carries an
// ErrorInfo and is a *grpcError.
func (g *grpcClient) grpcErr(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	reason := ""
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			reason = info.GetReason()
			break
		}
	}
	if reason == "" {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return &connError{server: g.addr, grpc: true, err: err}
		case codes.Canceled:
			return err // ctx cancelled: run reports the interrupt
		}
		reason = snake(st.Code().String())
	}
	return &grpcError{Code: st.Code(), Reason: reason, Message: st.Message()}
}

// isCode reports whether err is a *grpcError with code c.
func isCode(err error, c codes.Code) bool {
	var ge *grpcError
	return errors.As(err, &ge) && ge.Code == c
}

// snake turns a code's name into an API-style reason: NotFound → not_found.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// grpcUnreachable is a connError's message for the gRPC API.
func grpcUnreachable(addr string, err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
		if st.Code() == codes.DeadlineExceeded {
			return fmt.Sprintf("no answer from the gRPC API at %s in time (--timeout): %s", addr, msg)
		}
	}
	return fmt.Sprintf("cannot reach the gRPC API at %s (set --grpc or %s): %s", addr, grpcEnv, msg)
}

// bearer sends a credential as the "authorization" metadata of every call.
// Plaintext is allowed: the dev cell listens on loopback.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
