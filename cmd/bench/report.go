package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// report is the whole output.
type report struct {
	quick    bool
	only     string
	started  time.Time
	took     time.Duration
	machine  machine
	sections []section
}

// section is one titled part of the report: a table and notes.
type section struct {
	title string
	intro string
	table table
	extra []table // further tables, each with its own caption
	notes []string
	took  time.Duration
	// summary rows (what, measured, target, met) for the report's first
	// table.
	summary [][]string
}

// table is a markdown table, with an optional caption above it.
type table struct {
	caption string
	head    []string
	rows    [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t table) markdown(w *strings.Builder) {
	if t.caption != "" {
		fmt.Fprintf(w, "%s\n\n", t.caption)
	}
	w.WriteString("| " + strings.Join(t.head, " | ") + " |\n")
	seps := make([]string, len(t.head))
	for i := range seps {
		seps[i] = "---"
	}
	w.WriteString("| " + strings.Join(seps, " | ") + " |\n")
	for _, r := range t.rows {
		cells := make([]string, len(t.head))
		copy(cells, r)
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		w.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	w.WriteString("\n")
}

// Section titles; the smoke test looks for each.
const (
	titleCalls     = "1. AWS calls per operation"
	titleColdStart = "2. Cold start and binary size"
	titleLatency   = "3. Latency against realistic AWS latency"
	titleHotPath   = "4. Verify hot path"
	titleQuota     = "5. Bulk creation under the Secrets Manager write quota"
)

func (r *report) markdown() string {
	var w strings.Builder
	mode := "full run"
	if r.quick {
		mode = "**quick run (-quick): small loads, no builds; not for comparison**"
	}
	if r.only != "" {
		mode += ", **only sections " + r.only + " (-only)**"
	}
	fmt.Fprintf(&w, "# devicepass benchmarks, %s\n\n", r.started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "`make bench` (`go run ./cmd/bench`), %s, every figure below measured in this one run (%s in all).\n\n", mode, r.took.Round(time.Second))
	m := r.machine
	t := table{head: []string{"machine", ""}}
	t.add("CPU", m.cpu)
	t.add("cores", strconv.Itoa(m.cores))
	t.add("memory", m.memory)
	t.add("OS / arch", m.os)
	t.add("Go", m.goVersion)
	t.add("load average (1 min) before the run", m.loadStart+" (other work on the machine disturbs every figure but section 1's counts)")
	t.add("stand-ins", "DynamoDB Local 3.3.1 (Java 17) and moto 5.2.1 on loopback, sharing these cores with the benchmark")
	t.markdown(&w)
	sum := table{head: []string{"figure", "measured", "target", "met", "section"}}
	for _, s := range r.sections {
		num, _, _ := strings.Cut(s.title, ".")
		for _, row := range s.summary {
			sum.add(append(append([]string(nil), row...), num)...)
		}
	}
	if len(sum.rows) > 0 {
		w.WriteString("## Summary against the targets\n\n")
		sum.markdown(&w)
	}
	for _, s := range r.sections {
		fmt.Fprintf(&w, "## %s\n\n", s.title)
		if s.intro != "" {
			fmt.Fprintf(&w, "%s\n\n", s.intro)
		}
		s.table.markdown(&w)
		for _, x := range s.extra {
			x.markdown(&w)
		}
		for _, n := range s.notes {
			fmt.Fprintf(&w, "- %s\n", n)
		}
		if len(s.notes) > 0 {
			w.WriteString("\n")
		}
		fmt.Fprintf(&w, "_Section measured in %s._\n\n", s.took.Round(100*time.Millisecond))
	}
	return w.String()
}

// machine is what the figures were measured on.
type machine struct {
	cpu, memory, os, goVersion string
	cores                      int
	loadStart                  string // 1-minute load average before the run
}

// loadAverage returns the 1-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func describeMachine() machine {
	m := machine{cpu: "unknown", memory: "unknown", cores: runtime.NumCPU(), goVersion: runtime.Version(),
		os: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(fields[1], 64); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.os += ", Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// human formats a duration in µs below a millisecond, else as ms does.
func human(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
	return ms(d)
}

// mb formats a size in megabytes (10^6 bytes, as Lambda's limits are).
func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

// verdict says whether a target is met.
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// percentile returns the p-th percentile (0-100) of ds by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 50) }
