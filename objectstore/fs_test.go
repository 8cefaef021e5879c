package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func newTestFS(t *testing.T) *FS {
	t.Helper()
	s, err := NewFS(filepath.Join(t.TempDir(), "not", "yet", "there"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tempFiles returns the temporary files anywhere under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			found = append(found, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestFSLayout(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	mustPut(t, s, "a/b/c.seg", []byte("data"))
	got, err := os.ReadFile(filepath.Join(s.Root(), "a", "b", "c.seg"))
	if err != nil || string(got) != "data" {
		t.Fatalf("file = %q, %v", got, err)
	}
}

func TestFSNoTempFileLeftByFailedWrites(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	ctx := t.Context()
	mustPut(t, s, "d/x", []byte("x"))
	// Key "d" is a directory: the rename (Put) and the link (PutIfAbsent)
	// fail after the temporary file was written.
	if err := s.Put(ctx, "d", []byte("y")); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	err := s.PutIfAbsent(ctx, "d", []byte("y"))
	if err == nil || errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent over a directory: %v, want an error that is not ErrPreconditionFailed", err)
	}
	// Key below a file: the directory cannot be made.
	if err := s.Put(ctx, "d/x/y", []byte("z")); err == nil {
		t.Fatal("Put below a file succeeded")
	}
	// A precondition failure after the temporary file was written.
	wantErr(t, s.PutIfAbsent(ctx, "d/x", []byte("y")), ErrPreconditionFailed, "put-if-absent", "d/x")
	if tmp := tempFiles(t, s.Root()); len(tmp) != 0 {
		t.Fatalf("temporary files left behind: %q", tmp)
	}
	mustGet(t, s, "d/x", []byte("x"))
}

func TestFSDirectoryIsNotAnObject(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	mustPut(t, s, "dir/k", []byte("x"))
	_, err := s.Get(t.Context(), "dir")
	wantErr(t, err, ErrNotFound, "get", "dir")
	_, err = s.GetRange(t.Context(), "dir", 0, 1)
	wantErr(t, err, ErrNotFound, "get-range", "dir")
	if err := s.Delete(t.Context(), "dir"); err != nil {
		t.Fatalf("Delete of a directory key: %v", err)
	}
	mustGet(t, s, "dir/k", []byte("x"))
}

func TestFSListSkipsStrayFiles(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	mustPut(t, s, "p/k", []byte("x"))
	// What a crash between write and rename leaves, and a name no key has.
	for _, name := range []string{tempPrefix + "crashed", "bad\\name"} {
		if err := os.WriteFile(filepath.Join(s.Root(), "p", name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("k", filepath.Join(s.Root(), "p", "link")); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(mustList(t, s, "")); !slices.Equal(got, []string{"p/k"}) {
		t.Fatalf("List = %q, want [p/k]", got)
	}
}

func TestFSListStaysInRoot(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	s, err := NewFS(filepath.Join(parent, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"../", "..", "../out", "/", "/etc"} {
		if got := mustList(t, s, prefix); len(got) != 0 {
			t.Fatalf("List(%q) = %q", prefix, keysOf(got))
		}
	}
}

// TestFSPutIfAbsentAcrossProcesses races PutIfAbsent from separate
// processes (this test binary, run again) on one key: exactly one wins.
func TestFSPutIfAbsentAcrossProcesses(t *testing.T) {
	if root := os.Getenv("STREAMHOUSE_FS_CHILD_ROOT"); root != "" {
		fsChild(root, os.Getenv("STREAMHOUSE_FS_CHILD_ID"))
		return
	}
	t.Parallel()
	s := newTestFS(t)
	const n = 4
	cmds := make([]*exec.Cmd, n)
	gates := make([]io.WriteCloser, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFSPutIfAbsentAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STREAMHOUSE_FS_CHILD_ROOT="+s.Root(), fmt.Sprintf("STREAMHOUSE_FS_CHILD_ID=%d", i))
		cmd.Stderr = os.Stderr
		gate, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i], gates[i] = cmd, gate
	}
	// The children block on stdin; closing it starts them together.
	for _, gate := range gates {
		_ = gate.Close()
	}
	winners := 0
	for i, cmd := range cmds {
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			winners++
		case errors.As(err, &exit) && exit.ExitCode() == 3: // lost
		default:
			t.Errorf("child %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d processes won, want 1", winners)
	}
	if got := keysOf(mustList(t, s, "")); !slices.Equal(got, []string{"race/k"}) {
		t.Fatalf("List = %q", got)
	}
}

// fsChild is the body of a child process of the test above: exit 0 if its
// PutIfAbsent won, 3 if it lost, 1 on any other outcome.
func fsChild(root, id string) {
	_, _ = io.Copy(io.Discard, os.Stdin) // wait for the parent's go
	s, err := NewFS(root)
	if err == nil {
		err = s.PutIfAbsent(context.Background(), "race/k", []byte(id))
	}
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, ErrPreconditionFailed):
		os.Exit(3)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// recordSyncs makes s record the directories it fsyncs (relative to the
// root, "." for the root) and fail the fsync of any directory in fail.
func recordSyncs(s *FS, fail map[string]bool) func() []string {
	var (
		mu     sync.Mutex
		synced []string
	)
	s.fsyncDir = func(dir string) error {
		rel, err := filepath.Rel(s.Root(), dir)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		mu.Lock()
		defer mu.Unlock()
		if fail[rel] {
			return fmt.Errorf("injected fsync failure of %s", rel)
		}
		synced = append(synced, rel)
		return syncDir(dir)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(synced)
		synced = synced[:0]
		slices.Sort(out)
		return out
	}
}

func isDurable(s *FS, rel string) bool {
	_, ok := s.durable.Load(filepath.Join(s.Root(), filepath.FromSlash(rel)))
	return ok
}

// Concurrent writers into a fresh deep prefix all succeed and leave every
// directory on the way recorded as durable; afterwards a write into it costs
// one fsync, of its own directory.
func TestFSConcurrentWritersFreshPrefix(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	synced := recordSyncs(s, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			key := fmt.Sprintf("a/b/c/d/k%d", i)
			if i%2 == 0 {
				errs <- s.Put(t.Context(), key, []byte(key))
			} else {
				errs <- s.PutIfAbsent(t.Context(), key, []byte(key))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{".", "a", "a/b", "a/b/c", "a/b/c/d"} {
		if !isDurable(s, dir) {
			t.Errorf("%s not recorded as durable", dir)
		}
	}
	got := synced()
	for _, dir := range []string{".", "a", "a/b", "a/b/c", "a/b/c/d"} {
		if !slices.Contains(got, dir) {
			t.Errorf("%s never fsynced (fsynced %q)", dir, got)
		}
	}
	mustPut(t, s, "a/b/c/d/again", []byte("x"))
	if got := synced(); !slices.Equal(got, []string{"a/b/c/d"}) {
		t.Fatalf("steady-state write fsynced %q, want [a/b/c/d]", got)
	}
}

// A directory made by someone else is not taken as durable: the first write
// into it fsyncs the chain up to the root.
func TestFSExistingDirectoryIsSynced(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	if err := os.MkdirAll(filepath.Join(s.Root(), "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	synced := recordSyncs(s, nil)
	mustPut(t, s, "x/y/k", []byte("v"))
	if got := synced(); !slices.Equal(got, []string{".", "x", "x/y"}) {
		t.Fatalf("fsynced %q, want [. x x/y]", got)
	}
}

// A failed fsync of a parent fails the write and records nothing, so the
// next write fsyncs the chain again.
func TestFSParentSyncFailureIsRetried(t *testing.T) {
	t.Parallel()
	s := newTestFS(t)
	fail := map[string]bool{".": true}
	synced := recordSyncs(s, fail)
	if err := s.Put(t.Context(), "x/y/k", []byte("v")); err == nil {
		t.Fatal("Put succeeded although fsync of the root failed")
	}
	if isDurable(s, "x") || isDurable(s, "x/y") {
		t.Fatal("directories recorded as durable after a failed fsync")
	}
	synced()
	delete(fail, ".") // recordSyncs reads fail under its lock; no write is running
	mustPut(t, s, "x/y/k", []byte("v"))
	if got := synced(); !slices.Equal(got, []string{".", "x", "x/y"}) {
		t.Fatalf("fsynced %q after the failure, want [. x x/y]", got)
	}
	if !isDurable(s, "x/y") {
		t.Fatal("x/y not recorded as durable")
	}
}
