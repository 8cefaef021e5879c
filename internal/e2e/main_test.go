// Package e2e runs StreamHouse as production does: `streamhouse agent` and
// `streamhouse router` as separate processes, each with its own NATS
// connection, against a NATS server, a real PostgreSQL (internal/pgtest) and
// a real S3 server (internal/s3test), and injects process faults (SIGKILL,
// SIGSTOP) while producing.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// binary is the streamhouse binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "streamhouse-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "streamhouse")
	if err := build(binary); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build streamhouse: %v\n", err)
		return 1
	}
	return pgtest.Run(m)
}

// build compiles ./cmd/streamhouse into out. STREAMHOUSE_E2E_RACE_BINARY=1
// builds it with the race detector (slower, finds data races in the server).
func build(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command on PATH: %w", err)
	}
	args := []string{"build", "-o", out}
	if os.Getenv("STREAMHOUSE_E2E_RACE_BINARY") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/streamhouse/streamhouse/cmd/streamhouse")
	cmd := exec.Command(goBin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
