package mailverify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Request is the body of POST /v1/verify.
type Request struct {
	Mailbox  string `json:"mailbox"`
	Password string `json:"password"`
	Protocol string `json:"protocol"`
	ClientIP string `json:"clientIp,omitempty"`
}

// RefusedError is an answer that the credentials cannot be valid (400): a
// refusal like a wrong password, whose message names the field the
// endpoint named and never the value.
type RefusedError struct{ msg string }

func (e *RefusedError) Error() string { return e.msg }

// Client asks the verify endpoint. One Client keeps its HTTP connections
// (and their TLS sessions) and the signing credentials across calls, which
// is what makes a resident program cheaper per login than one started for
// every login. It never caches an answer: every call asks the endpoint, so
// a revoked or regenerated-away password stops at once.
type Client struct {
	set    Settings
	http   *http.Client
	creds  aws.CredentialsProvider // nil with bearer authentication
	signer *v4.Signer
}

// NewClient prepares a client for set. With SigV4 it resolves where the
// credentials come from (the AWS SDK's chain, or the profile and files the
// settings name) without fetching them yet; the SDK's cache fetches them on
// first use and again shortly before they expire.
func NewClient(ctx context.Context, set Settings) (*Client, error) {
	c := &Client{
		set: set,
		http: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}},
	}
	if set.Bearer {
		return c, nil
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(set.Region)}
	if set.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(set.Profile))
	}
	if set.ConfigFile != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{set.ConfigFile}))
	}
	if set.CredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{set.CredentialsFile}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("AWS credentials: the SDK's chain found no provider")
	}
	c.creds, c.signer = cfg.Credentials, v4.NewSigner()
	return c, nil
}

// Settings returns the settings the client was made with.
func (c *Client) Settings() Settings { return c.set }

// CloseIdle closes the kept-alive connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// Verify asks whether in's password is valid. A *RefusedError is an answer
// that it cannot be (400); any other error means no answer (the endpoint
// unreachable, failing, rate limiting, or refusing this mail server).
// Errors never hold the password.
func (c *Client) Verify(ctx context.Context, in Request) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.set.Timeout)
	defer cancel()
	body, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.set.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %w", KeyURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.set.Bearer {
		req.Header.Set("Authorization", "Bearer "+c.set.Token)
	} else {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return false, fmt.Errorf("sign the request: %w", err)
		}
		if err := SignWith(ctx, c.signer, creds, c.set.Region, req, body, time.Now()); err != nil {
			return false, fmt.Errorf("sign the request: %w", err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("verify endpoint unreachable: %s", redact(err.Error(), in.Password))
	}
	defer func() {
		// Read to the end so that the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return false, &RefusedError{"the verify endpoint answered 400" + problemField(resp.Body)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return false, errors.New("the verify endpoint rate limits this mailbox (429)")
	case resp.StatusCode >= 500:
		return false, fmt.Errorf("the verify endpoint answered %d", resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("the verify endpoint refused this mail server (%d): check its credentials and their execute-api:Invoke permission", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("the verify endpoint answered %d: check %s", resp.StatusCode, KeyURL)
	}
	var out struct {
		Valid *bool `json:"valid"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil || out.Valid == nil {
		return false, errors.New(`the verify endpoint answered something other than {"valid": ...}`)
	}
	return *out.Valid, nil
}

// problemField names the field of a problem document, which says what was
// wrong without quoting the value.
func problemField(body io.Reader) string {
	var p struct {
		Field string `json:"field"`
	}
	if json.NewDecoder(io.LimitReader(body, 4096)).Decode(&p) != nil || p.Field == "" || len(p.Field) > 64 {
		return ""
	}
	return fmt.Sprintf(" (field %q)", p.Field)
}

// SignWith signs req with SigV4 for API Gateway (service execute-api) in
// region. It refuses to sign for no Region rather than sign for a wrong one.
func SignWith(ctx context.Context, signer *v4.Signer, creds aws.Credentials, region string, req *http.Request, body []byte, now time.Time) error {
	if region == "" {
		return errors.New("no Region to sign for")
	}
	sum := sha256.Sum256(body)
	return signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", region, now)
}

// Protocol maps Dovecot's SERVICE to a devicepass scope; fallback answers
// for a service devicepass has no scope for.
func Protocol(service, fallback string) string {
	switch s := strings.ToLower(service); s {
	case "imap", "pop", "smtp", "caldav", "carddav":
		return s
	case "pop3":
		return "pop"
	case "submission", "lmtp", "smtps":
		return "smtp"
	}
	if fallback != "" {
		return fallback
	}
	return "imap"
}

// redact removes the password from a message, in case a transport error
// ever quotes the body.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "[redacted]")
}
