package schema

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// Validation is a subject's produce-time check of the records of its topic
// (<topic>-key checks keys, <topic>-value values), set through
// PUT /validation/{subject}.
type Validation string

const (
	// ValidateID: a record must carry the wire format, magic byte 0 and a
	// 4-byte big-endian schema id, of a schema registered (live) under the
	// subject.
	ValidateID Validation = "ID"
	// ValidateStrict: ValidateID, and the rest of the record decodes
	// against that schema.
	ValidateStrict Validation = "STRICT"
)

// ParseValidation checks s names a validation.
func ParseValidation(s string) (Validation, error) {
	switch v := Validation(s); v {
	case ValidateID, ValidateStrict:
		return v, nil
	}
	return "", fmt.Errorf("validation %q: must be ID or STRICT", s)
}

// maxCached bounds each of the Validator's caches (parsed schemas, topic
// rules, ids under subjects); past it a cache starts again empty.
const maxCached = 1024

// RuleTTL is how long the Validator trusts what it read of a topic's rules
// and of which subject holds an id: the produce path then costs no registry
// round trip per request. A changed validation, or a deleted version, takes
// effect within this long.
const RuleTTL = 5 * time.Second

// Validator checks produced records against their topic's subjects. Safe
// for concurrent use.
type Validator struct {
	store registry.Schemas
	now   func() time.Time
	mu    struct {
		sync.Mutex
		parsed map[[2]int64]*Parsed   // tenant, id: a schema id's text never changes
		rules  map[string]cachedRules // tenant NUL topic
		under  map[string]time.Time   // tenant NUL subject NUL id → when seen registered
	}
}

type cachedRules struct {
	key, value Validation
	at         time.Time
}

// NewValidator returns a Validator reading store.
func NewValidator(store registry.Schemas) *Validator {
	v := &Validator{store: store, now: time.Now}
	v.mu.parsed = map[[2]int64]*Parsed{}
	v.mu.rules = map[string]cachedRules{}
	v.mu.under = map[string]time.Time{}
	return v
}

// rules returns the topic's key and value rules, cached for RuleTTL.
func (v *Validator) rules(ctx context.Context, tenant int64, topic string) (Validation, Validation, error) {
	k := fmt.Sprintf("%d\x00%s", tenant, topic)
	v.mu.Lock()
	c, ok := v.mu.rules[k]
	v.mu.Unlock()
	if ok && v.now().Sub(c.at) < RuleTTL {
		return c.key, c.value, nil
	}
	keyRule, err := v.rule(ctx, tenant, topic+"-key")
	if err != nil {
		return "", "", err
	}
	valueRule, err := v.rule(ctx, tenant, topic+"-value")
	if err != nil {
		return "", "", err
	}
	v.mu.Lock()
	if len(v.mu.rules) >= maxCached {
		clear(v.mu.rules)
	}
	v.mu.rules[k] = cachedRules{keyRule, valueRule, v.now()}
	v.mu.Unlock()
	return keyRule, valueRule, nil
}

// RecordCheck returns the check of one produce request's records to topic,
// or nil when neither of its subjects has a validation. The check it
// returns is for one goroutine (it remembers the ids it has looked up) and
// names what is wrong: "key: ..." or "value: ...". A nil key or value (a
// Kafka null) is not checked.
func (v *Validator) RecordCheck(ctx context.Context, tenant int64, topic string) (func(key, value []byte) error, error) {
	keyRule, valueRule, err := v.rules(ctx, tenant, topic)
	if err != nil {
		return nil, err
	}
	if keyRule == "" && valueRule == "" {
		return nil, nil
	}
	checked := map[string]*Parsed{} // "<subject>/<id>" → schema, for this request
	check := func(what, subject string, rule Validation, data []byte) error {
		if rule == "" || data == nil {
			return nil
		}
		if len(data) < 5 || data[0] != 0 {
			return fmt.Errorf("%s: not in the schema registry's wire format (magic byte 0, then a 4-byte schema id) that subject %q requires", what, subject)
		}
		id := int64(binary.BigEndian.Uint32(data[1:5]))
		k := fmt.Sprintf("%s/%d", subject, id)
		p, ok := checked[k]
		if !ok {
			var err error
			if p, err = v.schemaOf(ctx, tenant, subject, id, rule); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			checked[k] = p
		}
		if rule == ValidateStrict {
			if err := p.Decode(data[5:]); err != nil {
				return fmt.Errorf("%s: does not decode as schema id %d: %w", what, id, err)
			}
		}
		return nil
	}
	return func(key, value []byte) error {
		if err := check("key", topic+"-key", keyRule, key); err != nil {
			return err
		}
		return check("value", topic+"-value", valueRule, value)
	}, nil
}

func (v *Validator) rule(ctx context.Context, tenant int64, subject string) (Validation, error) {
	s, err := v.store.SchemaSetting(ctx, tenant, subject, registry.SchemaValidationSetting)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("validation of subject %q: %w", subject, err)
	}
	return ParseValidation(s)
}

// schemaOf checks id is live under subject and, for STRICT, returns it
// parsed.
func (v *Validator) schemaOf(ctx context.Context, tenant int64, subject string, id int64, rule Validation) (*Parsed, error) {
	if err := v.checkUnder(ctx, tenant, subject, id); err != nil {
		return nil, err
	}
	if rule != ValidateStrict {
		return nil, nil
	}
	v.mu.Lock()
	p := v.mu.parsed[[2]int64{tenant, id}]
	v.mu.Unlock()
	if p != nil {
		return p, nil
	}
	s, err := v.store.SchemaByID(ctx, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	refs, err := resolveReferences(ctx, v.store, tenant, s.References, 0, new(int))
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if p, err = Parse(Source{Type: s.Type, Text: s.Text, References: refs}); err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	v.mu.Lock()
	if len(v.mu.parsed) >= maxCached {
		clear(v.mu.parsed)
	}
	v.mu.parsed[[2]int64{tenant, id}] = p
	v.mu.Unlock()
	return p, nil
}

// checkUnder checks id is live under subject; a yes is cached for RuleTTL
// (a no is not: a record refused may be sent again once registered).
func (v *Validator) checkUnder(ctx context.Context, tenant int64, subject string, id int64) error {
	k := fmt.Sprintf("%d\x00%s\x00%d", tenant, subject, id)
	v.mu.Lock()
	at, ok := v.mu.under[k]
	v.mu.Unlock()
	if ok && v.now().Sub(at) < RuleTTL {
		return nil
	}
	usages, err := v.store.SchemaUsages(ctx, tenant, id, false)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("schema id %d is not registered", id)
	}
	if err != nil {
		return fmt.Errorf("schema id %d: %w", id, err)
	}
	if !slices.ContainsFunc(usages, func(u registry.SchemaUsage) bool { return u.Subject == subject }) {
		return fmt.Errorf("schema id %d is not registered under subject %q", id, subject)
	}
	v.mu.Lock()
	if len(v.mu.under) >= maxCached {
		clear(v.mu.under)
	}
	v.mu.under[k] = v.now()
	v.mu.Unlock()
	return nil
}
