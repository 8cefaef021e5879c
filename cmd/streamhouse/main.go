// Command streamhouse is the StreamHouse server. Each subcommand has a file
// of its own: dev runs a whole cell in one process; agent and router run
// the parts of a cell separately against an external NATS cluster,
// PostgreSQL and S3, configured as config.go describes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: streamhouse <command> [flags]

commands:
  dev     run a whole cell in one process on embedded defaults
  agent   run one agent of a cell (external NATS, PostgreSQL, S3)
  router  run a router of a cell: the HTTP and gRPC APIs

Run "streamhouse <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case "agent":
		err = runAgent(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
	case "router":
		err = runRouter(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "streamhouse: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage went to stderr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "streamhouse %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
