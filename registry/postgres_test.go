package registry

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func openPostgres(t *testing.T, url string) *Postgres {
	t.Helper()
	s, err := OpenPostgres(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) Store {
		s := openPostgres(t, pgtest.URL(t))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestPostgresReopen: agents starting at once migrate once; a reopen applies
// nothing and finds the data.
func TestPostgresReopen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	stores := make([]*Postgres, 3)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(t.Context(), url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		noErr(t, "concurrent open", err)
		defer stores[i].Close()
	}
	ms, err := loadMigrations()
	noErr(t, "loadMigrations", err)
	checkMigrations := func(s *Postgres) {
		t.Helper()
		var n, max int
		err := s.pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &max)
		noErr(t, "count migrations", err)
		if n != len(ms) || max != ms[len(ms)-1].version {
			t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, max, len(ms), ms[len(ms)-1].version)
		}
	}
	checkMigrations(stores[0])
	w := writeSample(t, stores[1])
	for _, s := range stores {
		noErr(t, "close", s.Close())
	}

	s := openPostgres(t, url)
	defer s.Close()
	checkMigrations(s)
	checkSample(t, s, w)
}
