package guestclock

import (
	"fmt"
	"sort"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// SinkFactory makes one sink from its configuration value (a path, an
// address, "slew", ...). An empty value or "off" never reaches it.
type SinkFactory func(value string, log *zap.Logger) (sink.Sink, error)

// sinkTable maps a configuration key to the sink it enables. Outputs
// register here (one line each, from the binary's wiring), and the key
// becomes valid in the config file and in --sink KEY=VALUE.
var sinkTable = map[string]SinkFactory{}

// RegisterSink makes key a configuration key that enables the sink made by
// f. Call it before parsing the configuration (from an init function).
func RegisterSink(key string, f SinkFactory) { sinkTable[key] = f }

// OpenSinks makes the sinks cfg enables, in key order; on an error it
// closes those already made.
func OpenSinks(cfg Config, log *zap.Logger) ([]sink.Sink, error) {
	keys := make([]string, 0, len(cfg.Sinks))
	for k, v := range cfg.Sinks {
		if v != "" && v != "off" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []sink.Sink
	for _, k := range keys {
		f, ok := sinkTable[k]
		if !ok {
			closeSinks(out)
			return nil, fmt.Errorf("sink %q: not built into this binary", k)
		}
		s, err := f(cfg.Sinks[k], log.Named(k))
		if err != nil {
			closeSinks(out)
			return nil, fmt.Errorf("sink %s = %s: %w", k, cfg.Sinks[k], err)
		}
		out = append(out, s)
	}
	return out, nil
}

func closeSinks(ss []sink.Sink) {
	for _, s := range ss {
		s.Close()
	}
}
