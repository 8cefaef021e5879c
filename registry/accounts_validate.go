package registry

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// validateText checks free text: valid UTF-8 without control characters,
// min to max bytes.
func validateText(field, s string, min, max int) error {
	switch {
	case min > 0 && s == "":
		return &ValidationError{Field: field, Reason: "empty"}
	case len(s) > max:
		return &ValidationError{Field: field, Value: shorten(s),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(s), max)}
	case !utf8.ValidString(s):
		return &ValidationError{Field: field, Value: shorten(s), Reason: "not valid UTF-8"}
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return &ValidationError{Field: field, Value: shorten(s),
				Reason: fmt.Sprintf("contains control character %U at byte %d", r, i)}
		}
	}
	return nil
}

// validateASCIIName checks a name of 1 to max bytes drawn from allowed, whose
// first byte is a lowercase letter if firstLetter.
func validateASCIIName(field, s string, max int, allowed string, firstLetter bool) error {
	switch {
	case s == "":
		return &ValidationError{Field: field, Reason: "empty"}
	case len(s) > max:
		return &ValidationError{Field: field, Value: shorten(s),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(s), max)}
	case firstLetter && (s[0] < 'a' || s[0] > 'z'):
		return &ValidationError{Field: field, Value: shorten(s), Reason: "must start with a-z"}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(allowed, c) >= 0 {
			continue
		}
		return &ValidationError{Field: field, Value: shorten(s),
			Reason: fmt.Sprintf("byte %d (%q) is not one of a-z 0-9 %s", i, c, allowed)}
	}
	return nil
}

// ValidatePlan reports whether plan is a valid plan name: 1 to MaxPlanLen
// bytes of a-z 0-9 _ -, starting with a letter.
func ValidatePlan(plan string) error {
	return validateASCIIName("plan", plan, MaxPlanLen, "_-", true)
}

// ValidateTokenID reports whether id is a valid public id of an API key or
// a session: 1 to MaxTokenIDLen bytes of A-Z a-z 0-9 _ -.
func ValidateTokenID(id string) error {
	return validateASCIIName("token id", id, MaxTokenIDLen, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-", false)
}

// ValidateEmail reports whether email is acceptable: at most MaxEmailLen
// bytes of UTF-8 with exactly one '@' between a non-empty local part and
// domain, and no spaces or control characters. Whether it is deliverable is
// for a confirmation mail to find out.
func ValidateEmail(email string) error {
	if err := validateText("email", email, 1, MaxEmailLen); err != nil {
		return err
	}
	local, domain, ok := strings.Cut(email, "@")
	switch {
	case !ok:
		return &ValidationError{Field: "email", Value: shorten(email), Reason: "has no '@'"}
	case strings.Contains(domain, "@"):
		return &ValidationError{Field: "email", Value: shorten(email), Reason: "has more than one '@'"}
	case local == "" || domain == "":
		return &ValidationError{Field: "email", Value: shorten(email), Reason: "needs text on both sides of '@'"}
	case strings.IndexFunc(email, unicode.IsSpace) >= 0:
		return &ValidationError{Field: "email", Value: shorten(email), Reason: "contains a space"}
	}
	return nil
}

// emailKey is how emails are compared: lowercased by Go's rules, the same in
// both stores (PostgreSQL's lower() depends on the database's locale).
func emailKey(email string) string { return strings.ToLower(email) }

func validatePasswordHash(h string) error {
	switch {
	case h == "":
		return &ValidationError{Field: "password hash", Reason: "empty"}
	case len(h) > MaxPasswordHashLen:
		return &ValidationError{Field: "password hash", Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(h), MaxPasswordHashLen)}
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= ' ' || h[i] > '~' {
			return &ValidationError{Field: "password hash", Reason: fmt.Sprintf("byte %d is not printable ASCII", i)}
		}
	}
	return nil
}

// tenantSettingsWithDefaults applies TenantSettings' defaults for the tenant
// named name and validates the result.
func tenantSettingsWithDefaults(name string, s TenantSettings) (TenantSettings, error) {
	if s.DisplayName == "" {
		s.DisplayName = name
	}
	if s.Plan == "" {
		s.Plan = DefaultPlan
	}
	if s.Status == "" {
		s.Status = TenantActive
	}
	if err := validateText("display name", s.DisplayName, 1, MaxDisplayNameLen); err != nil {
		return s, err
	}
	if err := ValidatePlan(s.Plan); err != nil {
		return s, err
	}
	if s.Status != TenantActive && s.Status != TenantSuspended {
		return s, &ValidationError{Field: "tenant status", Value: shorten(string(s.Status)), Reason: `must be "active" or "suspended"`}
	}
	return s, nil
}

