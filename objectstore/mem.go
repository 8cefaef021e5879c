package objectstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mem is an in-memory Store for unit tests of the code above the interface.
// It copies data in and out, so callers may reuse their buffers.
type Mem struct {
	mu struct {
		sync.Mutex
		objects map[string]memObject
	}
	now func() time.Time
}

type memObject struct {
	data    []byte
	modTime time.Time
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem {
	m := &Mem{now: time.Now}
	m.mu.objects = make(map[string]memObject)
	return m
}

func (m *Mem) Put(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put", key, data, false)
}

func (m *Mem) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put-if-absent", key, data, true)
}

func (m *Mem) put(ctx context.Context, op, key string, data []byte, ifAbsent bool) error {
	if err := ValidateKey(key); err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.objects[key]; ok && ifAbsent {
		return &Error{Op: op, Key: key, Err: ErrPreconditionFailed}
	}
	m.mu.objects[key] = memObject{data: slices.Clone(data), modTime: m.now()}
	return nil
}

func (m *Mem) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := m.lookup(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return slices.Clone(obj.data), nil
}

func (m *Mem) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := checkRangeArgs(offset, length); err != nil && ValidateKey(key) == nil {
		return nil, &Error{Op: "get-range", Key: key, Err: err}
	}
	obj, err := m.lookup(ctx, "get-range", key)
	if err != nil {
		return nil, err
	}
	end, err := checkRange(int64(len(obj.data)), offset, length)
	if err != nil {
		return nil, &Error{Op: "get-range", Key: key, Err: err}
	}
	return slices.Clone(obj.data[offset:end]), nil
}

func (m *Mem) lookup(ctx context.Context, op, key string) (memObject, error) {
	if err := ValidateKey(key); err != nil {
		return memObject{}, &Error{Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, &Error{Op: op, Key: key, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, ok := m.mu.objects[key]
	if !ok {
		return memObject{}, &Error{Op: op, Key: key, Err: ErrNotFound}
	}
	return obj, nil
}

func (m *Mem) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "list", Key: prefix, Err: err}
	}
	m.mu.Lock()
	var out []ObjectInfo
	for k, obj := range m.mu.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(obj.data)), LastModified: obj.modTime})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (m *Mem) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return &Error{Op: "delete", Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return &Error{Op: "delete", Key: key, Err: err}
	}
	m.mu.Lock()
	delete(m.mu.objects, key)
	m.mu.Unlock()
	return nil
}
