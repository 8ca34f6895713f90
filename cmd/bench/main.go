// Command bench measures devicepass against the local stand-ins and prints
// one markdown report, every figure measured in the same run: AWS calls per
// operation, cold start and binary size of each function, API latency
// against realistic AWS latency, the verify hot path beside Argon2id, bulk
// creation under Secrets Manager's write quota, and what a fleet costs and
// which quota it reaches first (section 6, also `make capacity`), and a
// Dovecot login through each mail server path beside a local password
// file (section 7, which runs a real Dovecot and needs root). It is what
// `make bench` runs; docs/benchmarks.md describes the method.
//
//	go run ./cmd/bench            # full run, a few minutes on 2 cores
//	go run ./cmd/bench -quick     # every section, small loads (the smoke test)
//
// The report goes to standard output and to bench-results/<UTC time>.md;
// progress goes to standard error. It starts its own stand-ins (installing
// them on first use) and stops them when done.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/dovecot"
	"github.com/devicepass/devicepass/shared/devtools/standins"
)

func main() {
	// Section 7's Dovecot runs in a mount namespace whose first process is
	// this binary again.
	dovecot.Sandbox()
	var o options
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.BoolVar(&o.quick, "quick", false, "small loads and no builds: checks that every section runs (seconds, not minutes)")
	fs.StringVar(&o.outDir, "out", "", "folder for the report (default <root>/bench-results)")
	fs.StringVar(&o.root, "root", "", "repository root (default: the nearest directory with a go.mod)")
	fs.StringVar(&o.only, "only", "", "run only these sections, e.g. 2 or 1,3 (for working on one; the report says so)")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, path, err := runAndSave(ctx, o, os.Stderr)
	if report != "" {
		fmt.Print(report)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "bench: report written to", path)
}

// options are the command's flags.
type options struct {
	quick  bool
	outDir string
	root   string
	only   string // comma-separated section numbers; empty: all
}

// runs reports whether section n (1-7) is to run.
func (o options) runs(n int) bool {
	if o.only == "" {
		return true
	}
	for _, s := range strings.Split(o.only, ",") {
		if strings.TrimSpace(s) == strconv.Itoa(n) {
			return true
		}
	}
	return false
}

// runAndSave runs every section and writes the report under outDir.
func runAndSave(ctx context.Context, o options, progress io.Writer) (report, path string, err error) {
	if o.root == "" {
		if o.root, err = standins.Root(); err != nil {
			return "", "", err
		}
	}
	if o.outDir == "" {
		o.outDir = filepath.Join(o.root, "bench-results")
	}
	started := time.Now().UTC()
	report, err = run(ctx, o, progress)
	if err != nil {
		return report, "", err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return report, "", err
	}
	name := started.Format("2006-01-02T15-04-05Z")
	if o.quick {
		name += "-quick"
	}
	if o.only != "" {
		name += "-only-" + strings.ReplaceAll(o.only, ",", "-")
	}
	path = filepath.Join(o.outDir, name+".md")
	return report, path, os.WriteFile(path, []byte(report), 0o644)
}
