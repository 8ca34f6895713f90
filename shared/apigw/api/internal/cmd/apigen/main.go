// Command apigen writes package api's generated files from
// docs/openapi.yaml; `go generate ./shared/apigw/api` runs it.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/devicepass/devicepass/shared/apigw/api/internal/apigen"
)

func main() {
	spec := flag.String("spec", "", "the OpenAPI document")
	out := flag.String("out", ".", "the folder of package api")
	flag.Parse()
	if *spec == "" {
		fmt.Fprintln(os.Stderr, "apigen: -spec is required")
		os.Exit(2)
	}
	files, err := apigen.Generate(*spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(*out, name), files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "apigen:", err)
			os.Exit(1)
		}
	}
}
