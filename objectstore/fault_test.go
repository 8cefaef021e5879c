package objectstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var errBoom = errors.New("boom")

func TestFaultyError(t *testing.T) {
	t.Parallel()
	inner := NewMem()
	f := NewFaulty(inner, 1)
	f.Inject(Fault{Op: "put", Err: errBoom})
	wantErr(t, f.Put(t.Context(), "k", []byte("x")), errBoom, "put", "k")
	if _, err := inner.Get(t.Context(), "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed put reached the store: %v", err)
	}
	// Other operations pass.
	if err := f.PutIfAbsent(t.Context(), "k", []byte("y")); err != nil {
		t.Fatal(err)
	}
	mustGet(t, f, "k", []byte("y"))
}

func TestFaultyEveryOpAndKeyPrefix(t *testing.T) {
	t.Parallel()
	f := NewFaulty(NewMem(), 1)
	mustPut(t, f, "ok/k", []byte("x"))
	mustPut(t, f, "bad/k", []byte("x"))
	f.Inject(Fault{KeyPrefix: "bad/", Err: errBoom})
	ctx := t.Context()
	wantErr(t, f.Put(ctx, "bad/k", nil), errBoom, "put", "bad/k")
	wantErr(t, f.PutIfAbsent(ctx, "bad/n", nil), errBoom, "put-if-absent", "bad/n")
	data, err := f.Get(ctx, "bad/k")
	wantErr(t, err, errBoom, "get", "bad/k")
	if data != nil {
		t.Fatal("failed Get returned data")
	}
	_, err = f.GetRange(ctx, "bad/k", 0, 1)
	wantErr(t, err, errBoom, "get-range", "bad/k")
	_, err = f.List(ctx, "bad/")
	wantErr(t, err, errBoom, "list", "bad/")
	wantErr(t, f.Delete(ctx, "bad/k"), errBoom, "delete", "bad/k")

	mustGet(t, f, "ok/k", []byte("x"))
	if len(mustList(t, f, "")) != 2 { // the prefix "" does not start with "bad/"
		t.Fatal("List of everything failed or lost objects")
	}
}

func TestFaultyOnCallAndTimes(t *testing.T) {
	t.Parallel()
	f := NewFaulty(NewMem(), 1)
	mustPut(t, f, "k", []byte("x"))
	f.Inject(Fault{Op: "get", OnCall: 3, Err: errBoom})
	for call := 1; call <= 5; call++ {
		_, err := f.Get(t.Context(), "k")
		if (call == 3) != errors.Is(err, errBoom) {
			t.Fatalf("get call %d: %v", call, err)
		}
	}
	f.Reset()
	f.Inject(Fault{Op: "delete", Times: 2, Err: errBoom})
	for call := 1; call <= 4; call++ {
		err := f.Delete(t.Context(), "missing")
		if (call <= 2) != errors.Is(err, errBoom) {
			t.Fatalf("delete call %d: %v", call, err)
		}
	}
}

func TestFaultyLanded(t *testing.T) {
	t.Parallel()
	f := NewFaulty(NewMem(), 1)
	f.Inject(Fault{Op: "put", Landed: true, Err: errBoom})
	f.Inject(Fault{Op: "put-if-absent", Landed: true, Err: errBoom, Times: 1})
	wantErr(t, f.Put(t.Context(), "k", []byte("landed")), errBoom, "put", "k")
	mustGet(t, f, "k", []byte("landed"))

	wantErr(t, f.PutIfAbsent(t.Context(), "n", []byte("landed")), errBoom, "put-if-absent", "n")
	mustGet(t, f, "n", []byte("landed"))
	// The retry a caller would make now finds its own object in the way.
	wantErr(t, f.PutIfAbsent(t.Context(), "n", []byte("landed")), ErrPreconditionFailed, "put-if-absent", "n")
	// An inner failure is reported as it is: nothing landed.
	wantErr(t, f.Put(t.Context(), "bad//key", nil), ErrInvalidKey, "put", "bad//key")
}

func TestFaultyLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := NewFaulty(NewMem(), 1)
		f.Inject(Fault{Op: "put", Latency: 5 * time.Second})
		f.Inject(Fault{Op: "put", Latency: time.Second, Times: 1}) // latencies add up
		start := time.Now()
		mustPut(t, f, "k", []byte("x"))
		if d := time.Since(start); d != 6*time.Second {
			t.Fatalf("first put took %v, want 6s", d)
		}

		// A deadline cuts the wait short and the call never lands.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		wantErr(t, f.Put(ctx, "slow", []byte("x")), context.DeadlineExceeded, "put", "slow")
		if d := time.Since(start); d != time.Second {
			t.Fatalf("cancelled put took %v, want 1s", d)
		}
		if _, err := f.Get(t.Context(), "slow"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cancelled put landed: %v", err)
		}
	})
}

func TestFaultyProbabilityIsSeeded(t *testing.T) {
	t.Parallel()
	pattern := func(seed uint64) []bool {
		f := NewFaulty(NewMem(), seed)
		f.Inject(Fault{Op: "delete", Probability: 0.3, Err: errBoom})
		out := make([]bool, 1000)
		for i := range out {
			out[i] = f.Delete(t.Context(), "k") != nil
		}
		return out
	}
	a, b, c := pattern(42), pattern(42), pattern(43)
	fails, same := 0, true
	for i := range a {
		if a[i] {
			fails++
		}
		same = same && a[i] == b[i]
	}
	if !same {
		t.Fatal("the same seed gave different faults")
	}
	if fails < 230 || fails > 370 {
		t.Fatalf("%d of 1000 calls failed at probability 0.3", fails)
	}
	differs := false
	for i := range a {
		differs = differs || a[i] != c[i]
	}
	if !differs {
		t.Fatal("another seed gave the same faults")
	}
}

func TestFaultyRemoveAndReset(t *testing.T) {
	t.Parallel()
	f := NewFaulty(NewMem(), 1)
	remove := f.Inject(Fault{Op: "put", Err: errBoom})
	f.Inject(Fault{Op: "delete", Err: errBoom})
	remove()
	remove() // twice is harmless
	mustPut(t, f, "k", []byte("x"))
	wantErr(t, f.Delete(t.Context(), "k"), errBoom, "delete", "k")
	f.Reset()
	if err := f.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
}

// TestFaultyConcurrent changes rules while calls run, for the race detector.
func TestFaultyConcurrent(t *testing.T) {
	t.Parallel()
	f := NewFaulty(NewMem(), 1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			remove := func() {}
			for i := range 200 {
				switch i % 4 {
				case 0:
					remove = f.Inject(Fault{Probability: 0.5, Err: errBoom})
				case 1:
					_ = f.Put(t.Context(), "k", []byte{byte(g)})
				case 2:
					_, _ = f.Get(t.Context(), "k")
				case 3:
					remove()
					if g == 0 && i%40 == 3 {
						f.Reset()
					}
				}
			}
		})
	}
	wg.Wait()
}
