package apigw_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzHandle feeds random methods, paths, bodies and headers to both
// handlers, on fakes that never fail: every answer must be a well-formed
// JSON document with a status below 500, and nothing may panic (a panic
// would be recovered as a 500).
func FuzzHandle(f *testing.F) {
	e := newEnv(f)
	e.registerMailbox()
	id, pw := e.createDevice("seed")
	dev := devicesPath + "/" + id
	enrollmentID, token := e.createEnrollment(`{"name":"seed link"}`)
	seeds := []struct {
		method, path, body, ct string
	}{
		{"PUT", mailboxPath, `{"owner":"owner-1"}`, "application/json"},
		{"GET", mailboxPath, "", ""},
		{"POST", devicesPath, `{"name":"a","note":"n","user":"u","scopes":["imap"],"allowIps":["10.0.0.0/8"],"validFor":"1h","rotation":{"everyDays":3,"grace":"2h"}}`, "application/json"},
		{"POST", devicesPath, `{"name":"b","expiresAt":"2026-04-01T00:00:00Z","rotation":{"schedule":"cron(0 4 * * ? *)","duration":"2h"}}`, "application/json; charset=utf-8"},
		{"GET", devicesPath + "?limit=2&cursor=ZDE6YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh", "", ""},
		{"GET", dev, "", ""},
		{"PATCH", dev, `{"name":"c","note":null,"status":"disabled","scopes":["smtp"],"allowIps":null,"rotation":null}`, "application/merge-patch+json"},
		{"DELETE", dev, "", ""},
		{"POST", dev + "/password", `{"graceSeconds":30}`, "application/json"},
		{"POST", devicesPath + "/revoke-all", "", ""},
		{"POST", "/v1/verify", verifyBody(mailbox, pw, "imap", "192.0.2.1"), "application/json"},
		{"POST", "/v1/mailboxes/%E2%82%AC@xn--bcher-kva.example/devices", `{"name":"\u0000"}`, "application/json"},
		{"GET", "/v1/mailboxes/a@b.c/devices/" + strings.Repeat("z", 26), `[1,{"a":[[[]]]}]`, "application/json"},
		{"POST", enrollmentsPath, `{"name":"e","user":"u","scopes":["imap"],"validFor":"2h","tokenValidFor":"1h"}`, "application/json"},
		{"POST", enrollmentsPath, `{"name":"f","expiresAt":"2026-04-01T00:00:00Z"}`, "application/json"},
		{"DELETE", enrollmentsPath + "/" + enrollmentID, "", ""},
		{"POST", redeemPath(token), "{}", "application/json"},
		{"POST", redeemPath(strings.Repeat("%F0", 40)), "", ""},
		{"GET", mailboxPath + "/audit?limit=3&cursor=p1", "", ""},
	}
	for i, s := range seeds {
		f.Add(s.method, s.path, s.body, s.ct, i%2 == 0, i%3 == 0, uint8(i))
	}
	who := []*identity{admin, owner, stranger, otherAdmin, nil}
	iamAuthorizer := loadEvent(f, "verify.json").RequestContext.Authorizer
	f.Fuzz(func(t *testing.T, method, path, body, ct string, useKey, b64Body bool, sel uint8) {
		c := call{method: method, path: path, body: body, noKey: !useKey, b64: b64Body, as: who[int(sel)%len(who)],
			headers: map[string]string{"content-type": ct, "idempotency-key": strings.Repeat(string(rune('a'+sel%26)), int(sel%40))}}
		ev := e.event(c)
		verifyEv := ev
		if sel%5 != 4 {
			verifyEv.RequestContext.Authorizer = iamAuthorizer
		}
		for name, handle := range map[string]func() (int, map[string]string, string, error){
			"api": func() (int, map[string]string, string, error) {
				r, err := e.h.Handle(context.Background(), ev)
				return r.StatusCode, r.Headers, r.Body, err
			},
			"verify": func() (int, map[string]string, string, error) {
				r, err := e.verify.Handle(context.Background(), verifyEv)
				return r.StatusCode, r.Headers, r.Body, err
			},
		} {
			status, headers, out, err := handle()
			if err != nil {
				t.Fatalf("%s: Handle returned %v", name, err)
			}
			if status < 200 || status >= 500 {
				t.Fatalf("%s: %s %q → %d %s", name, method, path, status, out)
			}
			if !json.Valid([]byte(out)) {
				t.Fatalf("%s: answer is not JSON: %s", name, out)
			}
			if status >= 400 && headers["Content-Type"] != "application/problem+json" {
				t.Fatalf("%s: %d with Content-Type %q", name, status, headers["Content-Type"])
			}
		}
	})
}
