package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Limit is a plan limit: a non-negative count, or Unlimited. In the pricing
// file it is written as a JSON integer or as the string "unlimited".
type Limit int64

// Unlimited is the Limit written "unlimited": the quota is never checked.
const Unlimited Limit = -1

// IsUnlimited reports whether l is Unlimited.
func (l Limit) IsUnlimited() bool { return l < 0 }

// String returns the decimal limit or "unlimited".
func (l Limit) String() string {
	if l.IsUnlimited() {
		return "unlimited"
	}
	return strconv.FormatInt(int64(l), 10)
}

// MarshalJSON writes an integer, or "unlimited".
func (l Limit) MarshalJSON() ([]byte, error) {
	if l.IsUnlimited() {
		return []byte(`"unlimited"`), nil
	}
	return strconv.AppendInt(nil, int64(l), 10), nil
}

// UnmarshalJSON accepts a non-negative JSON integer or the string
// "unlimited"; anything else (fractions, exponents, negative numbers, other
// strings) is refused.
func (l *Limit) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "unlimited" {
			return fmt.Errorf("want a non-negative integer or \"unlimited\", got %q", s)
		}
		*l = Unlimited
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a non-negative integer or \"unlimited\", got %s", b)
	}
	*l = Limit(n)
	return nil
}
