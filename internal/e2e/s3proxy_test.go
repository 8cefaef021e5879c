package e2e

import (
	"bytes"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// s3Fault is what the proxy does to requests while a fault is on.
type s3Fault int

const (
	s3Pass    s3Fault = iota
	s3Errors          // half the requests answered 503 SlowDown without reaching the server
	s3Hang            // every request held until the client gives up (at most s3HangMax)
	s3Slow            // every PUT delayed by s3SlowDelay, then passed on
	s3LostPut         // half the PUTs passed on, and then answered 500 as if they had failed
)

func (f s3Fault) String() string {
	return [...]string{"pass", "s3-errors", "s3-timeouts", "s3-slow", "s3-lost-reply"}[f]
}

const (
	s3HangMax   = 15 * time.Second
	s3SlowDelay = 1500 * time.Millisecond
)

// s3Proxy sits between the agents and versitygw and injects S3 faults, so
// that the agents meet them through their real S3 client: errors, requests
// that never answer, slow PUTs, and a PUT that lands but reports failure.
type s3Proxy struct {
	url   string
	mu    sync.Mutex
	fault s3Fault
	rng   *rand.Rand
	hits  map[s3Fault]int // requests a fault changed
}

func startS3Proxy(t *testing.T, target string) *s3Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{rng: rand.New(rand.NewPCG(1, 1)), hits: map[s3Fault]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client giving up on a held request is the point
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(rp, w, r)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

// set switches the fault on (s3Pass: off), seeding its coin.
func (p *s3Proxy) set(f s3Fault, seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.rng = f, rand.New(rand.NewPCG(seed, seed))
}

// decide reports the fault to apply to one request (s3Pass for none).
func (p *s3Proxy) decide(r *http.Request) s3Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	switch f {
	case s3Errors:
		if p.rng.IntN(2) == 0 {
			f = s3Pass
		}
	case s3Slow:
		if r.Method != http.MethodPut {
			f = s3Pass
		}
	case s3LostPut:
		if r.Method != http.MethodPut || p.rng.IntN(2) == 0 {
			f = s3Pass
		}
	}
	if f != s3Pass {
		p.hits[f]++
	}
	return f
}

func (p *s3Proxy) hitCount(f s3Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[f]
}

func (p *s3Proxy) serve(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	switch p.decide(r) {
	case s3Errors:
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>`)
	case s3Hang:
		select {
		case <-r.Context().Done():
		case <-time.After(s3HangMax):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	case s3Slow:
		time.Sleep(s3SlowDelay)
		rp.ServeHTTP(w, r)
	case s3LostPut:
		rec := &discardWriter{header: http.Header{}}
		rp.ServeHTTP(rec, r) // it lands...
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError) // ...and is reported lost
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected after the write</Message></Error>`)
	default:
		rp.ServeHTTP(w, r)
	}
}

// discardWriter takes the server's answer to a PUT whose reply is lost.
type discardWriter struct {
	header http.Header
	body   bytes.Buffer
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return d.body.Write(b) }
func (d *discardWriter) WriteHeader(int)             {}
