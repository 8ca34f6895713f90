package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/devicepass/devicepass/console"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
)

// titleConsole is section 8's title; the smoke test looks for it.
const titleConsole = "8. Web console"

// firstLoad are the files a browser fetches on the console's first load:
// the page, its style, every module (the import graph is static) and the
// English catalog.
var firstLoad = []string{"index.html", "style.css", "app.js", "api.js", "auth.js", "dom.js", "i18n.js", "mobileconfig.js", "i18n/en.json"}

// consoleFigures measures the console: the bytes of its first load,
// compressed as CloudFront compresses them (gzip), and the time until the
// Devices tab of a mailbox with 50 devices is interactive in headless
// Chromium against the local runner.
func (b *bench) consoleFigures(ctx context.Context) (section, error) {
	sec := section{
		title: titleConsole,
		intro: "First-load bytes are the gzip sizes of the files the first load fetches (the console has no " +
			"build step: these are its sources). Time to interactive is measured in Debian's Chromium (headless) " +
			"against the local runner: from opening the mailbox's Devices tab to its 50 rows and the Add button " +
			"being on screen, the median of the runs.",
		table: table{head: []string{"figure", "measured", "target"}},
	}
	var raw, zipped int
	for _, name := range firstLoad {
		data, err := fs.ReadFile(console.Files(), name)
		if err != nil {
			return sec, fmt.Errorf("console file %s: %w", name, err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		raw += len(data)
		zipped += buf.Len()
	}
	kb := func(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1024) }
	sec.table.add("first load, gzipped ("+fmt.Sprint(len(firstLoad))+" files)", kb(zipped), "≤ 100 KB")
	sec.table.add("first load, uncompressed", kb(raw), "")
	sec.summary = append(sec.summary, []string{"console first load, gzipped", kb(zipped), "≤ 100 KB", verdict(zipped <= 100*1024)})

	ms, err := b.devicesInteractive(ctx)
	if err != nil {
		return sec, err
	}
	sec.table.add("Devices tab of 50 devices interactive (median)", fmt.Sprintf("%.0f ms", ms), "")
	sec.summary = append(sec.summary, []string{"console: 50-device Devices tab interactive", fmt.Sprintf("%.0f ms", ms), "(a figure, no target)", "—"})
	return sec, nil
}

// devicesInteractive starts a local runner and runs the browser
// measurement (console/browsertest/bench.mjs) against it.
func (b *bench) devicesInteractive(ctx context.Context) (float64, error) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		return 0, fmt.Errorf("%s is missing: install it with `tools/ensure-debs.sh chromium`", chromium)
	}
	if _, err := os.Stat(filepath.Join(b.o.root, "console", "node_modules", "playwright-core")); err != nil {
		return 0, fmt.Errorf("console/node_modules lacks playwright-core: run `make console-deps`")
	}
	state, err := os.MkdirTemp("", "devicepass-bench-console-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(state)
	r, err := localrun.Start(ctx, localrun.Options{Root: b.o.root, StateDir: state, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		SchedulerInterval: -1, SweepInterval: -1, ReconcileInterval: -1})
	if err != nil {
		return 0, fmt.Errorf("start the local runner: %w", err)
	}
	defer r.Stop()
	runs := "5"
	if b.o.quick {
		runs = "1"
	}
	node := filepath.Join(b.o.root, ".tools", "node", "node_modules", "node", "bin", "node")
	if _, err := os.Stat(node); err != nil {
		node = "node"
	}
	cmd := exec.CommandContext(ctx, node, "bench.mjs")
	cmd.Dir = filepath.Join(b.o.root, "console", "browsertest")
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+r.URL(), "CHROMIUM="+chromium, "RUNS="+runs)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("bench.mjs: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	var res struct {
		MedianMs float64 `json:"medianMs"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.MedianMs <= 0 {
		return 0, fmt.Errorf("bench.mjs answered %q", out.String())
	}
	return res.MedianMs, nil
}
