package cells

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedNATSConfig configures an in-process nats-server with JetStream, as
// the dev cell and the tests run it. Production cells use an external NATS
// cluster instead.
type EmbeddedNATSConfig struct {
	// Dir holds JetStream's file store (in Dir/jetstream). Required: the
	// server never writes to the working directory by default. Restarting on
	// the same Dir recovers every stream and bucket. Only one server may use
	// a Dir at a time; nats-server does not lock it, so the caller must.
	Dir string

	// Host is the client listener's address. The default is 127.0.0.1.
	Host string

	// Port is the client listener's port. The default, 0, picks a free port;
	// ClientURL reports it.
	Port int

	// SyncInterval is how often JetStream fsyncs its files, which decides
	// what an acknowledged write survives:
	//
	//   - 0, the default (nats-server's "sync_interval: always"): every write
	//     is fsynced before JetStream acknowledges it, so an acknowledged
	//     write survives a crash of the process, of the machine and a power
	//     failure, as far as the disk honours fsync. About 8 K msg/s at 128 B
	//     on the reference machine (DESIGN.md), hence group commit in the WAL.
	//   - d > 0: JetStream writes each message to the operating system before
	//     acknowledging it and fsyncs every d (nats-server's default is two
	//     minutes). An acknowledged write survives a crash of the process,
	//     but a crash of the machine or a power failure loses what was written
	//     in the last d (Jepsen 2025: 14 % of acknowledged writes).
	//
	// Negative values are refused.
	SyncInterval time.Duration

	// Logger receives the server's log, notices at Info, debug lines only if
	// the handler enables Debug. The default discards it; the server never
	// writes to stdout or stderr.
	Logger *slog.Logger

	// StartTimeout bounds how long StartEmbeddedNATS waits for the server to
	// recover its store and accept connections. The default is 30 s.
	StartTimeout time.Duration

	// MaxPayload is the largest message, headers included, that the server
	// accepts from a client (nats-server's max_payload), in bytes. The
	// default is DefaultEmbeddedMaxPayload, 16 MiB, because the WAL writes a
	// produce request of up to 8 MiB as one message (WALConfig.MaxEntrySize)
	// and nats-server's own default is 1 MiB. The server logs a warning at
	// start for values over 8 MiB. At most 64 MiB (the server's max_pending);
	// negative values are refused.
	MaxPayload int
}

// DefaultEmbeddedMaxPayload is EmbeddedNATSConfig.MaxPayload's default.
const DefaultEmbeddedMaxPayload = 16 << 20

// maxEmbeddedMaxPayload is nats-server's default max_pending, which
// max_payload may not exceed.
const maxEmbeddedMaxPayload = 64 << 20

// EnsureDefaults fills in the zero fields that have a default.
func (c *EmbeddedNATSConfig) EnsureDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultEmbeddedMaxPayload
	}
}

func (c *EmbeddedNATSConfig) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("embedded nats: Dir is required")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("embedded nats: port %d out of range 0..65535", c.Port)
	case c.SyncInterval < 0:
		return fmt.Errorf("embedded nats: negative sync interval %s", c.SyncInterval)
	case c.StartTimeout < 0:
		return fmt.Errorf("embedded nats: negative start timeout %s", c.StartTimeout)
	case c.MaxPayload < 0 || c.MaxPayload > maxEmbeddedMaxPayload:
		return fmt.Errorf("embedded nats: max payload %d out of range 1..%d", c.MaxPayload, maxEmbeddedMaxPayload)
	}
	return nil
}

// EmbeddedNATS is a nats-server with JetStream running in this process.
type EmbeddedNATS struct {
	srv      *server.Server
	stopOnce sync.Once
}

// StartEmbeddedNATS starts a nats-server with JetStream on cfg.Dir and
// returns once it accepts connections and JetStream is up. It blocks while
// JetStream recovers its store, at most cfg.StartTimeout. The server installs
// no signal handlers and has no monitoring port. Call Shutdown to stop it.
func StartEmbeddedNATS(cfg EmbeddedNATSConfig) (*EmbeddedNATS, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	opts := &server.Options{
		Host:         cfg.Host,
		Port:         port,
		JetStream:    true,
		StoreDir:     cfg.Dir,
		SyncAlways:   cfg.SyncInterval == 0,
		SyncInterval: cfg.SyncInterval,
		MaxPayload:   int32(cfg.MaxPayload),
		NoSigs:       true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats on %s: %w", cfg.Dir, err)
	}
	logger := newNATSLogger(cfg.Logger)
	srv.SetLoggerV2(logger, logger.debug, logger.trace, false)
	srv.Start()
	if err := awaitReady(srv, logger, cfg.StartTimeout); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats on %s: %w", cfg.Dir, err)
	}
	return &EmbeddedNATS{srv: srv}, nil
}

// awaitReady waits until srv accepts connections with JetStream up, or fails
// as soon as the server reports a fatal error (it logs one and gives up
// starting, say, when the port is taken), or after timeout.
func awaitReady(srv *server.Server, logger *natsLogger, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if msg := logger.fatal(); msg != "" {
			return errors.New(msg)
		}
		if srv.ReadyForConnections(50 * time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready for connections after %s", timeout)
		}
	}
	if !srv.JetStreamEnabled() {
		if msg := logger.fatal(); msg != "" {
			return errors.New(msg)
		}
		return errors.New("JetStream did not start")
	}
	return nil
}

// ClientURL is the URL clients connect to, such as nats://127.0.0.1:41234.
func (e *EmbeddedNATS) ClientURL() string { return e.srv.ClientURL() }

// InProcess is a nats.Connect option that connects to this server inside
// the process, without TCP.
func (e *EmbeddedNATS) InProcess() nats.Option { return nats.InProcessServer(e.srv) }

// Shutdown stops the server, closing every client connection, and blocks
// until it has stopped and its store is closed. It is safe to call more than
// once and from several goroutines.
func (e *EmbeddedNATS) Shutdown() {
	e.stopOnce.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	})
}
