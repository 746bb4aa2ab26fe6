package eventbus

import (
	"errors"
	"log/slog"
)

// ErrClosed is returned by Publish and Subscribe on a closed bus.
var ErrClosed = errors.New("eventbus: bus is closed")

// ErrUnavailable is returned by Publish, at once, while a recent failure
// says Redis is down: retrying every mutation's publish against a dead
// server would add its timeout to every write. Subscribers catch up from the
// database meanwhile.
var ErrUnavailable = errors.New("eventbus: redis is unavailable")

// DefaultBuffer is the number of messages a subscription may have pending
// before it is dropped as too slow.
const DefaultBuffer = 256

// Option configures a bus.
type Option func(*options)

type options struct {
	buffer int
	log    *slog.Logger
}

// WithBuffer sets each subscription's buffer (DefaultBuffer when n < 1). A
// subscriber that falls n messages behind is dropped rather than allowed to
// slow down publishers or other subscribers.
func WithBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.buffer = n
		}
	}
}

// WithLogger sets the logger for dropped subscriptions and Redis connection
// trouble (slog.Default when nil or not given).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{buffer: DefaultBuffer, log: slog.Default()}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
