package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// logFlags are the ecosystem's --log.level and --log.format.
type logFlags struct {
	level, format *string
}

func addLogFlags(a *kingpin.Application) logFlags {
	return logFlags{
		level:  a.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error"),
		format: a.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json"),
	}
}

func (f logFlags) logger(w io.Writer) log.Logger {
	var l log.Logger
	if *f.format == "json" {
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	l = level.NewFilter(l, level.Allow(level.ParseDefault(*f.level, level.InfoValue())))
	return log.With(l, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
}

// slogger adapts the go-kit logger for exporter-toolkit, which logs through
// log/slog; the go-kit level filter still applies.
func slogger(l log.Logger) *slog.Logger {
	return slog.New(sloggokit.NewGoKitHandler(l, slog.LevelDebug))
}

// promLogger adapts go-kit for promhttp's error log.
type promLogger struct{ l log.Logger }

func (p promLogger) Println(v ...interface{}) {
	level.Error(p.l).Log("msg", fmt.Sprint(v...))
}
