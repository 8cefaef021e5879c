package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 limits on multipart uploads.
const (
	s3MinPartSize = 5 << 20
	s3MaxPartSize = 5 << 30
	s3MaxParts    = 10000
)

// S3Config configures an S3 store. The zero value of every field but Bucket
// is usable; EnsureDefaults fills it in.
type S3Config struct {
	// Bucket holds the objects. Required.
	Bucket string

	// Prefix, if set, goes before every key with a slash: with Prefix
	// "cell-1", key "a/b" is stored as "cell-1/a/b", and List returns keys
	// without it. Slashes at either end are trimmed; the rest must be a
	// valid key. Lets several cells or tests share a bucket.
	Prefix string

	// Endpoint is the base URL of an S3-compatible server, such as
	// "http://127.0.0.1:7070". Empty: AWS's endpoint for Region.
	Endpoint string

	// Region of the bucket. The default is "us-east-1".
	Region string

	// UsePathStyle addresses the bucket in the path (host/bucket/key) rather
	// than the host name (bucket.host/key). Most S3-compatible servers need it.
	UsePathStyle bool

	// AccessKeyID and SecretAccessKey are static credentials. If empty, the
	// SDK's standard chain is used: environment, shared config files, web
	// identity, container and instance roles.
	AccessKeyID     string
	SecretAccessKey string

	// MaxAttempts bounds the attempts of one request, the first included,
	// on errors the SDK deems transient (5xx, throttling, broken connections).
	// The default is 5.
	MaxAttempts int

	// RetryBaseDelay and RetryMaxBackoff shape the exponential backoff with
	// full jitter between attempts: the n-th retry waits a random time up to
	// min(RetryBaseDelay·2^(n-1), RetryMaxBackoff). Throttling replies use a
	// base of 1 s instead. The defaults are 100 ms and 5 s.
	RetryBaseDelay  time.Duration
	RetryMaxBackoff time.Duration

	// MultipartThreshold is the size above which an object is uploaded in
	// parts rather than with one PutObject. The default is 16 MiB; at most
	// 5 GiB, S3's limit for one PutObject.
	MultipartThreshold int64

	// PartSize is the size of each part but the last. The default is 8 MiB;
	// it must lie between 5 MiB and 5 GiB (S3's limits), and it is raised
	// for objects that would otherwise need more than 10,000 parts.
	PartSize int64

	// PartConcurrency is how many parts of one object are uploaded at once.
	// The default is 4.
	PartConcurrency int

	// RequestTimeout bounds each attempt of a request, so a stalled server
	// fails the attempt (which is then retried like any transient error)
	// instead of hanging a caller without a deadline. It applies per
	// attempt, not to a whole transfer, so it needs no scaling by size:
	// the wait for the response headers after the request is sent, each
	// write of the request body (a server that stops reading it), and each
	// read of a GetObject body (a server that stops sending it) may each
	// take up to RequestTimeout. The default is 10 s (S3 answers a PUT's headers
	// once it has the body, in well under a second normally; the chaos test's
	// stalled S3 held object-mode acknowledgements for the whole timeout);
	// negative disables it.
	RequestTimeout time.Duration
}

// EnsureDefaults sets every zero field that has a default to its default:
// Region "us-east-1", MaxAttempts 5, RetryBaseDelay 100 ms, RetryMaxBackoff
// 5 s, MultipartThreshold 16 MiB, PartSize 8 MiB, PartConcurrency 4 and
// RequestTimeout 10 s.
func (c *S3Config) EnsureDefaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = 100 * time.Millisecond
	}
	if c.RetryMaxBackoff == 0 {
		c.RetryMaxBackoff = 5 * time.Second
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = 16 << 20
	}
	if c.PartSize == 0 {
		c.PartSize = 8 << 20
	}
	if c.PartConcurrency == 0 {
		c.PartConcurrency = 4
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
}

