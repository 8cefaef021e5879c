package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// FS is a Store on a local POSIX filesystem (Linux, macOS): the object under
// key "a/b/c" is the file ROOT/a/b/c. It is the embedded default of the dev
// cell.
//
// Every write goes to a temporary file in the target's directory, is fsynced,
// then renamed (Put) or hard-linked (PutIfAbsent) into place, and the
// directory is fsynced, so a crash leaves the old object or the new one,
// never a torn file, and a returned write survives power loss. The first
// write into a directory (per FS value) also fsyncs every directory above it
// up to the root, whoever created them, so the directory's own name is
// durable too; later writes into it cost one directory fsync.
//
// Temporary files are named ".tmp\<random>": the backslash is a character no
// valid key holds, so List never mistakes one for an object. A crash may leave
// one behind; List ignores it and it is never read.
//
// Limits a bucket does not have: a filesystem cannot hold both "a/b" and
// "a/b/c" (the second write fails, and not with ErrPreconditionFailed; the
// posix backend of versitygw behaves the same), and a key segment longer than
// the filesystem's name limit (255 bytes on most) fails. StreamHouse's key
// layout meets neither.
//
// ctx is checked when a call starts and between the entries of a List; a
// write that has started runs to the end.
type FS struct {
	root string

	// durable holds the directories (absolute paths; string -> struct{})
	// whose names, and those of every directory above them up to the root,
	// this FS has fsynced. It grows by one entry per directory written into.
	durable sync.Map

	// fsyncDir fsyncs a directory; nil means syncDir. Tests replace it.
	fsyncDir func(dir string) error
}

var _ Store = (*FS)(nil)

// tempPrefix starts the name of every temporary file. It holds a backslash,
// which ValidateKey refuses, so no object's name can begin with it.
const tempPrefix = ".tmp\\"

// NewFS returns a Store rooted at the directory root, which is created (with
// its parents) if missing.
func NewFS(root string) (*FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("objectstore: filesystem root %q: %w", root, err)
	}
	f := &FS{root: abs}
	if err := f.createRoot(abs); err != nil {
		return nil, fmt.Errorf("objectstore: create filesystem root: %w", err)
	}
	f.durable.Store(abs, struct{}{})
	return f, nil
}

// Root returns the absolute path of the store's root directory.
func (f *FS) Root() string { return f.root }

// path validates key and returns its file's path.
func (f *FS) path(ctx context.Context, op, key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", &Error{Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return "", &Error{Op: op, Key: key, Err: err}
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Put writes data to a temporary file, fsyncs it, renames it over key's file
// and fsyncs the directory. A concurrent reader sees the old or the new object.
func (f *FS) Put(ctx context.Context, key string, data []byte) error {
	const op = "put"
	path, err := f.path(ctx, op, key)
	if err != nil {
		return err
	}
	tmp, err := f.writeTemp(path, data)
	if err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return &Error{Op: op, Key: key, Err: err}
	}
	if err := f.syncDir(filepath.Dir(path)); err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	return nil
}

// PutIfAbsent writes data to a temporary file, fsyncs it and hard-links it to
// key's file. link(2) fails atomically if the name exists, so exactly one of
// any number of racing writers, in this process or another, wins; the losers
// get ErrPreconditionFailed. The filesystem must support hard links.
func (f *FS) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	const op = "put-if-absent"
	path, err := f.path(ctx, op, key)
	if err != nil {
		return err
	}
	tmp, err := f.writeTemp(path, data)
	if err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	linkErr := os.Link(tmp, path)
	// A temporary file that cannot be removed is harmless (List skips it);
	// failing a write that landed would not be.
	_ = os.Remove(tmp)
	switch {
	case errors.Is(linkErr, fs.ErrExist):
		if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
			return &Error{Op: op, Key: key, Err: fmt.Errorf("%s is a directory (a prefix of other keys): %w", path, linkErr)}
		}
		return &Error{Op: op, Key: key, Err: ErrPreconditionFailed}
	case linkErr != nil:
		return &Error{Op: op, Key: key, Err: linkErr}
	}
	if err := f.syncDir(filepath.Dir(path)); err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	return nil
}

