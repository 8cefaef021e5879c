package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotFound, false},
		{fmt.Errorf("get topic: %w", &pgconn.PgError{Code: "57P01"}), true}, // admin shutdown
		{fmt.Errorf("get topic: %w", &pgconn.PgError{Code: "57P03"}), true}, // starting up
		{fmt.Errorf("get topic: %w", &pgconn.PgError{Code: "08006"}), true}, // connection failure
		{fmt.Errorf("create: %w", &pgconn.PgError{Code: "23505"}), false},   // unique violation
		{errors.New("something else"), false},
	} {
		if got := IsUnavailable(tc.err); got != tc.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// A real refused connection: nothing listens on port 1.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := OpenPostgres(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		p.Close()
		t.Fatal("opened a registry on a closed port")
	}
	if !IsUnavailable(err) {
		t.Errorf("refused connection %v: IsUnavailable false", err)
	}
}
