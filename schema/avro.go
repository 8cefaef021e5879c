package schema

import (
	"fmt"

	"github.com/hamba/avro/v2"
	"github.com/streamhouse/streamhouse/registry"
)

type avroSchema = avro.Schema

// parseAvro parses the references' named types first, into a cache of this
// parse's own (never the library's global one, which would leak types
// between tenants), then the schema itself.
func parseAvro(src Source) (*Parsed, error) {
	cache := &avro.SchemaCache{}
	if err := addAvroReferences(src.References, cache); err != nil {
		return nil, err
	}
	canonical, _, err := canonicalJSON(src.Text)
	if err != nil {
		return nil, &InvalidError{Type: registry.SchemaAvro, Reason: err.Error()}
	}
	s, err := avro.ParseWithCache(src.Text, "", cache)
	if err != nil {
		return nil, &InvalidError{Type: registry.SchemaAvro, Reason: err.Error()}
	}
	return &Parsed{Type: registry.SchemaAvro, Canonical: canonical, avro: s}, nil
}

func addAvroReferences(refs []Reference, cache *avro.SchemaCache) error {
	for _, r := range refs {
		if err := addAvroReferences(r.Schema.References, cache); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(r.Schema.Text, "", cache); err != nil {
			return &InvalidError{Type: registry.SchemaAvro, Reason: fmt.Sprintf("reference %q: %v", r.Name, err)}
		}
	}
	return nil
}

// avroCompatible says why reader cannot read what writer wrote (Avro's
// schema resolution rules, decided by hamba/avro). A fresh checker each
// time: its cache is keyed by the parsing canonical form, which leaves out
// defaults, so a shared one could answer for a schema that only looks alike.
func avroCompatible(reader, writer avroSchema) []string {
	if err := avro.NewSchemaCompatibility().Compatible(reader, writer); err != nil {
		return []string{err.Error()}
	}
	return nil
}
