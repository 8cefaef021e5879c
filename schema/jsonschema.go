package schema

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/streamhouse/streamhouse/registry"
)

// jsonBase is where a JSON schema and its references live for the
// compiler: a scheme that no loader serves, so a $ref reaches only the
// schema's registered references, never a file or the network.
const jsonBase = "mem:///schemas/"

// jsonDoc is a parsed JSON schema and its references' documents, by URL,
// for resolving $ref in compatibility checks.
type jsonDoc struct {
	root     string
	docs     map[string]any
	compiled *jsonschema.Schema // validates records at produce time
}

// noLoader refuses every URL the references did not provide (the library's
// default would read local files).
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not among the schema's references", u)
}

func jsonRefURL(name string) string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return name
	}
	return jsonBase + strings.TrimPrefix(name, "/")
}

// parseJSONSchema compiles the schema with its references (draft 7 unless
// $schema says otherwise, as Confluent's default).
func parseJSONSchema(src Source) (*Parsed, error) {
	invalid := func(format string, args ...any) error {
		return &InvalidError{Type: registry.SchemaJSON, Reason: fmt.Sprintf(format, args...)}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft7)
	d := &jsonDoc{root: jsonBase + "schema.json", docs: map[string]any{}}
	var add func(refs []Reference) error
	add = func(refs []Reference) error {
		for _, r := range refs {
			u := jsonRefURL(r.Name)
			if _, dup := d.docs[u]; dup {
				continue
			}
			_, doc, err := canonicalJSON(r.Schema.Text)
			if err != nil {
				return invalid("reference %q: %v", r.Name, err)
			}
			if err := c.AddResource(u, doc); err != nil {
				return invalid("reference %q: %v", r.Name, err)
			}
			d.docs[u] = doc
			if err := add(r.Schema.References); err != nil {
				return err
			}
		}
		return nil
	}
	canonical, doc, err := canonicalJSON(src.Text)
	if err != nil {
		return nil, invalid("%v", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, invalid("a schema is a JSON object or a boolean")
	}
	d.docs[d.root] = doc
	if err := c.AddResource(d.root, doc); err != nil {
		return nil, invalid("%v", err)
	}
	if err := add(src.References); err != nil {
		return nil, err
	}
	if d.compiled, err = c.Compile(d.root); err != nil {
		return nil, invalid("%v", err)
	}
	return &Parsed{Type: registry.SchemaJSON, Canonical: canonical, json: d}, nil
}

// resolve follows $ref from node (found in the document at base) to the
// node it names, with the base of that node.
func (d *jsonDoc) resolve(base string, node any) (string, any, error) {
	for range 32 {
		m, ok := node.(map[string]any)
		if !ok {
			return base, node, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return base, node, nil
		}
		b, err := url.Parse(base)
		if err != nil {
			return "", nil, err
		}
		r, err := url.Parse(ref)
		if err != nil {
			return "", nil, fmt.Errorf("$ref %q: %w", ref, err)
		}
		abs := b.ResolveReference(r)
		frag := abs.Fragment
		abs.Fragment = ""
		doc, ok := d.docs[abs.String()]
		if !ok {
			return "", nil, fmt.Errorf("$ref %q: not among the schema's references", ref)
		}
		node, err = jsonPointer(doc, frag)
		if err != nil {
			return "", nil, fmt.Errorf("$ref %q: %w", ref, err)
		}
		base = abs.String()
	}
	return "", nil, errors.New("$ref chain longer than 32")
}

// jsonPointer walks an RFC 6901 pointer ("" is the whole document).
func jsonPointer(doc any, ptr string) (any, error) {
	if ptr == "" {
		return doc, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("fragment %q: only JSON pointers are followed", ptr)
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("pointer %q: %q is not inside an object", ptr, tok)
		}
		if doc, ok = m[tok]; !ok {
			return nil, fmt.Errorf("pointer %q: no %q", ptr, tok)
		}
	}
	return doc, nil
}
