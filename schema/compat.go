package schema

import (
	"fmt"

	"github.com/streamhouse/streamhouse/registry"
)

// Version is an earlier version of a subject, parsed.
type Version struct {
	Number int
	Schema *Parsed
}

// Check says why next may not follow the subject's earlier versions
// (ascending) under level; nil means it may. BACKWARD checks that next reads
// data written with the latest version, FORWARD that the latest reads data
// written with next, FULL both; the transitive levels check against every
// earlier version instead of the latest only.
func Check(level Level, next *Parsed, earlier []Version) []string {
	if level == None || len(earlier) == 0 {
		return nil
	}
	against := earlier
	if !level.transitive() {
		against = earlier[len(earlier)-1:]
	}
	var reasons []string
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		if level.backward() {
			for _, r := range Compatible(next, old.Schema) {
				reasons = append(reasons, fmt.Sprintf("the new schema cannot read data written with version %d: %s", old.Number, r))
			}
		}
		if level.forward() {
			for _, r := range Compatible(old.Schema, next) {
				reasons = append(reasons, fmt.Sprintf("version %d cannot read data written with the new schema: %s", old.Number, r))
			}
		}
	}
	return reasons
}

// Compatible says why reader cannot read data written with writer; nil
// means it can.
func Compatible(reader, writer *Parsed) []string {
	if reader.Type != writer.Type {
		return []string{fmt.Sprintf("schema type changed from %s to %s", writer.Type, reader.Type)}
	}
	switch reader.Type {
	case registry.SchemaAvro:
		return avroCompatible(reader.avro, writer.avro)
	case registry.SchemaJSON:
		return jsonCompatible(reader.json, writer.json)
	case registry.SchemaProtobuf:
		return protoCompatible(reader.proto, writer.proto)
	}
	return []string{fmt.Sprintf("unknown schema type %s", reader.Type)}
}
