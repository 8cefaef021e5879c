package partition

import (
	"errors"
	"math"
	"testing"
)

func TestIDString(t *testing.T) {
	t.Parallel()
	if s := (ID{1, 7, 3}).String(); s != "1/7/3" {
		t.Fatal(s)
	}
}

func TestSegmentKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		parts SegmentKeyParts
		key   string
	}{
		{SegmentKeyParts{"", ID{1, 7, 3}, 0, 1}, "1/7/3/00000000000000000000-1.seg"},
		{SegmentKeyParts{"cell-a/segments", ID{12, 34, 0}, 1234, 0}, "cell-a/segments/12/34/0/00000000000000001234-0.seg"},
		{SegmentKeyParts{"p", ID{math.MaxInt64, 1, math.MaxInt32}, math.MaxInt64, math.MaxInt64}, "p/9223372036854775807/1/2147483647/09223372036854775807-9223372036854775807.seg"},
	} {
		if k := SegmentKey(c.parts.Prefix, c.parts.ID, c.parts.BaseOffset, c.parts.Epoch); k != c.key {
			t.Errorf("SegmentKey(%+v) = %q, want %q", c.parts, k, c.key)
		}
		got, err := ParseSegmentKey(c.key)
		if err != nil || got != c.parts {
			t.Errorf("ParseSegmentKey(%q) = %+v, %v", c.key, got, err)
		}
	}
}

func TestParseSegmentKeyRefuses(t *testing.T) {
	t.Parallel()
	for _, k := range []string{
		"",
		"00000000000000000000-1.seg",
		"7/3/00000000000000000000-1.seg",
		"1/7/3/00000000000000000000-1",
		"1/7/3/0000000000000000000-1.seg",
		"1/7/3/000000000000000000000-1.seg",
		"1/7/3/00000000000000000000.seg",
		"1/7/3/00000000000000000000-.seg",
		"1/7/3/00000000000000000000-01.seg",
		"1/7/3/00000000000000000000--1.seg",
		"1/7/3/0000000000000000000a-1.seg",
		"1/7/03/00000000000000000000-1.seg",
		"1/+7/3/00000000000000000000-1.seg",
		"0/7/3/00000000000000000000-1.seg",
		"1/0/3/00000000000000000000-1.seg",
		"1/7/2147483648/00000000000000000000-1.seg",
		"1/7/3/99999999999999999999-1.seg",
		"/1/7/3/00000000000000000000-1.seg",
		"a//1/7/3/00000000000000000000-1.seg",
	} {
		if p, err := ParseSegmentKey(k); !errors.Is(err, ErrInvalidSegmentKey) {
			t.Errorf("ParseSegmentKey(%q) = %+v, %v; want ErrInvalidSegmentKey", k, p, err)
		}
	}
}
