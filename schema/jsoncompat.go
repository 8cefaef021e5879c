package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"
)

// jsonCompatible says why a value valid under writer may be invalid under
// reader. It implements this subset of Confluent's JSON Schema rules:
//
//   - type: the reader must accept every type the writer allows (integer
//     widens to number);
//   - enum and const: the reader's must hold all the writer's values;
//   - bounds (maximum, minimum, exclusive ones, maxLength, minLength,
//     maxItems, minItems, maxProperties, minProperties): the reader's may
//     not be tighter; pattern and format may not change;
//   - objects: a property may not become required; a property the writer
//     had is checked against the reader's (or against the reader's
//     additionalProperties if the reader dropped it: a closed reader refuses
//     it); a property the reader adds is checked against the writer's
//     additionalProperties (so adding one to an open writer content model is
//     refused unless it accepts anything, Confluent's
//     PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL); additionalProperties may not
//     narrow;
//   - arrays: items (a single schema) recursively;
//   - $ref to the document or its references is followed.
//
// Every other keyword (allOf, anyOf, oneOf, not, if/then/else,
// patternProperties, tuple items, dependencies, ...) must be equal on both
// sides, compared as canonical JSON: a difference there is refused rather
// than guessed at.
func jsonCompatible(reader, writer *jsonDoc) []string {
	c := &jsonChecker{r: reader, w: writer, seen: map[[2]string]bool{}}
	c.check("#", reader.root, reader.docs[reader.root], writer.root, writer.docs[writer.root])
	return c.reasons
}

type jsonChecker struct {
	r, w    *jsonDoc
	seen    map[[2]string]bool // $ref pairs under check: recursive schemas end
	reasons []string
}

func (c *jsonChecker) fail(path, format string, args ...any) {
	c.reasons = append(c.reasons, path+": "+fmt.Sprintf(format, args...))
}

// handled are the keywords check understands; the rest must be equal.
var handledJSONKeywords = map[string]bool{
	"type": true, "enum": true, "const": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "$ref": true, "$schema": true, "$id": true,
	"title": true, "description": true, "default": true, "examples": true, "$comment": true,
	"definitions": true, "$defs": true, "pattern": true, "format": true,
	"maximum": true, "exclusiveMaximum": true, "maxLength": true, "maxItems": true, "maxProperties": true,
	"minimum": true, "exclusiveMinimum": true, "minLength": true, "minItems": true, "minProperties": true,
}

func (c *jsonChecker) check(path, rbase string, rn any, wbase string, wn any) {
	key := [2]string{rbase + "|" + refOf(rn), wbase + "|" + refOf(wn)}
	if refOf(rn) != "" || refOf(wn) != "" {
		if c.seen[key] {
			return
		}
		c.seen[key] = true
	}
	var err error
	if rbase, rn, err = c.r.resolve(rbase, rn); err != nil {
		c.fail(path, "reader: %v", err)
		return
	}
	if wbase, wn, err = c.w.resolve(wbase, wn); err != nil {
		c.fail(path, "writer: %v", err)
		return
	}
	if acceptsAll(rn) || rejectsAll(wn) {
		return
	}
	if rejectsAll(rn) {
		c.fail(path, "the reader accepts no value, the writer does")
		return
	}
	rm, _ := rn.(map[string]any)
	wm, ok := wn.(map[string]any)
	if !ok {
		c.fail(path, "the writer accepts any value, the reader restricts it")
		return
	}
	c.checkTypes(path, rm, wm)
	c.checkEnum(path, rm, wm)
	c.checkBounds(path, rm, wm)
	c.checkObject(path, rbase, rm, wbase, wm)
	if ri, ok := rm["items"].(map[string]any); ok {
		wi, wok := wm["items"]
		if !wok {
			wi = true
		}
		c.check(path+"/items", rbase, ri, wbase, wi)
	} else if !reflect.DeepEqual(rm["items"], wm["items"]) && rm["items"] != nil {
		c.fail(path, "items changed (tuple items are compared literally)")
	}
	for k, rv := range rm {
		if !handledJSONKeywords[k] && !reflect.DeepEqual(rv, wm[k]) {
			c.fail(path, "%s changed (compared literally)", k)
		}
	}
	for k := range wm {
		if _, ok := rm[k]; !ok && !handledJSONKeywords[k] {
			c.fail(path, "%s removed (compared literally)", k)
		}
	}
}

func refOf(n any) string {
	if m, ok := n.(map[string]any); ok {
		if r, ok := m["$ref"].(string); ok {
			return r
		}
	}
	return ""
}

