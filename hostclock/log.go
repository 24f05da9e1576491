package hostclock

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the structured logger: JSON to stderr under systemd or
// when not a terminal, console otherwise.
func NewLogger(level string) (*zap.Logger, zap.AtomicLevel, error) {
	lvl := zap.NewAtomicLevel()
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, lvl, fmt.Errorf("log level %q: %w", level, err)
	}
	var zc zap.Config
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
		zc.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout(time.TimeOnly + ".000")
	} else {
		zc = zap.NewProductionConfig()
		zc.DisableStacktrace = true
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	zc.Level = lvl
	l, err := zc.Build()
	return l, lvl, err
}