// The times the store keeps lie after the Unix epoch (the embedded store
// writes 0 for "unset") and before the year 10000 (PostgreSQL's and Go's
// text forms part ways beyond it).
var (
	minAccountTime = time.Unix(0, 0).UTC()
	maxAccountTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// accountTime is a caller's time as both stores keep it: UTC, to the
// microsecond; the zero time stays zero (unset).
func accountTime(field string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return t, nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(minAccountTime) || !t.Before(maxAccountTime) {
		return t, &ValidationError{Field: field, Value: t.Format(time.RFC3339Nano),
			Reason: "must be after 1970-01-01T00:00:00Z and before the year 10000"}
	}
	return t, nil
}

// atOrNow is at as stored, or now when at is zero.
func atOrNow(field string, at time.Time, now func() time.Time) (time.Time, error) {
	if at.IsZero() {
		return now(), nil
	}
	return accountTime(field, at)
}

func validateHash(field string, h [32]byte) error {
	if h == ([32]byte{}) {
		return &ValidationError{Field: field, Reason: "all zero; give the SHA-256 of the secret"}
	}
	return nil
}

func validateExpiry(field string, expires, now time.Time) error {
	if !expires.After(now) {
		return &ValidationError{Field: field, Value: expires.Format(time.RFC3339Nano), Reason: "not in the future"}
	}
	return nil
}

// prepareAPIKey validates k for CreateAPIKey and normalises its times; now
// becomes its CreatedAt.
func prepareAPIKey(k APIKey, now time.Time) (APIKey, error) {
	if err := ValidateTokenID(k.ID); err != nil {
		return k, err
	}
	if err := validateID("tenant id", k.Tenant); err != nil {
		return k, err
	}
	if err := validateText("API key name", k.Name, 1, MaxAPIKeyNameLen); err != nil {
		return k, err
	}
	if _, err := ParseRole(string(k.Role)); err != nil {
		return k, err
	}
	if err := validateHash("API key hash", k.Hash); err != nil {
		return k, err
	}
	if k.CreatedBy < 0 {
		return k, &ValidationError{Field: "API key creator", Value: fmt.Sprint(k.CreatedBy), Reason: "must be a user id, or 0 for none"}
	}
	var err error
	if k.ExpiresAt, err = accountTime("API key expiry", k.ExpiresAt); err != nil {
		return k, err
	}
	if !k.ExpiresAt.IsZero() {
		if err := validateExpiry("API key expiry", k.ExpiresAt, now); err != nil {
			return k, err
		}
	}
	k.CreatedAt, k.RevokedAt, k.LastUsedAt = now, time.Time{}, time.Time{}
	return k, nil
}

// prepareSession validates s for CreateSession; now becomes its CreatedAt.
func prepareSession(s Session, now time.Time) (Session, error) {
	if err := ValidateTokenID(s.ID); err != nil {
		return s, err
	}
	if err := validateID("user id", s.User); err != nil {
		return s, err
	}
	if err := validateID("tenant id", s.Tenant); err != nil {
		return s, err
	}
	if err := validateHash("session hash", s.Hash); err != nil {
		return s, err
	}
	var err error
	if s.ExpiresAt, err = accountTime("session expiry", s.ExpiresAt); err != nil {
		return s, err
	}
	if err := validateExpiry("session expiry", s.ExpiresAt, now); err != nil {
		return s, err
	}
	s.CreatedAt, s.RevokedAt = now, time.Time{}
	return s, nil
}

// prepareAudit validates e for AppendAudit; a zero At becomes now.
func prepareAudit(e AuditEvent, now func() time.Time) (AuditEvent, error) {
	if err := validateID("tenant id", e.Tenant); err != nil {
		return e, err
	}
	if err := validateText("audit actor", e.Actor, 1, MaxAuditActorLen); err != nil {
		return e, err
	}
	if err := validateASCIIName("audit action", e.Action, MaxAuditActionLen, "._-", false); err != nil {
		return e, err
	}
	if err := validateText("audit target", e.Target, 0, MaxAuditTargetLen); err != nil {
		return e, err
	}
	switch {
	case len(e.Detail) > MaxAuditDetailLen:
		return e, &ValidationError{Field: "audit detail", Value: shorten(e.Detail),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(e.Detail), MaxAuditDetailLen)}
	case !utf8.ValidString(e.Detail):
		return e, &ValidationError{Field: "audit detail", Value: shorten(e.Detail), Reason: "not valid UTF-8"}
	case strings.IndexByte(e.Detail, 0) >= 0:
		return e, &ValidationError{Field: "audit detail", Value: shorten(e.Detail), Reason: "contains NUL"}
	}
	e.ID = 0
	var err error
	e.At, err = atOrNow("audit time", e.At, now)
	return e, err
}

func validateAuditPage(beforeID int64, limit int) error {
	if beforeID < 0 {
		return &ValidationError{Field: "audit before id", Value: fmt.Sprint(beforeID), Reason: "must be 0 (newest) or positive"}
	}
	if limit < 1 || limit > MaxAuditPage {
		return &ValidationError{Field: "audit limit", Value: fmt.Sprint(limit), Reason: fmt.Sprintf("must be 1 to %d", MaxAuditPage)}
	}
	return nil
}

// lastOwnerError refuses a change that would leave the tenant without an
// owner.
func lastOwnerError(tenant, user int64) error {
	return &ValidationError{Field: "membership", Value: fmt.Sprintf("user %d in tenant %d", user, tenant),
		Reason: "the last owner cannot be removed or demoted; make another member owner first"}
}
