// Command ferretdb runs FerretDB 1.24 (embedded package) with the SQLite backend.
//
// It exists because `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`
// produces a binary that panics at start (build/version/version.txt is missing from
// the published module). Importing the embeddable package from our own main module
// avoids that check.
//
// Flags (each also read from an environment variable):
//
//	-listen-addr   FERRETDB_LISTEN_ADDR   default 127.0.0.1:27017
//	-sqlite-dir    FERRETDB_SQLITE_DIR    default ./data (created if missing)
//	-log-level     FERRETDB_LOG_LEVEL     default warn (debug, info, warn, error)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

// ferretVersion returns the FerretDB module version this binary was built with.
// The embedded package reports "unknown" otherwise (buildInfo/serverStatus).
func ferretVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/FerretDB/FerretDB" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	listenAddr := flag.String("listen-addr", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"), "TCP listen address")
	sqliteDir := flag.String("sqlite-dir", envOr("FERRETDB_SQLITE_DIR", "data"), "directory for SQLite database files (created if missing)")
	logLevel := flag.String("log-level", envOr("FERRETDB_LOG_LEVEL", "warn"), "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(*logLevel))); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	dir, err := filepath.Abs(*sqliteDir)
	if err != nil {
		logger.Error("resolving SQLite directory", "error", err)
		os.Exit(1)
	}
	if err = os.MkdirAll(dir, 0o700); err != nil {
		logger.Error("creating SQLite directory", "dir", dir, "error", err)
		os.Exit(1)
	}

	version.Get().Version = ferretVersion()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		logger.Error("starting FerretDB", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Always say where we listen, whatever the log level.
	fmt.Fprintf(os.Stderr, "ferretdb %s: serving %s (sqlite dir %s, pid %d)\n",
		version.Get().Version, f.MongoDBURI(), dir, os.Getpid())

	if err = f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with error", "error", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "ferretdb: stopped")
}
