package registry

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store on PostgreSQL, the production catalogue. Any number
// of agents and routers may share one database.
type Postgres struct {
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises migrations
// between processes starting at once.
const migrationLock int64 = 0x5348_7265_6769_7374 // "SHregist"

// OpenPostgres connects a pool to url (a postgres:// URL or key=value DSN,
// as pgxpool.ParseConfig takes; pool_max_conns and the other pool_*
// parameters size the pool, by default max(4, GOMAXPROCS)) and brings the schema up to date by applying
// the embedded migrations not yet recorded in schema_migrations, in order,
// each in its own transaction. It is safe to call from many processes at once
// and on an up-to-date database it changes nothing.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open postgres registry: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres registry: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close closes the pool; it waits for acquired connections to be released.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

type migration struct {
	version  int
	name     string
	sql      string
	checksum string // hex sha256 of the file
}

// loadMigrations returns the embedded migrations sorted by version; file
// names are "<version>_<name>.sql".
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: name must start with a positive number and '_'", e.Name())
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, newMigration(v, e.Name(), string(body)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

func newMigration(version int, name, sql string) migration {
	sum := sha256.Sum256([]byte(sql))
	return migration{version: version, name: name, sql: sql, checksum: hex.EncodeToString(sum[:])}
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return applyMigrations(ctx, pool, ms)
}

// applyMigrations applies ms in order, each in its own transaction, skipping
// those recorded in schema_migrations. It refuses (ErrInvalid, naming the
// file) when an applied migration's file is not the one that was applied:
// its sha256 is recorded with it. A row recorded before checksums were kept
// gets the current file's.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				checksum   text, -- hex sha256 of the migration file
				applied_at timestamptz NOT NULL DEFAULT now());
				ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text`); err != nil {
				return err
			}
			var name string
			var sum *string
			err := tx.QueryRow(ctx, "SELECT name, checksum FROM schema_migrations WHERE version = $1", m.version).Scan(&name, &sum)
			switch {
			case err == nil && sum == nil:
				_, err = tx.Exec(ctx, "UPDATE schema_migrations SET checksum = $2 WHERE version = $1", m.version, m.checksum)
				return err
			case err == nil && *sum != m.checksum:
				return &ValidationError{Field: "migration file", Value: m.name, Reason: fmt.Sprintf(
					"changed since it was applied (as %s): sha256 %s, applied %s; never edit an applied migration, add the next file",
					name, m.checksum, *sum)}
			case err == nil:
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil { // no arguments: simple protocol, many statements
				return err
			}
			_, err = tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				m.version, m.name, m.checksum)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// PostgreSQL error codes mapped onto the sentinels.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgCheckViolation      = "23514"

	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// mapPgError turns constraint violations into the sentinels, keeping the
// server's detail as context; other errors pass unchanged.
func mapPgError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	var sentinel error
	switch pe.Code {
	case pgUniqueViolation:
		sentinel = ErrExists
	case pgForeignKeyViolation:
		sentinel = ErrNotFound
	case pgCheckViolation:
		sentinel = ErrInvalid
	default:
		return err
	}
	detail := pe.Detail
	if detail == "" {
		detail = pe.Message
	}
	detail = strings.TrimSuffix(detail, ".")
	return fmt.Errorf("%s: %w", detail, sentinel)
}

// Transaction retry: a deadlock or a serialization failure aborts the whole
// transaction through no fault of its own, so inTx runs it again, at most
// txAttempts times in all, waiting txBackoff, then twice that, in between.
const (
	txAttempts = 3
	txBackoff  = 10 * time.Millisecond
)

// inTx runs fn in a transaction: committed if fn returns nil, else rolled
// back. A deadlock (40P01) or serialization failure (40001), from fn's
// statements or the commit, rolls back and runs fn again in a new
// transaction, up to txAttempts times, so fn must set all its results afresh
// on each run. The backoff between attempts gives up when ctx ends.
func (p *Postgres) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	backoff := txBackoff
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, p.pool, fn)
		if attempt >= txAttempts || !retryable(err) {
			return err
		}
		// Jitter, so the transactions that collided do not collide again.
		wait := backoff/2 + rand.N(backoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

// retryable reports whether err aborted a transaction that may simply be
// run again.
func retryable(err error) bool {
	switch pgCode(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return false
}