func acceptsAll(n any) bool {
	if b, ok := n.(bool); ok {
		return b
	}
	m, ok := n.(map[string]any)
	if !ok {
		return false
	}
	for k := range m {
		switch k {
		case "title", "description", "default", "examples", "$comment", "$schema", "$id", "definitions", "$defs":
		default:
			return false
		}
	}
	return true
}

func rejectsAll(n any) bool { b, ok := n.(bool); return ok && !b }

func jsonTypes(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil // any type
}

func (c *jsonChecker) checkTypes(path string, rm, wm map[string]any) {
	rt := jsonTypes(rm)
	if rt == nil {
		return
	}
	wt := jsonTypes(wm)
	if wt == nil {
		c.fail(path, "type restricted to %v", rt)
		return
	}
	for _, t := range wt {
		if !slices.Contains(rt, t) && (t != "integer" || !slices.Contains(rt, "number")) {
			c.fail(path, "type %s no longer accepted (reader accepts %v)", t, rt)
		}
	}
}

func (c *jsonChecker) checkEnum(path string, rm, wm map[string]any) {
	allowed := func(m map[string]any) ([]any, bool) {
		if v, ok := m["const"]; ok {
			return []any{v}, true
		}
		e, ok := m["enum"].([]any)
		return e, ok
	}
	rv, ok := allowed(rm)
	if !ok {
		return
	}
	wv, ok := allowed(wm)
	if !ok {
		c.fail(path, "enum or const added")
		return
	}
	for _, v := range wv {
		if !slices.ContainsFunc(rv, func(x any) bool { return reflect.DeepEqual(x, v) }) {
			c.fail(path, "enum value %s no longer accepted", jsonText(v))
		}
	}
}

func (c *jsonChecker) checkBounds(path string, rm, wm map[string]any) {
	for _, k := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"} {
		if r, ok := jsonNumber(rm[k]); ok {
			if w, ok := jsonNumber(wm[k]); !ok || w.Cmp(r) > 0 {
				c.fail(path, "%s narrowed to %s", k, jsonText(rm[k]))
			}
		}
	}
	for _, k := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"} {
		if r, ok := jsonNumber(rm[k]); ok {
			if w, ok := jsonNumber(wm[k]); !ok || w.Cmp(r) < 0 {
				c.fail(path, "%s narrowed to %s", k, jsonText(rm[k]))
			}
		}
	}
	for _, k := range []string{"pattern", "format"} {
		if r, ok := rm[k]; ok && !reflect.DeepEqual(r, wm[k]) {
			c.fail(path, "%s changed to %s", k, jsonText(r))
		}
	}
}

func (c *jsonChecker) checkObject(path, rbase string, rm map[string]any, wbase string, wm map[string]any) {
	rreq, wreq := stringSet(rm["required"]), stringSet(wm["required"])
	for _, p := range rreq {
		if !slices.Contains(wreq, p) {
			c.fail(path, "property %q became required", p)
		}
	}
	rprops, _ := rm["properties"].(map[string]any)
	wprops, _ := wm["properties"].(map[string]any)
	radd, ok := rm["additionalProperties"]
	if !ok {
		radd = true
	}
	wadd, ok := wm["additionalProperties"]
	if !ok {
		wadd = true
	}
	for _, p := range sortedKeys(wprops) {
		if r, ok := rprops[p]; ok {
			c.check(path+"/properties/"+p, rbase, r, wbase, wprops[p])
		} else if rejectsAll(radd) {
			c.fail(path, "property %q removed from a closed content model", p)
		} else {
			c.check(path+"/properties/"+p, rbase, radd, wbase, wprops[p])
		}
	}
	for _, p := range sortedKeys(rprops) {
		if _, ok := wprops[p]; !ok && !rejectsAll(wadd) {
			if acceptsAll(wadd) && !acceptsAll(rprops[p]) {
				c.fail(path, "property %q added to an open content model", p)
				continue
			}
			c.check(path+"/properties/"+p, rbase, rprops[p], wbase, wadd)
		}
	}
	if _, rok := rm["additionalProperties"]; rok || hasObjectKeywords(rm) {
		c.check(path+"/additionalProperties", rbase, radd, wbase, wadd)
	}
}

func hasObjectKeywords(m map[string]any) bool {
	_, p := m["properties"]
	_, r := m["required"]
	return p || r
}

func stringSet(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonNumber(v any) (*big.Float, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	f, ok := new(big.Float).SetString(n.String())
	return f, ok
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