// writeTemp creates the directory of path if missing, writes data to a new
// temporary file beside path and fsyncs it. It returns the temporary file's
// name, or an error and no file left behind.
func (f *FS) writeTemp(path string, data []byte) (name string, err error) {
	dir := filepath.Dir(path)
	if err := f.ensureDir(dir); err != nil {
		return "", err
	}
	var file *os.File
	for range 10 {
		name = filepath.Join(dir, tempPrefix+strconv.FormatUint(rand.Uint64(), 36))
		file, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = file.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := file.Write(data); err != nil {
		return "", err
	}
	if err := file.Sync(); err != nil {
		return "", err
	}
	if err := file.Close(); err != nil {
		return "", err
	}
	return name, nil
}

// ensureDir creates dir (a directory under the root) and its missing
// parents, and makes its name durable: unless dir is already recorded as
// durable, it fsyncs the parent of dir and of each directory above it that is
// not recorded, up to the root, then records them all. A directory that
// exists is not assumed durable: another writer may have just made it and not
// yet fsynced its parent. A failed fsync records nothing, so the next write
// tries again.
func (f *FS) ensureDir(dir string) error {
	if _, ok := f.durable.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var chain []string
	for d := dir; d != f.root; d = filepath.Dir(d) {
		if _, ok := f.durable.Load(d); ok || filepath.Dir(d) == d {
			break
		}
		chain = append(chain, d)
	}
	for _, d := range chain {
		if err := f.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	for _, d := range chain {
		f.durable.Store(d, struct{}{})
	}
	return nil
}

// createRoot creates dir and its missing parents, fsyncing each parent after
// a child is made in it. A root that exists is taken as durable.
func (f *FS) createRoot(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := f.createRoot(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return f.syncDir(parent)
}

// syncDir fsyncs dir with f.fsyncDir, or syncDir if that is nil.
func (f *FS) syncDir(dir string) error {
	if f.fsyncDir != nil {
		return f.fsyncDir(dir)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return d.Close()
}

// Get reads the whole file of key.
func (f *FS) Get(ctx context.Context, key string) ([]byte, error) {
	const op = "get"
	path, err := f.path(ctx, op, key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: notFound(err)}
	}
	return data, nil
}

// GetRange reads only the requested bytes of key's file.
func (f *FS) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	const op = "get-range"
	path, err := f.path(ctx, op, key)
	if err != nil {
		return nil, err
	}
	if err := checkRangeArgs(offset, length); err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: notFound(err)}
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	if fi.IsDir() {
		return nil, &Error{Op: op, Key: key, Err: ErrNotFound}
	}
	end, err := checkRange(fi.Size(), offset, length)
	if err != nil {
		return nil, &Error{Op: op, Key: key, Err: err}
	}
	// Files are replaced by rename, never changed in place, so the size seen
	// by this descriptor holds for the read.
	buf := make([]byte, end-offset)
	if n, err := file.ReadAt(buf, offset); n < len(buf) {
		return nil, &Error{Op: op, Key: key, Err: fmt.Errorf("read %d of %d bytes at %d: %w", n, len(buf), offset, err)}
	}
	return buf, nil
}

// notFound maps the errors of opening a missing object (no such file, a
// parent that is a file, a name that is a directory) to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// List walks only the directory that prefix names up to its last slash (the
// rest may end mid-name, as on S3), skipping temporary files, and returns the
// keys sorted.
func (f *FS) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	const op = "list"
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Key: prefix, Err: err}
	}
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		// No valid key lies under a directory part that is not a valid key
		// itself ("a//", "../x"), and walking it could leave the root.
		if ValidateKey(dir) != nil {
			return nil, nil
		}
	}
	start := filepath.Join(f.root, filepath.FromSlash(dir))
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// The start missing, or an entry deleted during the walk.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(f.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			// Descend only into directories that can hold a match.
			if path == start || strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || ValidateKey(key) != nil {
			return nil // temporary files, sockets, stray names
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), LastModified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, &Error{Op: op, Key: prefix, Err: err}
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes key's file and fsyncs its directory. Empty directories are
// left in place: removing them would race with a concurrent write below them.
func (f *FS) Delete(ctx context.Context, key string) error {
	const op = "delete"
	path, err := f.path(ctx, op, key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return &Error{Op: op, Key: key, Err: err}
	case fi.IsDir():
		return nil // a prefix of other keys, not an object
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &Error{Op: op, Key: key, Err: err}
	}
	if err := f.syncDir(filepath.Dir(path)); err != nil {
		return &Error{Op: op, Key: key, Err: err}
	}
	return nil
}
