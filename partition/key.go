package partition

import (
	"fmt"
	"strconv"
	"strings"
)

// SegmentKey returns the object key of a segment:
// "<prefix>/<tenant>/<topic>/<partition>/<base offset, 20 digits>-<epoch>.seg",
// without the prefix and its slash when prefix is empty. The prefix should
// neither start nor end with a slash (objectstore.ValidateKey). For an
// object holding several partitions, id and baseOffset are those of its
// first partition.
func SegmentKey(prefix string, id ID, baseOffset, epoch int64) string {
	b := make([]byte, 0, len(prefix)+64)
	if prefix != "" {
		b = append(b, prefix...)
		b = append(b, '/')
	}
	b = strconv.AppendInt(b, id.Tenant, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, id.Topic, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(id.Partition), 10)
	b = append(b, '/')
	b = fmt.Appendf(b, "%020d", baseOffset)
	b = append(b, '-')
	b = strconv.AppendInt(b, epoch, 10)
	b = append(b, ".seg"...)
	return string(b)
}

// SegmentKeyParts are the fields of a segment key.
type SegmentKeyParts struct {
	Prefix     string // empty when the key has none
	ID         ID
	BaseOffset int64
	Epoch      int64
}

// ParseSegmentKey parses a key made by SegmentKey. It accepts only the
// canonical form (no sign, no leading zeros but in the 20-digit offset), so
// that SegmentKey(parts) == key; anything else wraps ErrInvalidSegmentKey.
func ParseSegmentKey(key string) (SegmentKeyParts, error) {
	var k SegmentKeyParts
	bad := func(why string) (SegmentKeyParts, error) {
		return SegmentKeyParts{}, fmt.Errorf("%w: %q: %s", ErrInvalidSegmentKey, key, why)
	}
	rest, name, ok := cutLast(key)
	base, ok2 := strings.CutSuffix(name, ".seg")
	if !ok2 {
		return bad("no .seg suffix")
	}
	offs, epochs, ok2 := strings.Cut(base, "-")
	if len(offs) != 20 {
		return bad("base offset is not 20 digits")
	}
	var err error
	if k.BaseOffset, err = parseDecimal(offs, true); err != nil {
		return bad("base offset: " + err.Error())
	}
	if !ok2 {
		return bad("no epoch")
	}
	if k.Epoch, err = parseDecimal(epochs, false); err != nil {
		return bad("epoch: " + err.Error())
	}
	var fields [3]int64
	for i := 2; i >= 0; i-- {
		if !ok {
			return bad("fewer than four path segments")
		}
		var s string
		rest, s, ok = cutLast(rest)
		if fields[i], err = parseDecimal(s, false); err != nil {
			return bad(err.Error())
		}
	}
	if fields[2] > 1<<31-1 {
		return bad("partition out of range")
	}
	k.ID = ID{Tenant: fields[0], Topic: fields[1], Partition: int32(fields[2])}
	if err := k.ID.Validate(); err != nil {
		return bad(err.Error())
	}
	if ok {
		if rest == "" || strings.HasPrefix(rest, "/") || strings.HasSuffix(rest, "/") || strings.Contains(rest, "//") {
			return bad("empty path segment in the prefix")
		}
		k.Prefix = rest
	}
	return k, nil
}

// cutLast splits s at its last slash: ok is false when there is none, and
// then last is s.
func cutLast(s string) (rest, last string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// parseDecimal parses a non-negative decimal int64 of digits only; leading
// zeros only when padded.
func parseDecimal(s string, padded bool) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	if !padded && len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
