package cells

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// slogLevelTrace is below Debug: nats-server's protocol trace.
const slogLevelTrace = slog.LevelDebug - 4

// natsLogger adapts nats-server's Logger to slog. Fatalf logs at Error and
// never exits the process (nats-server's own logger would); the first fatal
// message is kept so that a failed start can say why.
type natsLogger struct {
	log          *slog.Logger
	debug, trace bool

	mu struct {
		sync.Mutex
		fatal string
	}
}

func newNATSLogger(log *slog.Logger) *natsLogger {
	ctx := context.Background()
	return &natsLogger{
		log:   log.With("component", "nats-server"),
		debug: log.Enabled(ctx, slog.LevelDebug),
		trace: log.Enabled(ctx, slogLevelTrace),
	}
}

func (l *natsLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.fatal
}

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *natsLogger) Tracef(format string, v ...any) {
	l.log.Log(context.Background(), slogLevelTrace, fmt.Sprintf(format, v...))
}

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.mu.fatal == "" {
		l.mu.fatal = msg
	}
	l.mu.Unlock()
	l.log.Error(msg, "fatal", true)
}
