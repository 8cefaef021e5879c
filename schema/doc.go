// Package schema is StreamHouse's schema registry: Confluent's Schema
// Registry REST API (so existing clients and serializers work unchanged)
// over the tenant-scoped registry.Schemas store, with compatibility checks
// per schema type.
//
// Parsing uses well-kept libraries: Avro with github.com/hamba/avro/v2 (its
// SchemaCompatibility implements the Avro specification's schema resolution,
// so Avro compatibility is the library's), JSON Schema with
// github.com/santhosh-tekuri/jsonschema/v6 (drafts 4 to 2020-12, references
// resolved in memory, never fetched), Protobuf with
// github.com/bufbuild/protocompile (a full compiler in Go: no protoc). Neither
// JSON Schema nor Protobuf has a library that decides compatibility, so
// jsoncompat.go and protocompat.go implement the subset of Confluent's
// documented rules that they name, on the parsed forms; anything they do not
// understand is compared literally and refused when it differs.
package schema
