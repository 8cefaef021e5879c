package schema

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentRegistrationsAcrossRouters: two registry handlers (two
// router processes) on one PostgreSQL store receive, at once, two schemas
// that are each compatible with v1 but not with each other. Exactly one may
// become v2; the other must be refused as incompatible with it, never both
// registered because each was checked against v1 only.
func TestConcurrentRegistrationsAcrossRouters(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	u1 := serve(t, s, "default", Config{})
	tn, err := s.TenantByName(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{Store: s, Tenant: func(*http.Request) (int64, error) { return tn.ID, nil }})
	if err != nil {
		t.Fatal(err)
	}
	u2 := newTestServer(t, h)
	const v1 = `{"type":"record","name":"R","fields":[{"name":"id","type":"long"}]}`
	asString := avroBody(`{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"x","type":"string","default":""}]}`)
	asInt := avroBody(`{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"x","type":"int","default":0}]}`)
	for round := range 10 {
		subject := fmt.Sprintf("s%d", round)
		wantCall(t, u1, "POST", "/subjects/"+subject+"/versions", avroBody(v1), 200, `"id"`)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, c := range []struct{ url, body string }{{u1, asString}, {u2, asInt}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(c.url+"/subjects/"+subject+"/versions", ContentType, strings.NewReader(c.body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, statuses)
		}
		wantCall(t, u1, "GET", "/subjects/"+subject+"/versions", "", 200, `[1,2]`)
	}
}
