package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/localauth"
	"github.com/devicepass/devicepass/shared/devtools/localgw"
)

// api is the management and verify APIs behind the local gateway (HTTP to
// payload v2 events, JWT authorizer), served on loopback.
type api struct {
	url    string
	issuer *localauth.Issuer
	client *http.Client
	srv    *http.Server
}

func startAPI(r *rig, conns int) (*api, error) {
	logger := slog.New(slog.NewJSONHandler(r.warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mgmt, err := apigw.New(app.APIDeps(r.app.Management), apigw.Options{GroupsClaim: r.app.Config.GroupsClaim, Logger: logger})
	if err != nil {
		return nil, err
	}
	verify, err := app.VerifyHandler(r.app.Service.Verification, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &api{url: "http://" + ln.Addr().String()}
	if a.issuer, err = localauth.NewIssuer(localauth.IssuerOptions{URL: a.url + "/local"}); err != nil {
		ln.Close()
		return nil, err
	}
	auth, err := localauth.NewAuthorizer(localauth.AuthorizerOptions{Issuer: a.issuer.URL(), Audiences: []string{a.issuer.Audience()}, Keys: a.issuer.JWKS()})
	if err != nil {
		ln.Close()
		return nil, err
	}
	gw, err := localgw.NewGateway(localgw.GatewayOptions{API: mgmt, Verify: verify, Issuer: a.issuer, Authorizer: auth, Logger: logger, GroupsClaim: r.app.Config.GroupsClaim})
	if err != nil {
		ln.Close()
		return nil, err
	}
	a.srv = &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	a.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2}}
	return a, nil
}

func (a *api) close() { _ = a.srv.Close() }

// token mints a bearer token for sub, logged in just now.
func (a *api) token(sub string, groups ...string) (string, error) {
	return a.issuer.Mint(localauth.TokenRequest{Sub: sub, Groups: groups})
}

// call sends one request and decodes the JSON answer into out.
func (a *api) call(ctx context.Context, method, path, token string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, truncate(string(b), 300))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// user is one simulated client: a mailbox owner with its devices.
type user struct {
	mailbox string
	token   string
	devices []madeDevice
}

type madeDevice struct{ id, password string }

type createdBody struct {
	Device   struct{ ID string } `json:"device"`
	Password string              `json:"password"`
}

// apiOp is one operation of the load, as a client sends it.
type apiOp struct {
	name string
	do   func(ctx context.Context, a *api, u *user, i int) error
}

func apiOps(mailServerToken string) []apiOp {
	devicesPath := func(u *user) string { return "/v1/mailboxes/" + url.PathEscape(u.mailbox) + "/devices" }
	pick := func(u *user, i int) (*madeDevice, error) {
		if len(u.devices) == 0 {
			return nil, errors.New("no device made")
		}
		return &u.devices[i%len(u.devices)], nil
	}
	verify := func(ctx context.Context, a *api, u *user, i int) error {
		d, err := pick(u, i)
		if err != nil {
			return err
		}
		var out struct{ Valid bool }
		body := map[string]string{"mailbox": u.mailbox, "password": d.password, "protocol": "imap", "clientIp": "192.0.2.10"}
		if err := a.call(ctx, http.MethodPost, "/v1/verify", mailServerToken, body, 200, &out); err != nil {
			return err
		}
		if !out.Valid {
			return errors.New("verify: a current password was refused")
		}
		return nil
	}
	return []apiOp{
		{"create", func(ctx context.Context, a *api, u *user, i int) error {
			var out createdBody
			if err := a.call(ctx, http.MethodPost, devicesPath(u), u.token, map[string]string{"name": fmt.Sprintf("device %d", len(u.devices))}, 201, &out); err != nil {
				return err
			}
			u.devices = append(u.devices, madeDevice{id: out.Device.ID, password: out.Password})
			return nil
		}},
		{"list (a page of up to 50)", func(ctx context.Context, a *api, u *user, i int) error {
			var out struct{ Items []json.RawMessage }
			if err := a.call(ctx, http.MethodGet, devicesPath(u)+"?limit=50", u.token, nil, 200, &out); err != nil {
				return err
			}
			if want := min(50, len(u.devices)); len(out.Items) != want {
				return fmt.Errorf("list: %d devices, want %d", len(out.Items), want)
			}
			return nil
		}},
		{"regenerate", func(ctx context.Context, a *api, u *user, i int) error {
			d, err := pick(u, i)
			if err != nil {
				return err
			}
			var out createdBody
			if err := a.call(ctx, http.MethodPost, devicesPath(u)+"/"+url.PathEscape(d.id)+"/password", u.token, map[string]any{}, 200, &out); err != nil {
				return err
			}
			d.password = out.Password
			return nil
		}},
		{"verify, success, first use (+ last-use write)", verify},
		{"verify, success, again (last-use write coalesced)", verify},
	}
}

// shortOp is an operation's name without its explanation.
func shortOp(name string) string {
	name, _, _ = strings.Cut(name, " (")
	return name
}

// loadResult is what one operation's load measured.
type loadResult struct {
	lat     []time.Duration
	errs    int
	lastErr error
	elapsed time.Duration
}

// load runs op for each user concurrently, perUser times each, and stops
// starting requests once limit has passed.
func load(ctx context.Context, a *api, users []*user, op apiOp, perUser int, limit time.Duration) loadResult {
	var (
		mu  sync.Mutex
		res loadResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(limit)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perUser && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := op.do(ctx, a, u, i)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.errs++
					res.lastErr = err
				} else {
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// latency measures the API end to end over HTTP behind proxies that add
// each service's typical latency.
func (b *bench) latency(ctx context.Context) (section, error) {
	workers, perWorker, baseline, limit := 8, 50, 10, 45*time.Second
	if b.o.quick {
		workers, perWorker, baseline, limit = 2, 4, 3, 10*time.Second
	}
	sec := section{
		title: titleLatency,
		intro: fmt.Sprintf("HTTP requests to the local gateway (`shared/devtools/localgw`: JWT authorizer, payload v2 events) in front of the API and verify handlers, "+
			"whose SDK clients go through `shared/devtools/benchproxy`, which adds **%s to every Secrets Manager request and %s to every DynamoDB request** "+
			"before forwarding it to moto or DynamoDB Local. Load: **%d concurrent clients**, each with its own mailbox, **%d requests each** per operation "+
			"(each phase bounded to %s), operations one after the other. The floor is the injected delay on the operation's critical path: "+
			"the sum, over its sequential round trips (from one traced request), of the largest delay in each; p50 ÷ floor shows how close we are to it. "+
			"The last column is the same operation unloaded (1 client, %d requests) with no delay injected: the stand-ins' and our own time.",
			delaySecretsManager, delayDynamoDB, workers, perWorker, limit, baseline),
		table: table{head: []string{"operation", "requests (errors)", "critical path", "floor", "p50", "p99", "p50 ÷ floor", "p99 ÷ floor", "unloaded p50, no delay"}},
	}
	smProxy, ddbProxy, awsCfg, err := b.proxies(ctx, nil)
	if err != nil {
		return sec, err
	}
	defer smProxy.Close()
	defer ddbProxy.Close()
	r, err := b.newRig(ctx, awsCfg, device.Config{Policy: device.Policy{StepUpMaxAge: time.Hour}})
	if err != nil {
		return sec, err
	}
	a, err := startAPI(r, workers+2)
	if err != nil {
		return sec, err
	}
	defer a.close()
	mailServer, err := a.token("bench-mail-server", localgw.VerifyGroup)
	if err != nil {
		return sec, err
	}
	newUser := func(i int) (*user, error) {
		mb, err := r.mailbox(ctx, i)
		if err != nil {
			return nil, err
		}
		tok, err := a.token(owner(i).Subject)
		return &user{mailbox: mb, token: tok}, err
	}
	ops := apiOps(mailServer)

	// Unloaded, without injected delay; the first request of each
	// operation is traced for its critical path.
	smProxy.SetDelay(0)
	ddbProxy.SetDelay(0)
	solo, err := newUser(1000)
	if err != nil {
		return sec, err
	}
	floors := map[string]counted{}
	unloaded := map[string]time.Duration{}
	for _, op := range ops {
		c, err := r.count(func() error { return op.do(ctx, a, solo, 0) })
		if err != nil {
			return sec, fmt.Errorf("%s: %w", op.name, err)
		}
		floors[op.name] = c
		res := load(ctx, a, []*user{solo}, apiOp{op.name, func(ctx context.Context, a *api, u *user, i int) error { return op.do(ctx, a, u, i+1) }}, baseline, limit)
		if res.errs > 0 {
			return sec, fmt.Errorf("%s unloaded: %w", op.name, res.lastErr)
		}
		unloaded[op.name] = median(res.lat)
	}

	// Loaded, with the delays.
	smProxy.SetDelay(delaySecretsManager)
	ddbProxy.SetDelay(delayDynamoDB)
	users := make([]*user, workers)
	for i := range users {
		if users[i], err = newUser(i); err != nil {
			return sec, err
		}
	}
	var errNotes, ratios, regen []string
	totalErrs := 0
	for _, op := range ops {
		b.logf("  %s: %d clients × %d requests", op.name, workers, perWorker)
		res := load(ctx, a, users, op, perWorker, limit)
		c := floors[op.name]
		fl := floor(c.trips)
		p50, p99 := percentile(res.lat, 50), percentile(res.lat, 99)
		ratio := func(d time.Duration) string {
			if fl == 0 {
				return "—"
			}
			return fmt.Sprintf("%.1f×", float64(d)/float64(fl))
		}
		sec.table.add(op.name, fmt.Sprintf("%d (%d)", len(res.lat)+res.errs, res.errs),
			fmt.Sprintf("%d: %s", c.roundTrips, path(c.trips)), ms(fl), ms(p50), ms(p99), ratio(p50), ratio(p99), ms(unloaded[op.name]))
		totalErrs += res.errs
		if fl > 0 {
			ratios = append(ratios, fmt.Sprintf("%s %s", shortOp(op.name), ratio(p50)))
		}
		if op.name == "regenerate" {
			regen = []string{"regenerate: p50 against its injected-delay floor",
				fmt.Sprintf("%s p50, floor %s over %d sequential round trips (%s): %s", ms(p50), ms(fl), c.roundTrips, path(c.trips), ratio(p50)),
				"≤ 4 round trips; p50 close to the floor", verdict(c.roundTrips <= 4)}
		}
		if res.errs > 0 {
			errNotes = append(errNotes, fmt.Sprintf("%s: %d requests failed, the last with: %v", op.name, res.errs, res.lastErr))
		}
	}
	sec.notes = append(sec.notes, errNotes...)
	sec.summary = append(sec.summary,
		[]string{fmt.Sprintf("API p50 ÷ injected-delay floor, %d concurrent clients", workers), strings.Join(ratios, "; "), "close to 1×", "—"},
		[]string{"API requests failed under load", fmt.Sprintf("%d", totalErrs), "0", verdict(totalErrs == 0)})
	if regen != nil {
		sec.summary = append(sec.summary, regen)
	}
	sec.notes = append(sec.notes,
		"Everything runs on this machine's cores: moto (Python) and DynamoDB Local (Java) serve every request here, so the gap above the floor "+
			"is mostly their service time under load (see the unloaded column) plus the gateway's JWT check and JSON; on AWS those services' own time is inside the injected delay.",
		"Create's path shows why it cannot go below 3 round trips here (section 1): authorize, then the Secrets Manager write, then the transaction.")
	if n := r.warnings.n.Load(); n > 0 {
		sec.notes = append(sec.notes, fmt.Sprintf("%d warning log lines were written during this section.", n))
	}
	return sec, nil
}