func (c *S3Config) validate() error {
	switch {
	case c.Bucket == "":
		return errors.New("bucket is required")
	case c.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d, want at least 1", c.MaxAttempts)
	case c.RetryBaseDelay < 0 || c.RetryMaxBackoff < 0:
		return fmt.Errorf("negative retry delay %v or backoff %v", c.RetryBaseDelay, c.RetryMaxBackoff)
	case c.MultipartThreshold < 0 || c.MultipartThreshold > s3MaxPartSize:
		return fmt.Errorf("multipart threshold %d, want 0 to %d", c.MultipartThreshold, s3MaxPartSize)
	case c.PartSize < s3MinPartSize || c.PartSize > s3MaxPartSize:
		return fmt.Errorf("part size %d, want %d to %d", c.PartSize, s3MinPartSize, s3MaxPartSize)
	case c.PartConcurrency < 1:
		return fmt.Errorf("part concurrency %d, want at least 1", c.PartConcurrency)
	}
	if c.Prefix != "" {
		if err := ValidateKey(c.Prefix); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
	}
	return nil
}

// S3 is a Store in an S3 bucket, or on an S3-compatible server.
//
// Retries: a request is retried on transient errors (see
// S3Config.MaxAttempts), and a retried write is not always idempotent. A
// PutIfAbsent whose first attempt landed but whose reply was lost gets 412 on
// the retry, and so reports ErrPreconditionFailed although its own data is
// in place; a caller that must tell the two apart reads the object back.
//
// Incomplete multipart uploads: a failed multipart upload is aborted, but if
// the reply to CreateMultipartUpload is lost (or the process dies mid-upload)
// the upload exists on the server with no ID to abort it by, and its parts
// are stored and billed indefinitely. Buckets used by StreamHouse therefore
// need a lifecycle rule that aborts incomplete multipart uploads after a
// while (AbortIncompleteMultipartUpload, e.g. one day).
type S3 struct {
	client *s3.Client
	cfg    S3Config
}

var _ Store = (*S3)(nil)

// NewS3 builds the client; it sends no request, so a wrong bucket or
// credentials show on the first operation.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("objectstore: s3 config: %w", err)
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.BaseDelay = cfg.RetryBaseDelay
				o.MaxBackoff = cfg.RetryMaxBackoff
				// S3 answers 409 when a conditional write races another
				// write or a delete of the key, and asks for a retry.
				o.Retryables = append(o.Retryables, retry.RetryableErrorCode{
					Codes: map[string]struct{}{"ConditionalRequestConflict": {}},
				})
			})
		}),
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objectstore: load aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
		// A ranged GET carries no whole-object checksum to validate; without
		// this the SDK logs a line for every one.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.HTTPClient = withRequestTimeout(o.HTTPClient, cfg.RequestTimeout)
	})
	return &S3{client: client, cfg: cfg}, nil
}

// objectKey validates key and returns the key in the bucket.
func (s *S3) objectKey(ctx context.Context, op, key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", &Error{Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return "", &Error{Op: op, Key: key, Err: err}
	}
	if s.cfg.Prefix == "" {
		return key, nil
	}
	return s.cfg.Prefix + "/" + key, nil
}

// Put writes data with one PutObject up to MultipartThreshold bytes, and as a
// multipart upload above it (aborted if any step fails).
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, "put", key, data, false)
}

// PutIfAbsent is Put with "If-None-Match: *" on the PutObject, or on the
// CompleteMultipartUpload of a large object (whose parts are uploaded first
// and discarded if the key turns out to be taken). A 412 from S3 wraps
// ErrPreconditionFailed.
//
// S3 answers 409 ConditionalRequestConflict when another write of the key is
// in flight; that is retried, and if it persists through all attempts it is
// reported as a plain error, not ErrPreconditionFailed: it says nothing about
// whether an object exists (both racing writers may get it, and the other
// write may yet fail), so the caller should retry the PutIfAbsent.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, "put-if-absent", key, data, true)
}

