package account

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// TestErrorTable: each kind of error gets the router's status and code.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	free, err := billing.DefaultPricing()
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := free.Plan("free")
	quota := plan.Check(billing.QuotaAPIKeys, 2, 1)
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", auth.ErrUnauthenticated), 401, "unauthenticated"},
		{&auth.ForbiddenError{Role: registry.RoleViewer, Action: auth.ActManageKeys}, 403, "forbidden"},
		{quota, 403, "forbidden"},
		{fmt.Errorf("x: %w", registry.ErrInvalid), 400, "invalid"},
		{fmt.Errorf("x: %w", registry.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("x: %w", registry.ErrExists), 409, "exists"},
		{&http.MaxBytesError{Limit: 10}, 413, "too_large"},
		{fmt.Errorf("read: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), 503, "unavailable"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{errors.New("boom"), 500, "internal"},
	} {
		status, code, msg, internal := classify(c.err)
		if status != c.status || code != c.code || (internal != (status == 500)) || (internal && msg != "internal error") {
			t.Errorf("%v: %d %s %q, want %d %s", c.err, status, code, msg, c.status, c.code)
		}
	}
}
