package cells

import (
	"math"
	"testing"
)

func TestLeaseKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range []LeaseKey{
		{Tenant: 1, Topic: 1, Partition: 0},
		{Tenant: 7, Topic: 42, Partition: 3},
		{Tenant: math.MaxInt64, Topic: math.MaxInt64, Partition: math.MaxInt32},
	} {
		s := k.String()
		got, err := ParseLeaseKey(s)
		if err != nil {
			t.Errorf("ParseLeaseKey(%q): %v", s, err)
			continue
		}
		if got != k {
			t.Errorf("ParseLeaseKey(%q) = %+v, want %+v", s, got, k)
		}
	}
	if got, want := (LeaseKey{Tenant: 7, Topic: 42, Partition: 3}).String(), "7.42.3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseLeaseKeyRefusesNonCanonical(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "1", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.",
		"01.2.3", "1.02.3", "1.2.03", "+1.2.3", "1.-2.3", "1.2.-1", " 1.2.3", "1.2.3 ",
		"0.2.3", "1.0.3", // ids are positive
		"a.2.3", "1.b.3", "1.2.c", "1.2.3\n",
		"9223372036854775808.1.1", "1.1.2147483648", // out of range
		"orders.2.3", // a name, never a key
	} {
		if k, err := ParseLeaseKey(s); err == nil {
			t.Errorf("ParseLeaseKey(%q) = %+v, want an error", s, k)
		}
	}
}

func TestLeaseKeyValidate(t *testing.T) {
	t.Parallel()
	for _, k := range []LeaseKey{{0, 1, 0}, {1, 0, 0}, {1, 1, -1}, {-1, 1, 0}} {
		if err := k.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", k)
		}
	}
	if err := (LeaseKey{1, 1, 0}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// FuzzParseLeaseKey checks that whatever parses is canonical: one partition
// never has two keys.
func FuzzParseLeaseKey(f *testing.F) {
	for _, s := range []string{"1.2.3", "01.2.3", "9223372036854775807.1.2147483647", "1.2.3.4", "-1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseLeaseKey(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("ParseLeaseKey(%q) = %+v, whose String is %q", s, k, k.String())
		}
		if err := k.Validate(); err != nil {
			t.Fatalf("ParseLeaseKey(%q) returned an invalid key: %v", s, err)
		}
	})
}

func TestValidateCellName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"dev", "eu-west-1", "cell_2", "A"} {
		if err := ValidateCellName(ok); err != nil {
			t.Errorf("ValidateCellName(%q): %v", ok, err)
		}
	}
	long := make([]byte, maxCellNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", "é", "dev\n", string(long)} {
		if err := ValidateCellName(bad); err == nil {
			t.Errorf("ValidateCellName(%q) = nil, want an error", bad)
		}
	}
}
