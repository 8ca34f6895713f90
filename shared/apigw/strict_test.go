package apigw

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
)

// topLevelNames returns the member names of a JSON object in order, as an
// independent reading of what the strict decoder admitted.
func topLevelNames(t *testing.T, body string) []string {
	dec := json.NewDecoder(strings.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("accepted a body that is not an object: %v", err)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

func checkStrict[T any](t *testing.T, body string) {
	var v T
	err := decodeStrict(body, &v)
	if err != nil {
		if c := apperr.CodeOf(err); c != apperr.Invalid {
			t.Fatalf("decoding %q: %v (code %s), want invalid", body, err, c)
		}
		return
	}
	known := map[string]bool{}
	for _, m := range membersOf(reflect.TypeFor[T]()) {
		known[m.name] = true
	}
	seen := map[string]bool{}
	for _, n := range topLevelNames(t, body) {
		if !known[n] || seen[n] {
			t.Fatalf("accepted %q: member %q is unknown or repeated", body, n)
		}
		seen[n] = true
	}
	// What was accepted reads back the same.
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var w T
	if err := decodeStrict(string(again), &w); err != nil {
		t.Fatalf("%q decoded, but its re-encoding %s did not: %v", body, again, err)
	}
	if !reflect.DeepEqual(v, w) {
		t.Fatalf("%q: decoded %+v, re-decoded %+v", body, v, w)
	}
}

// FuzzDecodeStrict feeds random bodies to the strict decoder for a create
// (required members, nested object, arrays) and a patch (nullable
// members): it never panics, refuses only with invalid, and accepts only
// objects whose members are known, exact and given once, which read back
// the same.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","note":"n","user":"u","scopes":["imap"],"allowIps":["10.0.0.0/8"],"validFor":"1h","rotation":{"everyDays":3,"grace":"2h"}}`,
		`{"name":"a","NAME":"b"}`, `{"name":"a","name":"b"}`, `{"n\u0061me":"a"}`, `{"name":"a","rotation":{"everyDays":1e3}}`,
		`{"note":null,"allowIps":null,"rotation":null,"status":"disabled"}`, `{"rotation":{"schedule":"rate(1 days)"},"scopes":[]}`,
		`[]`, `{}`, `{"name":"a"} x`, `{"name":"\ud800"}`, `{"scopes":["imap",null]}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, patch bool) {
		if patch {
			checkStrict[api.PatchDevice](t, body)
		} else {
			checkStrict[api.CreateDevice](t, body)
		}
	})
}

func TestDecodeStrictNullable(t *testing.T) {
	t.Parallel()
	var p api.PatchDevice
	if err := decodeStrict(`{"note":null,"rotation":{"everyDays":3}}`, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Note.IsNull() || !p.Rotation.IsSpecified() || p.Rotation.IsNull() || p.AllowIps.IsSpecified() {
		t.Errorf("note %v, rotation %v, allowIps %v: want null, given, absent", p.Note, p.Rotation, p.AllowIps)
	}
	var c api.CreateDevice
	err := decodeStrict(`{"name":"a","rotation":null}`, &c)
	if e, ok := apperr.As(err); !ok || e.Field != "rotation" || !strings.Contains(e.Message, "not null") {
		t.Errorf("null for a member that cannot be null: %v", err)
	}
}

// TestBindQuery: the generated parameter types are filled by their form
// tags, absent parameters left nil.
func TestBindQuery(t *testing.T) {
	t.Parallel()
	var d api.ListDevicesParams
	if err := bindQuery(map[string]string{api.QueryLimit: "5", api.QueryCursor: "c1"}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Limit == nil || *d.Limit != 5 || d.Cursor == nil || *d.Cursor != "c1" {
		t.Errorf("devices: limit %v, cursor %v", d.Limit, d.Cursor)
	}
	var a api.ListAuditParams
	if err := bindQuery(map[string]string{api.QueryCursor: "c2"}, &a); err != nil {
		t.Fatal(err)
	}
	if a.Limit != nil || a.Cursor == nil || *a.Cursor != "c2" {
		t.Errorf("audit: limit %v, cursor %v", a.Limit, a.Cursor)
	}
}
