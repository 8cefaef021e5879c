package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// call is one HTTP request with an optional bearer credential; it returns
// the status and the body.
func call(t *testing.T, method, url, cred, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// must is call that fails the test unless the status is want.
func must(t *testing.T, want int, method, url, cred, body string) []byte {
	t.Helper()
	status, out := call(t, method, url, cred, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, status, out, want)
	}
	return out
}

// testOrg is an organization signed up on a cell: its owner's access token
// and the ids the API gave.
type testOrg struct {
	name    string
	id      int64
	userID  int64
	token   string // the owner's access token
	refresh string
}

// signUp creates an organization and its owner through the account API.
func signUp(t *testing.T, base, email, org string) *testOrg {
	t.Helper()
	out := must(t, http.StatusCreated, "POST", base+"/api/v1/auth/signup", "",
		fmt.Sprintf(`{"email":%q,"password":"correct horse battery","organization":%q}`, email, org))
	var r struct {
		User         struct{ ID int64 } `json:"user"`
		Organization struct{ ID int64 } `json:"organization"`
		AccessToken  string             `json:"access_token"`
		RefreshToken string             `json:"refresh_token"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.AccessToken == "" || r.Organization.ID == 0 {
		t.Fatalf("signup answer %s: %v", out, err)
	}
	return &testOrg{name: org, id: r.Organization.ID, userID: r.User.ID, token: r.AccessToken, refresh: r.RefreshToken}
}

// newKey creates an API key of the role with the org owner's token and
// returns its id and secret.
func (o *testOrg) newKey(t *testing.T, base, name, role string) (id, secret string) {
	t.Helper()
	out := must(t, http.StatusCreated, "POST", base+"/api/v1/keys", o.token, fmt.Sprintf(`{"name":%q,"role":%q}`, name, role))
	var r struct {
		Key    struct{ ID string } `json:"key"`
		Secret string              `json:"secret"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Key.ID == "" || !strings.HasPrefix(r.Secret, "shk_") {
		t.Fatalf("key answer %s: %v", out, err)
	}
	return r.Key.ID, r.Secret
}

// bearerCtx carries a credential as gRPC's authorization metadata.
func bearerCtx(ctx context.Context, cred string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cred)
}

// dialGRPC connects to a cell's gRPC API without credentials of its own:
// each call carries them (bearerCtx).
func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// records builds a JSON produce body of n records whose values are
// prefix-0, prefix-1, ...
func records(prefix string, n int) string {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"%s-%d"}`, prefix, i)
	}
	b.WriteString(`]}`)
	return b.String()
}
