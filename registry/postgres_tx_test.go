package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// TestPostgresMigrationChecksum: an applied migration whose file changed
// stops the open, naming the file; a row without a checksum gets one.
func TestPostgresMigrationChecksum(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := openPostgres(t, url)
	defer s.Close()

	ms, err := loadMigrations()
	noErr(t, "loadMigrations", err)
	var sum string
	noErr(t, "read checksum", s.pool.QueryRow(ctx, "SELECT checksum FROM schema_migrations WHERE version = $1",
		ms[0].version).Scan(&sum))
	if sum != ms[0].checksum || len(sum) != 64 {
		t.Fatalf("recorded checksum %q, want the file's sha256 %q", sum, ms[0].checksum)
	}

	// The binary's file edited after it was applied.
	edited := append([]migration(nil), ms...)
	edited[0] = newMigration(ms[0].version, ms[0].name, ms[0].sql+"\n-- an edit\n")
	err = applyMigrations(ctx, s.pool, edited)
	wantErr(t, "migrate with an edited file", err, ErrInvalid, ms[0].name, "changed since it was applied")

	// The same seen through OpenPostgres: the database recorded another file.
	_, err = s.pool.Exec(ctx, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = $1", ms[0].version)
	noErr(t, "tamper", err)
	_, err = OpenPostgres(ctx, url)
	wantErr(t, "OpenPostgres with a changed migration", err, ErrInvalid, ms[0].name)

	// A row from before checksums were recorded is given the file's.
	_, err = s.pool.Exec(ctx, "UPDATE schema_migrations SET checksum = NULL")
	noErr(t, "clear checksums", err)
	s2 := openPostgres(t, url)
	s2.Close()
	noErr(t, "read checksum", s.pool.QueryRow(ctx, "SELECT checksum FROM schema_migrations WHERE version = $1",
		ms[0].version).Scan(&sum))
	if sum != ms[0].checksum {
		t.Errorf("checksum after reopen %q, want %q", sum, ms[0].checksum)
	}
}

// TestPostgresTxRetry: inTx runs a transaction that failed with a
// serialization failure or deadlock again, at most txAttempts times, and no
// other failure.
func TestPostgresTxRetry(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pgtest.URL(t))
	defer s.Close()
	ctx := t.Context()

	failing := func(code string, failures int) (func(pgx.Tx) error, *int) {
		n := new(int)
		return func(tx pgx.Tx) error {
			*n++
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				return err
			}
			if *n <= failures {
				return &pgconn.PgError{Code: code, Message: "injected"}
			}
			return nil
		}, n
	}
	for _, tc := range []struct {
		code         string
		failures     int
		wantAttempts int
		wantErr      bool
	}{
		{pgSerializationFailure, 1, 2, false},
		{pgDeadlockDetected, 2, 3, false},
		{pgSerializationFailure, 5, txAttempts, true},
		{pgUniqueViolation, 5, 1, true},
	} {
		fn, n := failing(tc.code, tc.failures)
		err := s.inTx(ctx, fn)
		if *n != tc.wantAttempts || (err != nil) != tc.wantErr {
			t.Errorf("code %s failing %d times: %d attempts, error %v; want %d attempts, error %v",
				tc.code, tc.failures, *n, err, tc.wantAttempts, tc.wantErr)
		}
		if err != nil && pgCode(err) != tc.code {
			t.Errorf("code %s: returned %v, want the last failure", tc.code, err)
		}
	}

	// The backoff gives up with the context.
	cctx, cancel := context.WithCancel(ctx)
	n := 0
	err := s.inTx(cctx, func(tx pgx.Tx) error {
		n++
		cancel()
		return &pgconn.PgError{Code: pgDeadlockDetected}
	})
	if n != 1 || pgCode(err) != pgDeadlockDetected {
		t.Errorf("cancelled during backoff: %d attempts, %v; want 1, the deadlock", n, err)
	}
}

// TestPostgresDeadlockRetried: two transactions locking two rows in opposite
// orders deadlock; PostgreSQL aborts one (after deadlock_timeout, 1 s by
// default) and inTx runs it again, so both succeed.
func TestPostgresDeadlockRetried(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pgtest.URL(t))
	defer s.Close()
	ctx := t.Context()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")

	var attempts atomic.Int32
	var ready sync.WaitGroup
	ready.Add(2)
	run := func(first, second int64) error {
		once := true
		return s.inTx(ctx, func(tx pgx.Tx) error {
			attempts.Add(1)
			lock := func(id int64) error {
				_, err := tx.Exec(ctx, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", id)
				return err
			}
			if err := lock(first); err != nil {
				return err
			}
			if once { // both hold their first row before either asks for its second
				once = false
				ready.Done()
				ready.Wait()
			}
			return lock(second)
		})
	}
	errs := make(chan error, 2)
	start := time.Now()
	go func() { errs <- run(a.ID, b.ID) }()
	go func() { errs <- run(b.ID, a.ID) }()
	for range 2 {
		if err := <-errs; err != nil {
			var pe *pgconn.PgError
			errors.As(err, &pe)
			t.Errorf("transaction failed: %v (%+v)", err, pe)
		}
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts in all, want 3 (one deadlock victim run again)", n)
	}
	t.Logf("deadlock resolved in %v", time.Since(start))
}
