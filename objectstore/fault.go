package objectstore

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is one rule of a Faulty store. A call matches it when its operation
// and key do; a matching call fires it as OnCall, Times and Probability say.
// The zero value of each field places no limit.
type Fault struct {
	// Op names the operation, as in Error.Op: "put", "put-if-absent", "get",
	// "get-range", "list", "delete". Empty: every operation.
	Op string

	// KeyPrefix limits the rule to keys starting with it (for list: to
	// prefixes starting with it). Empty: every key.
	KeyPrefix string

	// Err is returned, wrapped in *Error with the call's op and key, when the
	// rule fires. Nil: the rule only adds Latency.
	Err error

	// Latency delays a call the rule fires on. If ctx is done first, the call
	// returns ctx's error without reaching the inner store.
	Latency time.Duration

	// Landed sends the call through to the inner store before returning Err,
	// if the inner call succeeded: a PUT (or delete) that lands but reports
	// failure, as when a reply is lost on the way back.
	Landed bool

	// OnCall, if above 0, fires the rule on the OnCall-th matching call only
	// (1 is the first), counted from when the rule was injected.
	OnCall int

	// Times, if above 0, is how often the rule fires at most.
	Times int

	// Probability, if strictly between 0 and 1, is the chance that a matching
	// call fires the rule, drawn from the Faulty's seeded source. Any other
	// value (0 included): every matching call.
	Probability float64
}

// Faulty wraps a Store and injects faults into its calls by rules, for tests
// of the code above the Store. Without rules it behaves as the inner store.
//
// Rules are checked in the order injected. Every matching rule counts the
// call; the latencies of all that fire add up, and the first that fires with
// an Err decides the result. Randomness comes from the seed alone, so a
// sequence of calls made in the same order meets the same faults. Safe for
// concurrent use.
type Faulty struct {
	inner Store
	mu    struct {
		sync.Mutex
		rules []*faultRule
		rng   *rand.Rand
	}
}

var _ Store = (*Faulty)(nil)

type faultRule struct {
	Fault
	calls, fired int
}

// NewFaulty wraps s with no rules; seed drives Probability.
func NewFaulty(s Store, seed uint64) *Faulty {
	f := &Faulty{inner: s}
	f.mu.rng = rand.New(rand.NewPCG(seed, seed))
	return f
}

// Inject adds a rule and returns a function that removes it (a second call
// of that function does nothing).
func (f *Faulty) Inject(fault Fault) (remove func()) {
	r := &faultRule{Fault: fault}
	f.mu.Lock()
	f.mu.rules = append(f.mu.rules, r)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.mu.rules = slices.DeleteFunc(f.mu.rules, func(x *faultRule) bool { return x == r })
		f.mu.Unlock()
	}
}

// Reset removes every rule.
func (f *Faulty) Reset() {
	f.mu.Lock()
	f.mu.rules = nil
	f.mu.Unlock()
}

// decide counts the call against every matching rule and returns the total
// latency and the rule, if any, whose error the call gets.
func (f *Faulty) decide(op, key string) (latency time.Duration, fault *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.mu.rules {
		if (r.Op != "" && r.Op != op) || !strings.HasPrefix(key, r.KeyPrefix) {
			continue
		}
		r.calls++
		if (r.OnCall > 0 && r.calls != r.OnCall) || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && f.mu.rng.Float64() >= r.Probability {
			continue
		}
		r.fired++
		latency += r.Latency
		if r.Err != nil && fault == nil {
			fault = &r.Fault
		}
	}
	return latency, fault
}

// do runs call under the rules for op and key.
func (f *Faulty) do(ctx context.Context, op, key string, call func() error) error {
	latency, fault := f.decide(op, key)
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return &Error{Op: op, Key: key, Err: ctx.Err()}
		case <-t.C:
		}
	}
	if fault == nil {
		return call()
	}
	if fault.Landed {
		if err := call(); err != nil {
			return err
		}
	}
	return &Error{Op: op, Key: key, Err: fault.Err}
}

func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, "put", key, func() error { return f.inner.Put(ctx, key, data) })
}

func (f *Faulty) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, "put-if-absent", key, func() error { return f.inner.PutIfAbsent(ctx, key, data) })
}

func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := f.do(ctx, "get", key, func() (err error) {
		data, err = f.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

func (f *Faulty) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	var data []byte
	err := f.do(ctx, "get-range", key, func() (err error) {
		data, err = f.inner.GetRange(ctx, key, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

func (f *Faulty) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var infos []ObjectInfo
	err := f.do(ctx, "list", prefix, func() (err error) {
		infos, err = f.inner.List(ctx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	return infos, nil
}

func (f *Faulty) Delete(ctx context.Context, key string) error {
	return f.do(ctx, "delete", key, func() error { return f.inner.Delete(ctx, key) })
}
