package schema

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoCompatible says why data written with writer may not be read with
// reader. It implements this subset of Confluent's Protobuf rules:
//
//   - the package may not change (PACKAGE_CHANGED);
//   - the writer's first message, which Confluent's serializers use by
//     default, must still exist (MESSAGE_REMOVED);
//   - for every message in both (by full name, nested ones too), a field
//     with the same number keeps a wire-compatible kind (FIELD_KIND_CHANGED,
//     FIELD_SCALAR_KIND_CHANGED: int32/uint32/int64/uint64/bool,
//     sint32/sint64, fixed32/sfixed32, fixed64/sfixed64, string/bytes are
//     each one group), the same message or enum type (FIELD_NAMED_TYPE_CHANGED),
//     the same repeated-ness and map-ness (FIELD_LABEL_CHANGED), and does
//     not move into a oneof that has other fields (FIELD_MOVED_TO_EXISTING_ONEOF);
//   - a proto2 required field may be neither added nor removed
//     (REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED).
//
// Adding or removing optional fields, messages and enum values is
// compatible, as in Confluent's registry.
func protoCompatible(reader, writer protoreflect.FileDescriptor) []string {
	var reasons []string
	if reader.Package() != writer.Package() {
		reasons = append(reasons, fmt.Sprintf("package changed from %q to %q", writer.Package(), reader.Package()))
	}
	if writer.Messages().Len() > 0 {
		first := writer.Messages().Get(0)
		if reader.Messages().ByName(first.Name()) == nil {
			reasons = append(reasons, fmt.Sprintf("message %s removed", first.FullName()))
		}
	}
	compareProtoMessages(reader.Messages(), writer.Messages(), &reasons)
	return reasons
}

func compareProtoMessages(reader, writer protoreflect.MessageDescriptors, reasons *[]string) {
	for i := range writer.Len() {
		wm := writer.Get(i)
		rm := reader.ByName(wm.Name())
		if rm == nil || wm.IsMapEntry() {
			continue
		}
		compareProtoFields(rm, wm, reasons)
		compareProtoMessages(rm.Messages(), wm.Messages(), reasons)
	}
}

func compareProtoFields(rm, wm protoreflect.MessageDescriptor, reasons *[]string) {
	fail := func(f protoreflect.FieldDescriptor, format string, args ...any) {
		*reasons = append(*reasons, fmt.Sprintf("%s field %d (%s): ", wm.FullName(), f.Number(), f.Name())+fmt.Sprintf(format, args...))
	}
	for i := range wm.Fields().Len() {
		wf := wm.Fields().Get(i)
		rf := rm.Fields().ByNumber(wf.Number())
		if rf == nil {
			if wf.Cardinality() == protoreflect.Required {
				fail(wf, "required field removed")
			}
			continue
		}
		switch {
		case wf.IsMap() != rf.IsMap():
			fail(wf, "changed between map and not map")
		case wf.IsList() != rf.IsList():
			fail(wf, "changed between repeated and not repeated")
		case rf.Cardinality() == protoreflect.Required && wf.Cardinality() != protoreflect.Required:
			fail(wf, "became required")
		case protoKindGroup(wf.Kind()) != protoKindGroup(rf.Kind()):
			fail(wf, "kind changed from %s to %s", wf.Kind(), rf.Kind())
		case (wf.Kind() == protoreflect.MessageKind || wf.Kind() == protoreflect.GroupKind) &&
			!wf.IsMap() && wf.Message().FullName() != rf.Message().FullName():
			fail(wf, "message type changed from %s to %s", wf.Message().FullName(), rf.Message().FullName())
		case wf.IsMap() && !sameProtoMapTypes(rf, wf):
			fail(wf, "map key or value type changed")
		case wf.Kind() == protoreflect.EnumKind && wf.Enum().FullName() != rf.Enum().FullName():
			fail(wf, "enum type changed from %s to %s", wf.Enum().FullName(), rf.Enum().FullName())
		}
		if ro := rf.ContainingOneof(); ro != nil && !ro.IsSynthetic() && ro.Fields().Len() > 1 &&
			(wf.ContainingOneof() == nil || wf.ContainingOneof().IsSynthetic()) {
			fail(wf, "moved into oneof %s, which has other fields", ro.Name())
		}
	}
	for i := range rm.Fields().Len() {
		rf := rm.Fields().Get(i)
		if rf.Cardinality() == protoreflect.Required && wm.Fields().ByNumber(rf.Number()) == nil {
			*reasons = append(*reasons, fmt.Sprintf("%s field %d (%s): required field added", rm.FullName(), rf.Number(), rf.Name()))
		}
	}
}

func sameProtoMapTypes(a, b protoreflect.FieldDescriptor) bool {
	same := func(x, y protoreflect.FieldDescriptor) bool {
		if protoKindGroup(x.Kind()) != protoKindGroup(y.Kind()) {
			return false
		}
		switch x.Kind() {
		case protoreflect.MessageKind:
			return x.Message().FullName() == y.Message().FullName()
		case protoreflect.EnumKind:
			return x.Enum().FullName() == y.Enum().FullName()
		}
		return true
	}
	return same(a.MapKey(), b.MapKey()) && same(a.MapValue(), b.MapValue())
}

// protoKindGroup puts kinds that share a wire encoding (and read each other
// as protobuf's own rules allow) into one group.
func protoKindGroup(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "bytes"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "message"
	}
	return k.String() // float, double, enum: only themselves
}
