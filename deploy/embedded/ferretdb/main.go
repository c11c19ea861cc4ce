// Command ferretdb runs FerretDB 1.x (a MongoDB wire-protocol server) on SQLite for the local
// stack (`make run`) and the tests. It embeds github.com/FerretDB/FerretDB/ferretdb instead of
// building cmd/ferretdb, whose binary panics at start without build/version/version.txt (a
// file the module does not ship). The embeddable package has no telemetry and no debug
// listener.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".run/data/ferretdb", "directory of the SQLite databases")
	// warn would log every command FerretDB does not know, such as PyMongo's endSessions.
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		logger.Error("cannot create the data directory", "dir", *dataDir, "error", err)
		os.Exit(1)
	}

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/",
	})
	if err != nil {
		logger.Error("cannot start", "error", err)
		os.Exit(1)
	}

	// SIGTERM and SIGINT end Run, which closes the listener and the SQLite databases.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("listening", "address", *listen, "data", *dataDir)
	if err := server.Run(ctx); err != nil && ctx.Err() == nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}
