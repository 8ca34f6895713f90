package repocheck_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/devtools/localrun"
	"github.com/devicepass/devicepass/shared/devtools/repocheck"
)

func readDoc(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPackageTable keeps docs/architecture.md's package table in step with
// `go list ./...`: every package has a row, every row names packages, and
// the "in a Lambda" column says yes exactly for the packages some function
// links.
func TestPackageTable(t *testing.T) {
	root, err := repocheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := repocheck.Section(readDoc(t, root, "docs/architecture.md"), "Packages")
	if err != nil {
		t.Fatal(err)
	}
	tables := repocheck.Tables(sec)
	if len(tables) == 0 {
		t.Fatal("no table in the Packages section")
	}
	tab := tables[0]
	if len(tab.Header) < 3 || tab.Header[0] != "path" || tab.Header[1] != "in a Lambda" {
		t.Fatalf("package table header %q, want path | in a Lambda | ...", tab.Header)
	}
	all, err := repocheck.GoList(root, "./...")
	if err != nil {
		t.Fatal(err)
	}
	fns, err := repocheck.GoList(root, "./functions/...")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, fn := range fns {
		deps, err := repocheck.GoList(root, "-deps", fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			linked[d] = true
		}
	}
	covered := map[string]bool{}
	for _, row := range tab.Rows {
		paths := repocheck.CodeSpans(row[0])
		if len(paths) != 1 {
			t.Errorf("row %q: want one `path` in the first column", row[0])
			continue
		}
		var matched []string
		for _, pkg := range all {
			if repocheck.Matches(paths[0], strings.TrimPrefix(pkg, repocheck.Module+"/")) {
				matched = append(matched, pkg)
			}
		}
		if len(matched) == 0 {
			t.Errorf("row %s names no package of go list ./...", paths[0])
		}
		for _, pkg := range matched {
			covered[pkg] = true
			want := "no"
			if linked[pkg] {
				want = "yes"
			}
			if row[1] != want {
				t.Errorf("row %s: in a Lambda %q, want %q (%s)", paths[0], row[1], want, pkg)
			}
		}
	}
	for _, pkg := range all {
		if !covered[pkg] {
			t.Errorf("package %s has no row in docs/architecture.md's package table", strings.TrimPrefix(pkg, repocheck.Module+"/"))
		}
	}
}

// configRows returns the variables the tables of a "Configuration"
// section document, each with its default cell.
func configRows(t *testing.T, doc, title string) map[string]string {
	t.Helper()
	sec, err := repocheck.Section(doc, title)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, tab := range repocheck.Tables(sec) {
		if len(tab.Header) < 2 || tab.Header[0] != "variable" || tab.Header[1] != "default" {
			continue
		}
		for _, r := range tab.Rows {
			for _, v := range repocheck.CodeSpans(r[0]) {
				if _, dup := rows[v]; dup {
					t.Errorf("%s: %s documented twice", title, v)
				}
				rows[v] = r[1]
			}
		}
	}
	return rows
}

// checkConfigTable: every variable the validator reads, and each the local
// runner reads, has a row with its default, and no row names anything else.
func checkConfigTable(t *testing.T, where string, rows map[string]string) {
	t.Helper()
	want := append(config.Keys(), localrun.EnvKeys...)
	for _, k := range want {
		cell, ok := rows[k]
		if !ok {
			t.Errorf("%s: %s is read but not documented", where, k)
			continue
		}
		if d := config.Default(k); d != "" && !strings.Contains(cell, "`"+d+"`") {
			t.Errorf("%s: %s default cell %q does not show the default `%s`", where, k, cell, d)
		}
	}
	for k := range rows {
		if !slices.Contains(want, k) {
			t.Errorf("%s: %s is documented but nothing reads it", where, k)
		}
	}
}

func TestConfigurationTables(t *testing.T) {
	root, err := repocheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	checkConfigTable(t, "docs/architecture.md", configRows(t, readDoc(t, root, "docs/architecture.md"), "Configuration"))
	checkConfigTable(t, "README.md", configRows(t, readDoc(t, root, "README.md"), "Configuration"))
}

func TestTableParsing(t *testing.T) {
	doc := "intro\n\n## A\n\n| x | y |\n| --- | --- |\n| `a`, `b` | 1 |\n\ntext\n\n| variable | default |\n|-|-|\n| `C` | `2` |\n\n## B\n| z |\n"
	sec, err := repocheck.Section(doc, "A")
	if err != nil {
		t.Fatal(err)
	}
	tabs := repocheck.Tables(sec)
	if len(tabs) != 2 || len(tabs[0].Rows) != 1 || tabs[1].Rows[0][1] != "`2`" {
		t.Fatalf("tables %+v", tabs)
	}
	if got := repocheck.CodeSpans(tabs[0].Rows[0][0]); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("CodeSpans = %q", got)
	}
	if !repocheck.Matches("functions/<name>", "functions/api") || repocheck.Matches("functions/<name>", "functions/api/x") || repocheck.Matches("shared/app", "shared/apperr") {
		t.Error("Matches")
	}
}
