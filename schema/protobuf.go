package schema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/bufbuild/protocompile"
	"github.com/streamhouse/streamhouse/registry"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

type protoFile = protoreflect.FileDescriptor

// protoRootName is the file name the registered schema compiles as; its
// references are files under their reference names (the import paths).
const protoRootName = "streamhouse.registered.proto"

// parseProtobuf compiles the .proto text with its references as imports
// (the google/protobuf well-known types are built in). Its canonical form is
// a hash of the compiled descriptor without source positions, so layout and
// comments do not make a schema new.
func parseProtobuf(src Source) (*Parsed, error) {
	files := map[string]string{protoRootName: src.Text}
	var add func(refs []Reference)
	add = func(refs []Reference) {
		for _, r := range refs {
			if _, ok := files[r.Name]; !ok {
				files[r.Name] = r.Schema.Text
				add(r.Schema.References)
			}
		}
	}
	add(src.References)
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)}),
		MaxParallelism: 1,
	}
	res, err := c.Compile(context.Background(), protoRootName)
	if err != nil {
		return nil, &InvalidError{Type: registry.SchemaProtobuf, Reason: err.Error()}
	}
	fd := res[0]
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.SourceCodeInfo = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return nil, &InvalidError{Type: registry.SchemaProtobuf, Reason: fmt.Sprintf("encode descriptor: %v", err)}
	}
	sum := sha256.Sum256(b)
	return &Parsed{Type: registry.SchemaProtobuf, Canonical: "descriptor-sha256:" + hex.EncodeToString(sum[:]), proto: fd}, nil
}
