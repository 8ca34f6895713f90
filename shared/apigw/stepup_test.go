package apigw_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apperr"
)

// stepUpRow is one row of the step-up table of docs/security.md.
type stepUpRow struct {
	route, kase string
	fresh       bool
}

// readStepUpTable reads the step-up table of docs/security.md: the rows
// whose first cell is a route in backticks.
func readStepUpTable(t *testing.T) []stepUpRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []stepUpRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("docs/security.md: a step-up row without 4 cells: %s", line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		fresh := cells[3]
		if fresh != "yes" && fresh != "no" {
			t.Fatalf("docs/security.md: fresh login %q is neither yes nor no: %s", fresh, line)
		}
		rows = append(rows, stepUpRow{route: strings.Trim(cells[0], "`"), kase: strings.Trim(cells[1], "`"), fresh: fresh == "yes"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// stepUpCase is how the test exercises one row.
type stepUpCase struct {
	device   string    // the device's create body
	disabled bool      // disable the device first
	address  string    // the path's mailbox; default the registered one
	body     string    // the request's body
	as       *identity // default the domain administrator
}

// The device most rows start from: some scopes, an allow-list, a rotation.
const stepUpDevice = `{"name":"laptop","scopes":["imap","smtp"],"allowIps":["192.0.2.0/24"],"rotation":{"everyDays":30}}`

// stepUpCases exercise every row of the table, keyed "route case".
var stepUpCases = map[string]stepUpCase{
	"PUT /v1/mailboxes/{address} register":                          {address: "new@example.com", body: `{"owner":"owner-2"}`},
	"PUT /v1/mailboxes/{address} change-owner":                      {body: `{"owner":"owner-2"}`},
	"GET /v1/mailboxes/{address} read":                              {},
	"GET /v1/mailboxes/{address}/audit read":                        {},
	"GET /v1/mailboxes/{address}/devices read":                      {},
	"POST /v1/mailboxes/{address}/devices create":                   {body: `{"name":"phone"}`},
	"GET /v1/mailboxes/{address}/devices/{id} read":                 {},
	"PATCH /v1/mailboxes/{address}/devices/{id} name":               {body: `{"name":"renamed"}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} note":               {body: `{"note":"the old one"}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} disable":            {body: `{"status":"disabled"}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} re-enable":          {disabled: true, body: `{"status":"active"}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} scopes-narrow":      {body: `{"scopes":["imap"]}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} scopes-widen":       {body: `{"scopes":["imap","smtp","pop"]}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} allowIps-narrow":    {body: `{"allowIps":["192.0.2.128/25","192.0.2.7"]}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} allowIps-widen":     {body: `{"allowIps":["192.0.2.0/24","198.51.100.0/24"]}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} allowIps-clear":     {body: `{"allowIps":null}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} allowIps-first":     {device: `{"name":"laptop"}`, body: `{"allowIps":["10.0.0.0/8"]}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} rotation-change":    {body: `{"rotation":{"everyDays":7}}`},
	"PATCH /v1/mailboxes/{address}/devices/{id} rotation-remove":    {body: `{"rotation":null}`},
	"DELETE /v1/mailboxes/{address}/devices/{id} revoke":            {},
	"POST /v1/mailboxes/{address}/devices/{id}/password regenerate": {},
	"POST /v1/mailboxes/{address}/devices/revoke-all revoke-all":    {},
	"POST /v1/mailboxes/{address}/enrollments create":               {body: `{"name":"tablet"}`},
	"DELETE /v1/mailboxes/{address}/enrollments/{id} cancel":        {},
	"POST /v1/enrollments/{token}/device redeem":                    {as: stranger},
	"GET /v1/mailboxes/{address}/enrollments read":                  {},
	"GET /v1/me read":                          {},
	"GET /v1/me/mailboxes read":                {},
	"GET /v1/domains/{domain}/mailboxes read":  {},
	"GET /v1/domains/{domain}/policy read":     {},
	"PUT /v1/domains/{domain}/policy replace":  {body: `{"requireExpiry":true}`},
	"GET /v1/domains/{domain}/compliance read": {},
}

// TestStepUpTable: docs/security.md's step-up table is the rule, for every
// route and every PATCH field. A login older than STEP_UP_MAX_AGE gets the
// RFC 9470 challenge, and changes nothing, exactly on the rows marked yes;
// a fresh login succeeds on every row; the document marks exactly the
// routes with a yes row as able to demand step-up; and every route of the
// API has a row.
func TestStepUpTable(t *testing.T) {
	t.Parallel()
	rows := readStepUpTable(t)
	routeFresh := map[string]bool{}
	seen := map[string]bool{}
	for _, row := range rows {
		key := row.route + " " + row.kase
		if seen[key] {
			t.Errorf("docs/security.md: row %q appears twice", key)
		}
		seen[key] = true
		routeFresh[row.route] = routeFresh[row.route] || row.fresh
		if _, ok := stepUpCases[key]; !ok {
			t.Errorf("docs/security.md: row %q has no case in this test", key)
		}
	}
	for key := range stepUpCases {
		if !seen[key] {
			t.Errorf("case %q has no row in docs/security.md", key)
		}
	}
	for _, rt := range apigw.Routes {
		if rt.Operation == "verify" {
			continue // mail servers, IAM: no login
		}
		fresh, ok := routeFresh[rt.Key()]
		if !ok {
			t.Errorf("route %s has no row in docs/security.md's step-up table", rt.Key())
			continue
		}
		if fresh != rt.StepUp {
			t.Errorf("route %s: docs/openapi.yaml says step-up %v, docs/security.md %v", rt.Key(), rt.StepUp, fresh)
		}
	}
	for _, row := range rows {
		tc, ok := stepUpCases[row.route+" "+row.kase]
		if !ok {
			continue
		}
		t.Run(row.route+" "+row.kase, func(t *testing.T) {
			t.Parallel()
			runStepUpCase(t, row, tc)
		})
	}
}

func runStepUpCase(t *testing.T, row stepUpRow, tc stepUpCase) {
	e := newEnv(t)
	e.registerMailbox()
	dev := tc.device
	if dev == "" {
		dev = stepUpDevice
	}
	r := e.do(call{method: "POST", path: devicesPath, as: admin, body: dev}).want(t, 201)
	id, _ := r.device()["id"].(string)
	if tc.disabled {
		e.do(call{method: "PATCH", path: devicesPath + "/" + id, as: admin, body: `{"status":"disabled"}`}).want(t, 200)
	}
	address := mailbox
	if tc.address != "" {
		address = tc.address
	}
	as := tc.as
	if as == nil {
		as = admin
	}
	method, tmpl, _ := strings.Cut(row.route, " ")
	// A fresh path for each attempt: an enrollment link is used or
	// cancelled once.
	path := func() string {
		pathID := id
		enrollmentID, token := e.createEnrollment(`{"name":"n"}`)
		if strings.Contains(tmpl, "/enrollments/{id}") {
			pathID = enrollmentID
		}
		return strings.NewReplacer("{address}", address, "{id}", pathID, "{token}", token, "{domain}", address[strings.LastIndex(address, "@")+1:]).Replace(tmpl)
	}
	state := func() string {
		m := e.do(call{method: "GET", path: "/v1/mailboxes/" + address, as: admin})
		d := e.do(call{method: "GET", path: devicesPath + "/" + id, as: admin})
		l := e.do(call{method: "GET", path: devicesPath, as: admin})
		var out strings.Builder
		for _, r := range []result{m, d, l} {
			if r.status >= 300 {
				fmt.Fprintf(&out, "%d\n", r.status) // a problem's instance differs per request
			} else {
				out.WriteString(r.body + "\n")
			}
		}
		return out.String()
	}

	before := state()
	stale := e.do(call{method: method, path: path(), body: tc.body, as: as, authAge: stepUpMaxAge + time.Minute})
	if row.fresh {
		if stale.status != 401 || stale.str("type") != apigw.ProblemTypeBase+string(apperr.StepUpRequired) {
			t.Fatalf("a stale login gets %d %s, want 401 step_up_required", stale.status, stale.body)
		}
		challenge := stale.headers["WWW-Authenticate"]
		if !strings.Contains(challenge, `error="insufficient_user_authentication"`) || !strings.Contains(challenge, "max_age=300") {
			t.Errorf("challenge %q is not RFC 9470's with max_age=300", challenge)
		}
		if after := state(); after != before {
			t.Errorf("a refused stale request changed state:\nbefore %s\nafter  %s", before, after)
		}
	} else if stale.status >= 300 {
		t.Fatalf("a stale login gets %d %s, want success: this change does not raise privilege", stale.status, stale.body)
	}
	if row.fresh {
		if fresh := e.do(call{method: method, path: path(), body: tc.body, as: as}); fresh.status >= 300 {
			t.Fatalf("a fresh login gets %d %s, want success", fresh.status, fresh.body)
		}
	}
}