func (s *S3) put(ctx context.Context, op, key string, data []byte, ifAbsent bool) error {
	okey, err := s.objectKey(ctx, op, key)
	if err != nil {
		return err
	}
	var ifNoneMatch *string
	if ifAbsent {
		ifNoneMatch = aws.String("*")
	}
	if int64(len(data)) > s.cfg.MultipartThreshold {
		err = s.putMultipart(ctx, okey, data, ifNoneMatch)
	} else {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.cfg.Bucket),
			Key:           aws.String(okey),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			IfNoneMatch:   ifNoneMatch,
		})
	}
	if err != nil {
		return &Error{Op: op, Key: key, Err: mapS3Error(err)}
	}
	return nil
}

func (s *S3) putMultipart(ctx context.Context, okey string, data []byte, ifNoneMatch *string) error {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(okey),
	})
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	uploadID := created.UploadId
	parts, err := s.uploadParts(ctx, okey, uploadID, data)
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(s.cfg.Bucket),
			Key:             aws.String(okey),
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
			IfNoneMatch:     ifNoneMatch,
		})
		if err == nil {
			return nil
		}
		err = fmt.Errorf("complete multipart upload of %d parts: %w", len(parts), err)
	}
	// Abort even if ctx is done: parts left behind are billed until a
	// lifecycle rule removes them.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(okey),
		UploadId: uploadID,
	}); aerr != nil {
		return fmt.Errorf("%w (abort multipart upload %s: %v)", err, aws.ToString(uploadID), aerr)
	}
	return err
}

// uploadParts uploads data in parts, PartConcurrency at a time, and returns
// them in order. The first error stops the rest.
func (s *S3) uploadParts(ctx context.Context, okey string, uploadID *string, data []byte) ([]types.CompletedPart, error) {
	size := int64(len(data))
	partSize := max(s.cfg.PartSize, (size+s3MaxParts-1)/s3MaxParts)
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	for range min(s.cfg.PartConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				start := int64(i) * partSize
				body := data[start:min(size, start+partSize)]
				num := aws.Int32(int32(i + 1))
				out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
					Bucket:        aws.String(s.cfg.Bucket),
					Key:           aws.String(okey),
					UploadId:      uploadID,
					PartNumber:    num,
					Body:          bytes.NewReader(body),
					ContentLength: aws.Int64(int64(len(body))),
				})
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("upload part %d of %d: %w", i+1, n, err)
						cancel()
					})
					return
				}
				parts[i] = types.CompletedPart{PartNumber: num, ETag: out.ETag}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upload parts: %w", err)
	}
	return parts, nil
}

// Get returns the whole object with one GetObject.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	const op = "get"
	okey, err := s.objectKey(ctx, op, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(okey),
	})
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: mapS3Error(err)}
	}
	data, err := readBody(out, cancel, s.cfg.RequestTimeout)
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	return data, nil
}

// GetRange sends one GetObject with a Range header. The object's size is
// not asked for: S3 clips a range that runs past the end and answers 416 to
// one that starts there, which wraps ErrInvalidRange.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	const op = "get-range"
	okey, err := s.objectKey(ctx, op, key)
	if err != nil {
		return nil, err
	}
	if err := checkRangeArgs(offset, length); err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	last := offset + length - 1
	if last < offset { // overflow
		last = math.MaxInt64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(okey),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", offset, last)),
	})
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: mapS3Error(err)}
	}
	ranged := out.ContentRange != nil
	data, err := readBody(out, cancel, s.cfg.RequestTimeout)
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	if !ranged {
		// The server sent the whole object (HTTP allows ignoring Range;
		// some servers do for an empty object): cut the range here.
		end, err := checkRange(int64(len(data)), offset, length)
		if err != nil {
			return nil, &Error{Op: op, Key: key, Err: err}
		}
		data = data[offset:end]
	}
	return data, nil
}

