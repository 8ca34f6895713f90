package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/devicepass/devicepass/cmd/internal/mailverify"
)

func TestSettingsFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "checkpassword.conf")
	writeFile(t, conf, `
# devicepass
DEVICEPASS_VERIFY_URL = https://abc123.execute-api.eu-west-1.amazonaws.com/v1/verify
DEVICEPASS_TIMEOUT="3s"
DEVICEPASS_PROTOCOL=smtp
`)
	s, err := mailverify.LoadSettings(conf, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/verify" || s.Region != "eu-west-1" || s.Bearer || s.Timeout != 3*time.Second || s.Protocol != "smtp" {
		t.Errorf("from the file: %+v", s)
	}

	// The environment overrides the file, name for name.
	s, err = mailverify.LoadSettings(conf, envOf(map[string]string{"AWS_REGION": "us-east-2", "DEVICEPASS_TIMEOUT": "1s"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Region != "us-east-2" || s.Timeout != time.Second || s.Protocol != "smtp" {
		t.Errorf("with the environment: %+v", s)
	}

	// No file at all: the environment alone.
	s, err = mailverify.LoadSettings("", envOf(map[string]string{"DEVICEPASS_VERIFY_URL": "http://127.0.0.1:8080/v1/verify", "DEVICEPASS_AUTH": "bearer", "DEVICEPASS_TOKEN": "tok"}))
	if err != nil || !s.Bearer || s.Token != "tok" || s.Region != "" {
		t.Errorf("environment only: %+v, %v", s, err)
	}
}

// TestSettingsRefused checks that every missing or bad setting is named,
// with where to set it, and that no error quotes a value.
func TestSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(t.TempDir(), "checkpassword.conf")
		writeFile(t, p, content)
		return p
	}
	for _, tc := range []struct {
		name string
		path string
		env  map[string]string
		want []string
	}{
		{"no URL", file("AWS_REGION=eu-west-1\n"), nil, []string{"DEVICEPASS_VERIFY_URL", "checkpassword.conf or the environment"}},
		{"no URL, no file", "", nil, []string{"DEVICEPASS_VERIFY_URL", "the environment"}},
		{"no region, custom domain", file("DEVICEPASS_VERIFY_URL=https://auth.example.com/v1/verify\n"), nil, []string{"AWS_REGION", "execute-api"}},
		{"no region, local URL", "", map[string]string{"DEVICEPASS_VERIFY_URL": "http://127.0.0.1:8080/v1/verify"}, []string{"AWS_REGION"}},
		{"bearer without token", file("DEVICEPASS_VERIFY_URL=http://127.0.0.1:8080/v1/verify\nDEVICEPASS_AUTH=bearer\n"), nil, []string{"DEVICEPASS_TOKEN"}},
		{"unknown auth", file("DEVICEPASS_VERIFY_URL=http://127.0.0.1/v1/verify\nDEVICEPASS_AUTH=basic-s3cret\n"), nil, []string{"DEVICEPASS_AUTH"}},
		{"not a URL", "", map[string]string{"DEVICEPASS_VERIFY_URL": "ftp://s3cret@host/x", "AWS_REGION": "eu-west-1"}, []string{"DEVICEPASS_VERIFY_URL"}},
		{"bad timeout", file("DEVICEPASS_VERIFY_URL=https://a.execute-api.eu-west-1.amazonaws.com/v1/verify\nDEVICEPASS_TIMEOUT=s3cret\n"), nil, []string{"DEVICEPASS_TIMEOUT"}},
		{"bad protocol", file("DEVICEPASS_VERIFY_URL=https://a.execute-api.eu-west-1.amazonaws.com/v1/verify\nDEVICEPASS_PROTOCOL=s3cret\n"), nil, []string{"DEVICEPASS_PROTOCOL"}},
		{"accept cache past the revocation bound", file("DEVICEPASS_VERIFY_URL=https://a.execute-api.eu-west-1.amazonaws.com/v1/verify\nDEVICEPASS_ACCEPT_CACHE=5s\n"), nil, []string{"DEVICEPASS_ACCEPT_CACHE", "4s"}},
		{"negative accept cache", file("DEVICEPASS_VERIFY_URL=https://a.execute-api.eu-west-1.amazonaws.com/v1/verify\nDEVICEPASS_ACCEPT_CACHE=-1s\n"), nil, []string{"DEVICEPASS_ACCEPT_CACHE"}},
		{"typo", file("\nDEVICEPASS_URL=https://s3cret\n"), nil, []string{"line 2", `"DEVICEPASS_URL"`}},
		{"not NAME=value", file("DEVICEPASS_TOKEN s3cret\n"), nil, []string{"line 1", "NAME=value"}},
		{"missing file", filepath.Join(dir, "absent.conf"), nil, []string{"absent.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mailverify.LoadSettings(tc.path, envOf(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes a value", err)
			}
			// run refuses to go on, as a temporary failure the operator sees.
			var stderr strings.Builder
			env := tc.env
			if code := run(envOf(env), creds(t, "alice@example.com\x00pw\x00"), configArgs(tc.path), &stderr); code != exitTemporary {
				t.Errorf("run: exit %d, want %d", code, exitTemporary)
			}
		})
	}
}

func configArgs(path string) []string {
	if path == "" {
		return nil
	}
	return []string{"--config=" + path}
}

func TestRegionOfHost(t *testing.T) {
	for host, want := range map[string]string{
		"abc123.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"ABC123.EXECUTE-API.US-EAST-2.AMAZONAWS.COM":     "us-east-2",
		"abc123.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"abc123.execute-api.amazonaws.com":               "",
		"auth.example.com":                               "",
		"abc.execute-api.eu-west-1.example.com":          "",
		".execute-api.eu-west-1.amazonaws.com":           "",
		"127.0.0.1":                                      "",
	} {
		if got := mailverify.RegionOfHost(host); got != want {
			t.Errorf("mailverify.RegionOfHost(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestSignsForTheRegion checks the SigV4 path end to end: credentials from
// the shared files the settings name (the environment is Dovecot's, empty),
// a signature scoped to the configured Region and execute-api.
func TestSignsForTheRegion(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`{"valid":true}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	writeFile(t, credsFile, "[mx]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
	conf := filepath.Join(dir, "checkpassword.conf")
	writeFile(t, conf, "DEVICEPASS_VERIFY_URL="+srv.URL+"/v1/verify\nAWS_REGION=eu-west-1\nAWS_PROFILE=mx\nAWS_SHARED_CREDENTIALS_FILE="+credsFile+"\nAWS_CONFIG_FILE="+filepath.Join(dir, "none")+"\n")
	// The SDK reads the process environment too: keep the developer's out.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var stderr strings.Builder
	if code := run(noEnv, creds(t, "alice@example.com\x00pw\x00"), []string{"--config=" + conf}, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for eu-west-1 execute-api", auth)
	}
}

func TestNeverSignsForNoRegion(t *testing.T) {
	req := httptest.NewRequest("POST", "https://auth.example.com/v1/verify", nil)
	if err := mailverify.SignWith(context.Background(), v4.NewSigner(), awsCreds(), "", req, nil, time.Now()); err == nil || req.Header.Get("Authorization") != "" {
		t.Errorf("signed for no Region: %v %q", err, req.Header.Get("Authorization"))
	}
}

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func awsCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}
}
