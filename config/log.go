package config

import (
	"fmt"
	"io"
	"log/slog"
)

// validate checks log.level and log.format, which the sidecar and the
// webhook share.
func (l Log) validate() []error {
	var errs []error
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf(`log.level: %v is not accepted; want "debug", "info", "warn" or "error"`, l.Level))
	}
	switch l.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf(`log.format: %v is not accepted; want "json" or "text"`, l.Format))
	}
	return errs
}

// Handler is the slog handler the configuration asks for, writing to w.
func (l Log) Handler(w io.Writer) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}
