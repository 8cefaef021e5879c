package billing

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	free, ent := mustPlan(t, "free"), mustPlan(t, "enterprise")
	for _, c := range []struct {
		name         string
		plan         *Plan
		q            Quota
		used, adding int64
		want         string // "" for allowed
	}{
		{"under", free, QuotaTopics, 3, 1, ""},
		{"reaches the limit", free, QuotaTopics, 9, 1, ""},
		{"at the limit", free, QuotaTopics, 10, 1, "quota topics exceeded: 10 of 10 used on plan free"},
		{"beyond the limit", free, QuotaTopics, 12, 1, "quota topics exceeded: 12 of 10 used on plan free"},
		{"batch crosses the limit", free, QuotaRecordsPerMonth, 9_999_990, 20, "quota records_per_month exceeded: 9999990 of 10000000 used, 20 more requested on plan free"},
		{"batch fits exactly", free, QuotaRecordsPerMonth, 9_999_990, 10, ""},
		{"partitions", free, QuotaPartitionsPerTopic, 0, 5, "quota partitions_per_topic exceeded: a topic of 5 partitions is more than the limit 4 on plan free"},
		{"storage", free, QuotaStorageBytes, 1_000_000_000, 1, "quota storage_bytes exceeded: 1000000000 of 1000000000 used on plan free"},
		{"api keys", free, QuotaAPIKeys, 2, 1, "quota api_keys exceeded: 2 of 2 used on plan free"},
		{"members", free, QuotaMembers, 3, 1, "quota members exceeded: 3 of 3 used on plan free"},
		{"nothing added", free, QuotaTopics, 50, 0, ""},
		{"unlimited", ent, QuotaTopics, 1 << 40, 1 << 40, ""},
		{"limited on enterprise", ent, QuotaPartitionsPerTopic, 1000, 25, "quota partitions_per_topic exceeded: a topic of 1025 partitions is more than the limit 1024 on plan enterprise"},
		{"no overflow near max", free, QuotaTopics, 1, 1<<63 - 1, "quota topics exceeded: 1 of 10 used, 9223372036854775807 more requested on plan free"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.plan.Check(c.q, c.used, c.adding)
			if c.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var qe *QuotaError
			if !errors.As(err, &qe) || err.Error() != c.want {
				t.Fatalf("Check = %v, want %s", err, c.want)
			}
			if qe.Kind() != KindCount || qe.HTTPStatus() != http.StatusForbidden || !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("kind %v status %d is %v", qe.Kind(), qe.HTTPStatus(), errors.Is(err, ErrQuotaExceeded))
			}
			if qe.Quota != c.q || qe.Used != c.used || qe.Adding != c.adding || qe.Plan != c.plan.Name {
				t.Fatalf("fields = %+v", qe)
			}
		})
	}
}

func TestCheckRefusesBadInput(t *testing.T) {
	free := mustPlan(t, "free")
	for _, c := range []struct {
		q            Quota
		used, adding int64
		want         string
	}{
		{QuotaProduceBytesPerSecond, 0, 1, "a rate is enforced by Limiters"},
		{Quota("queues"), 0, 1, `unknown quota "queues"`},
		{QuotaTopics, -1, 1, "negative usage"},
		{QuotaTopics, 1, -1, "negative usage"},
	} {
		err := free.Check(c.q, c.used, c.adding)
		if err == nil || errors.Is(err, ErrQuotaExceeded) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%s, %d, %d) = %v, want %s", c.q, c.used, c.adding, err, c.want)
		}
	}
}

func TestQuotaErrorStatus(t *testing.T) {
	for _, c := range []struct {
		kind QuotaKind
		want int
	}{{KindCount, 403}, {KindRate, 429}, {KindBatch, 413}} {
		if got := (&QuotaError{kind: c.kind}).HTTPStatus(); got != c.want {
			t.Errorf("kind %d: status %d, want %d", c.kind, got, c.want)
		}
	}
}
