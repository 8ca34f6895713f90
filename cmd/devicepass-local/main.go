// Command devicepass-local serves the devicepass API on loopback against
// the local AWS stand-ins: what `make run` runs.
//
//	go run ./cmd/devicepass-local            # http://127.0.0.1:8080
//	PORT=9090 go run ./cmd/devicepass-local
//
// It installs (first run) and starts DynamoDB Local and moto, creates the
// table, the verifier key, the event bus and the notice topic, serves the
// API behind the local gateway, runs the local rotation scheduler, feeds
// the stream handler from the table's stream (events to moto and to
// .local/events.jsonl), sweeps expired devices, reconciles, and writes
// .local/env. Ctrl-C (or SIGTERM) stops everything it started. The
// configuration variables of every function (docs/architecture.md) apply,
// plus PORT, DEVICEPASS_SCHEDULER_INTERVAL and DEVICEPASS_SWEEP_INTERVAL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/localscheduler"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devicepass-local:", err)
		os.Exit(1)
	}
}

func run() error {
	port := localrun.DefaultPort
	if v := strings.TrimSpace(os.Getenv(localrun.PortEnv)); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%s=%q is not a port number", localrun.PortEnv, v)
		}
		port = p
	}
	interval := localscheduler.DefaultSchedulerInterval
	if v := strings.TrimSpace(os.Getenv(localrun.SchedulerIntervalEnv)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return fmt.Errorf("%s=%q is not a duration of at least 1s", localrun.SchedulerIntervalEnv, v)
		}
		interval = d
	}
	sweep := localrun.DefaultSweepInterval
	if v := strings.TrimSpace(os.Getenv(localrun.SweepIntervalEnv)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return fmt.Errorf("%s=%q is not a duration of at least 1s", localrun.SweepIntervalEnv, v)
		}
		sweep = d
	}
	flag.IntVar(&port, "port", port, "port to serve on, on 127.0.0.1 (env PORT)")
	flag.DurationVar(&sweep, "sweep-interval", sweep, "how often expired devices are swept (env "+localrun.SweepIntervalEnv+")")
	flag.DurationVar(&interval, "scheduler-interval", interval, "how often the local rotation scheduler looks for due rotations (env "+localrun.SchedulerIntervalEnv+")")
	root := flag.String("root", "", "repository root (default: the nearest directory with a go.mod)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logLevel := os.Getenv("LOG_LEVEL")
	if logLevel == "" {
		logLevel = "info"
	}
	r, err := localrun.Start(ctx, localrun.Options{
		Root:              *root,
		Port:              port,
		Logger:            app.NewLogger(os.Stderr, logLevel),
		SchedulerInterval: interval,
		SweepInterval:     sweep,
		Getenv:            os.Getenv,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting; Start cleaned up
		}
		return err
	}
	rel, events := r.EnvFile(), r.EventsFile()
	if wd, err := os.Getwd(); err == nil {
		rel = strings.TrimPrefix(rel, wd+string(os.PathSeparator))
		events = strings.TrimPrefix(events, wd+string(os.PathSeparator))
	}
	fmt.Printf(`
devicepass local API  %s
AWS environment       %s   (. %s  then use the aws CLI or any SDK)
Get a token           curl -s -X POST %s/local/token -H 'Content-Type: application/json' -d '{"sub":"alice","groups":["domain-admin:example.com"]}'
Watch events          tail -f %s   (also on EventBridge bus %s and SNS topic %s in moto)
Stop                  Ctrl-C

`, r.URL(), r.EnvFile(), rel, r.URL(), events, localrun.EventBusName, r.NoticeTopicARN())

	select {
	case <-ctx.Done():
	case err := <-r.Done():
		if !errors.Is(err, http.ErrServerClosed) {
			_ = r.Stop()
			return fmt.Errorf("serving stopped: %w", err)
		}
	}
	stop() // a second Ctrl-C ends the process at once (the stand-ins die with it)
	fmt.Fprintln(os.Stderr, "devicepass-local: stopping")
	return r.Stop()
}