// readBody reads and closes a GetObject body, sized by its Content-Length.
// If no byte arrives for idle (when positive), it calls cancel, which must
// cancel the request's context and so abort the read.
func readBody(out *s3.GetObjectOutput, cancel context.CancelFunc, idle time.Duration) (data []byte, err error) {
	defer out.Body.Close()
	var body io.Reader = out.Body
	if idle > 0 {
		var stalled atomic.Bool
		timer := time.AfterFunc(idle, func() {
			stalled.Store(true)
			cancel()
		})
		defer timer.Stop()
		body = &progressReader{r: out.Body, progress: func() { timer.Reset(idle) }}
		defer func() {
			if err != nil && stalled.Load() {
				err = fmt.Errorf("no data for %v (S3Config.RequestTimeout): %w", idle, err)
			}
		}()
	}
	n := aws.ToInt64(out.ContentLength)
	if n <= 0 || n > math.MaxInt32 {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return data, nil
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, fmt.Errorf("read body of %d bytes: %w", n, err)
	}
	return data, nil
}

// progressReader calls progress after every read that returns data.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// withRequestTimeout returns the S3 client's HTTP client with a positive
// timeout bounding, per attempt, the wait for response headers once the
// request is sent (Transport.ResponseHeaderTimeout) and each write to the
// connection (a write deadline renewed before every write, so a slow but
// moving upload is not cut). The GetObject body is watched by readBody. It
// runs after the SDK has configured the client (CA bundle, dialer), and
// freezes it so nothing replaces the dialer and with it the write deadlines.
// A client that is not the SDK's buildable one is returned unchanged.
func withRequestTimeout(c s3.HTTPClient, timeout time.Duration) s3.HTTPClient {
	b, ok := c.(*awshttp.BuildableClient)
	if !ok || timeout <= 0 {
		return c
	}
	return b.WithTransportOptions(func(tr *http.Transport) {
		tr.ResponseHeaderTimeout = timeout
		dial := tr.DialContext
		if dial == nil {
			dial = b.GetDialer().DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &writeDeadlineConn{Conn: conn, timeout: timeout}, nil
		}
	}).Freeze()
}

// writeDeadlineConn fails a write that makes no progress for timeout: the
// peer stopped reading.
type writeDeadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *writeDeadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// List pages through ListObjectsV2 and returns the keys (without
// S3Config.Prefix) sorted.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	const op = "list"
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Key: prefix, Err: err}
	}
	strip := ""
	if s.cfg.Prefix != "" {
		strip = s.cfg.Prefix + "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(strip + prefix),
	})
	var out []ObjectInfo
	for n := 1; pages.HasMorePages(); n++ {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, &Error{Op: op, Key: prefix, Err: fmt.Errorf("list page %d: %w", n, mapS3Error(err))}
		}
		for _, obj := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(obj.Key), strip)
			if !ok {
				continue
			}
			out = append(out, ObjectInfo{Key: key, Size: aws.ToInt64(obj.Size), LastModified: aws.ToTime(obj.LastModified)})
		}
	}
	// S3 lists in key order already; S3-compatible servers may not.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object with DeleteObject; S3 answers a missing key
// with success, and a server that answers 404 is treated the same.
func (s *S3) Delete(ctx context.Context, key string) error {
	const op = "delete"
	okey, err := s.objectKey(ctx, op, key)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(okey),
	})
	if err != nil {
		if err = mapS3Error(err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return &Error{Op: op, Key: key, Err: err}
	}
	return nil
}

// mapS3Error puts the matching sentinel in front of an SDK error, keeping
// the SDK's error (code, request id) in the chain.
func mapS3Error(err error) error {
	code := ""
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchKey" || code == "NotFound" ||
		(status == 404 && code != "NoSuchBucket" && code != "NoSuchUpload"):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case status == 412 || code == "PreconditionFailed":
		return fmt.Errorf("%w: %w", ErrPreconditionFailed, err)
	case code == "ConditionalRequestConflict":
		// Not ErrPreconditionFailed: see PutIfAbsent.
		return fmt.Errorf("conflicting write of the key in flight, retry: %w", err)
	case status == 416 || code == "InvalidRange":
		return fmt.Errorf("%w: %w", ErrInvalidRange, err)
	}
	return err
}
