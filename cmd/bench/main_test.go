package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/standins"
)

// TestQuickRun runs the whole harness with -quick against fresh stand-ins
// and checks that every section ran and measured something: it is the smoke
// test of `make bench`, not a benchmark, so it checks the harness's
// findings only where they must hold on any machine.
func TestQuickRun(t *testing.T) {
	root, err := standins.Root()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	report, path, err := runAndSave(ctx, options{quick: true, root: root, outDir: out}, &progress)
	if err != nil {
		t.Fatalf("bench -quick: %v\nprogress:\n%s", err, progress.String())
	}
	saved, err := os.ReadFile(path)
	if err != nil || string(saved) != report || filepath.Dir(path) != out {
		t.Fatalf("report not saved under %s as printed (%s, %v)", out, path, err)
	}
	for _, want := range []string{"| CPU |", "| cores | ", "| memory |", "| Go | go1."} {
		if !strings.Contains(report, want) {
			t.Errorf("machine description lacks %q", want)
		}
	}

	calls := rows(t, report, titleCalls)
	if len(calls) < 9 {
		t.Fatalf("section 1 has %d rows, want every operation", len(calls))
	}
	for _, r := range calls {
		sm, ddb, trips := num(t, r[1]), num(t, r[2]), num(t, r[3])
		if sm+ddb == 0 || trips < 1 || trips > sm+ddb {
			t.Errorf("section 1, %s: %d SM, %d DDB, %d round trips: not a count of real calls", r[0], sm, ddb, trips)
		}
		if strings.HasPrefix(r[0], "verify") && sm != 0 {
			t.Errorf("section 1, %s calls Secrets Manager %d times", r[0], sm)
		}
		if w, rd := num(t, r[4]), num(t, r[5]); w < 0 || rd < 0 || w+rd != sm {
			t.Errorf("section 1, %s: %d SM writes and %d reads do not add up to %d SM calls", r[0], w, rd, sm)
		}
		// Secrets Manager writes per rotation and per regenerate: AWS's
		// rotation template's 2, the floor; a regenerate in 4 round trips.
		if (r[0] == "regenerate" || strings.HasPrefix(r[0], "scheduled rotation")) && num(t, r[4]) != 2 {
			t.Errorf("section 1, %s makes %s Secrets Manager writes, want 2", r[0], r[4])
		}
		if r[0] == "regenerate" && trips > 4 {
			t.Errorf("section 1, regenerate takes %d sequential round trips, want at most 4", trips)
		}
	}

	for _, r := range rows(t, report, titleColdStart) {
		if r[3] != "none" {
			t.Errorf("function %s links CDK or jsii code: %s", r[0], r[3])
		}
	}
	if len(rows(t, report, titleColdStart)) < 3 {
		t.Error("section 2 lists fewer than the three functions")
	}

	lat := rows(t, report, titleLatency)
	if len(lat) != 5 {
		t.Fatalf("section 3 has %d rows, want 5 operations", len(lat))
	}
	for _, r := range lat {
		if !strings.HasSuffix(r[1], " (0)") || strings.HasPrefix(r[1], "0 ") {
			t.Errorf("section 3, %s: requests (errors) = %s", r[0], r[1])
		}
		if !strings.HasSuffix(r[4], " ms") || !strings.HasSuffix(r[6], "×") {
			t.Errorf("section 3, %s: no p50 or ratio in %q", r[0], r)
		}
	}

	hot := rows(t, report, titleHotPath)
	if len(hot) != 3 {
		t.Fatalf("section 4 has %d rows, want 3 benchmarks", len(hot))
	}
	verifyNs, argonNs := num(t, hot[0][1]), num(t, hot[2][1])
	if verifyNs <= 0 || argonNs <= verifyNs {
		t.Errorf("section 4: verify %d ns/op, Argon2id %d ns/op", verifyNs, argonNs)
	}

	capRows := rows(t, report, titleCapacity)
	if len(capRows) < 10 {
		t.Fatalf("section 6 has %d rows, want every operation of the model", len(capRows))
	}
	for _, want := range []string{"**per device**", "peak reaches it at", "Busy days, simulated", "first limit to saturate"} {
		if !strings.Contains(report, want) {
			t.Errorf("section 6 lacks %q", want)
		}
	}

	quota := map[string]string{}
	for _, r := range rows(t, report, titleQuota) {
		quota[r[0]] = r[1]
	}
	if got := quota["requests failed"]; got != "0" {
		t.Errorf("section 5: %s requests failed", got)
	}
	if got := quota["devices created (and listed back)"]; !strings.HasPrefix(got, "100 of 100 (100 listed)") {
		t.Errorf("section 5: devices created %q", got)
	}
	if got := quota["writes admitted per whole second"]; !strings.Contains(got, "max ") || num(t, got[strings.LastIndex(got, " ")+1:]) > writeQuota {
		t.Errorf("section 5: the proxy admitted more than the quota: %q", got)
	}

	// Section 7: every path, sequential and concurrent, made its logins
	// (each one checked to succeed) and has a ratio to the baseline.
	mail := rows(t, report, titleMailLogin)
	if len(mail) != 8 {
		t.Fatalf("section 7 has %d rows, want 4 paths × 2 modes", len(mail))
	}
	for _, r := range mail {
		if num(t, r[2]) < 1 || !strings.HasSuffix(r[6], "×") || !strings.HasSuffix(r[8], "×") {
			t.Errorf("section 7, %s with %s clients: %v", r[0], r[1], r)
		}
	}
}

// rows returns the cells of the first table under the heading title.
func rows(t *testing.T, report, title string) [][]string {
	t.Helper()
	i := strings.Index(report, "## "+title+"\n")
	if i < 0 {
		t.Fatalf("no section %q in the report", title)
	}
	var out [][]string
	inTable := false
	for _, line := range strings.Split(report[i:], "\n")[1:] {
		if strings.HasPrefix(line, "## ") {
			break
		}
		if !strings.HasPrefix(line, "| ") {
			if inTable {
				break
			}
			continue
		}
		if !inTable { // the head
			inTable = true
			continue
		}
		if strings.HasPrefix(line, "| --- ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		out = append(out, cells)
	}
	return out
}

func num(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
