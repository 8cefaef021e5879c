package billing

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// priceScale is how many Price units make one cent: unit prices carry at
// most four decimal places of a cent, so every invoice amount is an exact
// rational before the one rounding step (see Invoice).
const priceScale = 10_000

// priceDecimals is the number of decimal places a Price may be written with.
const priceDecimals = 4

// Price is a non-negative unit price in ten-thousandths of a cent. In the
// pricing file it is a plain JSON number of cents with at most four decimal
// places (2.5 is 2.5 cents); exponents and negative numbers are refused.
type Price int64

// Cents formats the price as a decimal number of cents without trailing
// zeros: "2.5", "10", "0.0001".
func (p Price) Cents() string {
	whole, frac := int64(p)/priceScale, int64(p)%priceScale
	if frac == 0 {
		return strconv.FormatInt(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%04d", frac), "0")
	return strconv.FormatInt(whole, 10) + "." + f
}

// MarshalJSON writes the price as a JSON number of cents.
func (p Price) MarshalJSON() ([]byte, error) { return []byte(p.Cents()), nil }

// UnmarshalJSON parses a JSON number of cents with at most four decimals.
func (p *Price) UnmarshalJSON(b []byte) error {
	v, err := parsePrice(string(bytes.TrimSpace(b)))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// parsePrice parses "12", "2.5" or "0.0001" (cents) exactly.
func parsePrice(s string) (Price, error) {
	bad := fmt.Errorf("want a non-negative number of cents with at most %d decimals, got %s", priceDecimals, s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, bad
	}
	if len(frac) > priceDecimals {
		return 0, bad
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<62)/priceScale {
		return 0, fmt.Errorf("price %s cents is too large", s)
	}
	frac += strings.Repeat("0", priceDecimals-len(frac))
	f, _ := strconv.ParseInt(frac, 10, 64) // digits only, at most 4 of them
	return Price(w*priceScale + f), nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
