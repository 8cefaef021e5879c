// Command streamctl is StreamHouse's command-line client. It speaks the
// HTTP API (router/): topic and consumer group administration, produce, the
// cluster's health endpoints and agents; and the gRPC API
// (proto/streamhouse/v1, ConsumerService): consume and consumer groups'
// offsets.
//
//	streamctl [--server URL] [--grpc ADDR] [--output table|json] [--timeout D] COMMAND
//
//	topic create NAME [--partitions N] [--durability wal|object] [--retention 7d]
//	topic list
//	topic describe NAME
//	topic delete NAME [--yes]
//	topic add-partitions NAME N          (also: topic alter NAME --partitions N)
//	produce TOPIC [VALUE...] [--file F] [--key K | --key-sep SEP] [--partition N] [--header k=v]...
//	cluster status
//	consume TOPIC [--partition N | --all] [--offset earliest|latest|N] [--max N] [--follow]
//	group list
//	group describe GROUP
//	group reset GROUP --to earliest|latest|offset|timestamp [--topic T] [--offset N] [--time RFC3339|--time=-1h]
//	group delete GROUP [--yes]
//	group offsets GROUP [--topic T]
//	group commit GROUP TOPIC PARTITION OFFSET [--metadata M]
//
// The gRPC connection (--grpc, default 127.0.0.1:50051) has no TLS: the dev
// cell listens on loopback. With authentication on, --token (or
// STREAMHOUSE_TOKEN) is an API key or an access token, sent as
// "Authorization: Bearer" on HTTP and as the "authorization" metadata on
// gRPC.
//
// Exit codes: 0 success; 1 the server refused or failed the request (its
// error code and message are printed), or the command was declined; 2 a usage
// error (bad flags or arguments, input that does not fit the flags); 3 the
// server could not be reached, or gave no answer within --timeout; 130
// interrupted (Ctrl-C). Errors are one line on stderr, never a stack
// trace.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"
)

// Exit codes.
const (
	exitOK          = 0
	exitServer      = 1 // the server answered with an error; or any other failure
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130 // as a shell reports SIGINT
)

const (
	defaultServer = "http://127.0.0.1:8080"
	serverEnv     = "STREAMHOUSE_SERVER"
	tokenEnv      = "STREAMHOUSE_TOKEN"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		getenv:    os.Getenv,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}

// env is the process's surroundings, passed in so that tests run the
// commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdinTTY: stdin is a terminal (topic delete may ask; produce says it
	// reads lines). stderrTTY: stderr is a terminal (progress bars).
	stdinTTY, stderrTTY bool
}

// cli is the command line. Global flags come before or after the command.
type cli struct {
	Server  string        `help:"URL of the StreamHouse HTTP API (env ${server_env})." default:"${server}" placeholder:"URL"`
	GRPC    string        `name:"grpc" help:"Address (host:port) of the StreamHouse gRPC API, for consume and group (env ${grpc_env}). Plaintext: the dev cell listens on loopback; TLS comes with authentication." default:"${grpc}" placeholder:"ADDR"`
	Output  string        `short:"o" help:"Output format: table or json." enum:"table,json" default:"table"`
	Timeout time.Duration `help:"Timeout of each HTTP request and gRPC call (a long poll waits longer)." default:"60s"`
	Token   string        `help:"API key (shk_...) or access token sent with every request, when the cell has authentication on (env ${token_env})." default:"${token}" placeholder:"CREDENTIAL"`

	Topic   topicCmd   `cmd:"" help:"Create, list, describe, grow and delete topics."`
	Produce produceCmd `cmd:"" help:"Produce records to a topic."`
	Cluster clusterCmd `cmd:"" help:"The cluster's health and agents."`
	Consume consumeCmd `cmd:"" help:"Read records of a topic (gRPC API)."`
	Group   groupCmd   `cmd:"" help:"Consumer groups: list, describe, reset, delete (HTTP API); offsets, commit (gRPC API)."`
}

// app is what every command's Run gets: the parsed global flags, a client,
// and the process's surroundings.
type app struct {
	ctx    context.Context
	env    env
	client *client
	grpc   *grpcClient
	json   bool // --output json
}

// exitPanic carries kong's exit request (after --help) out of the parser.
type exitPanic int

// run runs one command line and returns the process's exit code.
func run(ctx context.Context, args []string, e env) (code int) {
	defer func() {
		if r := recover(); r != nil {
			ex, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = int(ex)
		}
	}()
	server := e.getenv(serverEnv)
	if server == "" {
		server = defaultServer
	}
	grpcAddr := e.getenv(grpcEnv)
	if grpcAddr == "" {
		grpcAddr = defaultGRPC
	}
	var c cli
	parser, err := kong.New(&c,
		kong.Name("streamctl"),
		kong.Description("StreamHouse command-line client: topics, produce, cluster and group administration over the HTTP API; consume and group offsets over the gRPC API."),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { panic(exitPanic(code)) }),
		kong.Vars{"server": server, "server_env": serverEnv, "grpc": grpcAddr, "grpc_env": grpcEnv,
			"token": e.getenv(tokenEnv), "token_env": tokenEnv},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil { // a bug in the cli struct's tags
		fmt.Fprintf(e.stderr, "streamctl: %v\n", err)
		return exitServer
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return report(e.stderr, &usageError{msg: err.Error()})
	}
	base, err := parseServer(c.Server)
	if err != nil {
		return report(e.stderr, err)
	}
	gc := &grpcClient{addr: c.GRPC, timeout: c.Timeout, token: c.Token}
	defer gc.close()
	cl := newClient(base, c.Timeout)
	cl.token = c.Token
	a := &app{ctx: ctx, env: e, client: cl, grpc: gc, json: c.Output == "json"}
	err = kctx.Run(a)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "streamctl: interrupted")
		return exitInterrupted
	}
	return report(e.stderr, err)
}

// parseServer accepts a URL, or host:port for http.
func parseServer(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want a URL such as %s", s, defaultServer)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// usageError is a command line that cannot run: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// declinedError is a command the user declined at a prompt: exit code 1.
type declinedError struct{ msg string }

func (e *declinedError) Error() string { return e.msg }

// report prints err, if any, as one line on stderr and returns its exit
// code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *connError
	code := exitServer
	switch {
	case errors.As(err, &ue):
		code = exitUsage
		defer fmt.Fprintln(stderr, "Run 'streamctl --help' for usage.")
	case errors.As(err, &ce):
		code = exitUnreachable
	}
	fmt.Fprintf(stderr, "streamctl: %v\n", err)
	return code
}
