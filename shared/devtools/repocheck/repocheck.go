// Package repocheck holds checks over the whole repository, run as tests:
// that no function links tooling, and that the package and configuration
// tables of docs/architecture.md (and README.md's configuration table)
// stay in step with the code. The helpers here parse `go list` output and
// Markdown tables. Tooling only: no function links it.
package repocheck

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Module is the module path of the repository.
const Module = "github.com/devicepass/devicepass"

// Forbidden reports why a function must not link pkg, or "" if it may.
// Functions ship in Lambdas: tooling (shared/devtools), the testing
// package, the CDK app and the CDK/jsii runtime would bloat them, slow
// their cold start, or run test-only code in production.
func Forbidden(pkg string) string {
	switch {
	case strings.HasPrefix(pkg, Module+"/shared/devtools/"):
		return "tooling under shared/devtools"
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return "the testing package"
	case pkg == Module+"/infra" || strings.HasPrefix(pkg, Module+"/infra/"):
		return "the CDK app (infra)"
	case strings.HasPrefix(pkg, "github.com/aws/jsii-runtime-go"):
		return "the jsii runtime"
	case strings.HasPrefix(pkg, "github.com/aws/aws-cdk-go/"), strings.HasPrefix(pkg, "github.com/aws/constructs-go/"),
		strings.HasPrefix(pkg, "github.com/cdklabs/"):
		return "the CDK"
	}
	return ""
}

// Root returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// GoList runs `go list args...` at the repository root and returns its
// output lines.
func GoList(root string, args ...string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", strings.Join(args, " "), err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// Table is one Markdown table: its header cells and its rows' cells.
type Table struct {
	Header []string
	Rows   [][]string
}

// Section returns the text of the "## title" section of a Markdown
// document, up to the next heading of the same level.
func Section(doc, title string) (string, error) {
	start := strings.Index(doc, "\n## "+title+"\n")
	if start < 0 {
		return "", fmt.Errorf("no section %q", title)
	}
	rest := doc[start+len("\n## "+title+"\n"):]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest, nil
}

// Tables returns the tables of a Markdown text, in order.
func Tables(text string) []Table {
	var out []Table
	var cur *Table
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			out = append(out, Table{Header: cells})
			cur = &out[len(out)-1]
		case isRule(cells):
		default:
			cur.Rows = append(cur.Rows, cells)
		}
	}
	return out
}

func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	parts := strings.Split(line, "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// CodeSpans returns the contents of a cell's `code` spans.
func CodeSpans(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// Matches reports whether a package path matches a table row's path, in
// which "<name>" stands for one path element (functions/<name>).
func Matches(pattern, path string) bool {
	pp, xp := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(pp) != len(xp) {
		return false
	}
	for i := range pp {
		if pp[i] != xp[i] && !(strings.HasPrefix(pp[i], "<") && strings.HasSuffix(pp[i], ">")) {
			return false
		}
	}
	return true
}
