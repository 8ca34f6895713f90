package apigen_test

import (
	"os"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apigw/api/internal/apigen"
)

// TestRoutesRefusesAnIncompleteDocument: the route table is only made from
// a document that says what every route answers and how it is authorized.
func TestRoutesRefusesAnIncompleteDocument(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apigen.Routes(doc); err != nil {
		t.Fatalf("the document itself: %v", err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"no operationId", "operationId: getMailbox", "x-no-id: getMailbox", "no operationId"},
		{"unknown scheme", "- sigv4: []", "- mtls: []", "unknown security scheme"},
		{"path parameter missing", "/v1/enrollments/{token}/device:", "/v1/enrollments/{tok}/device:", "path parameters"},
		{"no 415", "        '415':\n          $ref: '#/components/responses/UnsupportedMedia'\n", "", "no 415"},
		{"unbounded integer", "minimum: 1\n        maximum: 100\n        default: 50", "default: 50", "minimum and a maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(string(doc), tt.old) {
				t.Fatalf("the document no longer contains %q", tt.old)
			}
			_, err := apigen.Routes([]byte(strings.ReplaceAll(string(doc), tt.old, tt.new)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
