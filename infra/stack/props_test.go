package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPropsFromContext(t *testing.T) {
	t.Parallel()
	ctx := map[string]any{
		// As `cdk synth -c key=value` passes them: strings.
		"secretPrefix":       "acme/dp",
		"rotationGrace":      "30m",
		"recoveryWindowDays": "14",
		"allowedOrigins":     "https://a.example.com, https://b.example.com",
		"jwtAudience":        `["console"]`,
		"apiRateLimit":       "12.5",
		// As cdk.json holds them: JSON values.
		"maxLiveDevices":          float64(10),
		"callbackUrls":            []any{"https://a.example.com/cb"},
		"cognitoThreatProtection": true,
		"jwtIssuer":               "https://issuer.example.com",
		"consoleDomain":           " console.example.com ",
		"consoleCertificateArn":   "arn:aws:acm:us-east-1:123456789012:certificate/abc",
	}
	got, err := PropsFromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := DevicepassStackProps{
		SecretPrefix:            "acme/dp",
		RotationGrace:           30 * time.Minute,
		RecoveryWindowDays:      14,
		AllowedOrigins:          []string{"https://a.example.com", "https://b.example.com"},
		JWTAudience:             []string{"console"},
		APIRateLimit:            12.5,
		MaxLiveDevices:          10,
		CallbackURLs:            []string{"https://a.example.com/cb"},
		CognitoThreatProtection: true,
		JWTIssuer:               "https://issuer.example.com",
		ConsoleDomain:           "console.example.com",
		ConsoleCertificateArn:   "arn:aws:acm:us-east-1:123456789012:certificate/abc",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestPropsFromContextRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		value any
	}{
		{"rotationGrace", "two hours"},
		{"recoveryWindowDays", "7.5"},
		{"maxLiveDevices", "many"},
		{"cognitoThreatProtection", "perhaps"},
		{"allowedOrigins", float64(3)},
		{"jwtAudience", "[not json"},
		{"secretPrefix", float64(1)},
		{"consoleDomain", float64(1)},
		{"consoleCertificateArn", []any{"arn"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			_, err := PropsFromContext(func(k string) any {
				if k == tt.key {
					return tt.value
				}
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error = %v, want one naming %s", err, tt.key)
			}
		})
	}
}

// buildDir returns a folder holding a bootstrap for every function.
func buildDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range FunctionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	p := DevicepassStackProps{BuildDir: buildDir(t)}.withDefaults()
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	if p.SecretPrefix != "devicepass" || p.RotationGrace != 2*time.Hour || p.StepUpMaxAge != 5*time.Minute ||
		p.RecoveryWindowDays != 7 || p.MaxLiveDevices != 50 || p.RotationConcurrency != 5 || p.VerifyConcurrency != 0 {
		t.Errorf("defaults = %+v", p)
	}
}

const usEast1Cert = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	dir := buildDir(t)
	tests := []struct {
		name   string
		change func(*DevicepassStackProps)
		want   string
	}{
		{"prefix slash", func(p *DevicepassStackProps) { p.SecretPrefix = "devicepass/" }, "context secretPrefix"},
		{"prefix space", func(p *DevicepassStackProps) { p.SecretPrefix = "device pass" }, "context secretPrefix"},
		{"prefix at", func(p *DevicepassStackProps) { p.SecretPrefix = "dev@pass" }, "context secretPrefix"},
		{"grace short", func(p *DevicepassStackProps) { p.RotationGrace = time.Minute }, "context rotationGrace"},
		{"window", func(p *DevicepassStackProps) { p.RecoveryWindowDays = 31 }, "context recoveryWindowDays"},
		{"pattern", func(p *DevicepassStackProps) { p.AdminGroupPattern = "admins" }, "context adminGroupPattern"},
		{"live devices", func(p *DevicepassStackProps) { p.MaxLiveDevices = 5000 }, "context maxLiveDevices"},
		{"retention", func(p *DevicepassStackProps) { p.LogRetentionDays = 31 }, "log retention"},
		{"issuer only", func(p *DevicepassStackProps) { p.JWTIssuer = "https://x.example.com" }, "jwt issuer and audience"},
		{"audience only", func(p *DevicepassStackProps) { p.JWTAudience = []string{"a"} }, "jwt issuer and audience"},
		{"issuer http", func(p *DevicepassStackProps) {
			p.JWTIssuer, p.JWTAudience = "http://x.example.com", []string{"a"}
		}, "jwt issuer"},
		{"origin path", func(p *DevicepassStackProps) { p.AllowedOrigins = []string{"https://a.example.com/app"} }, "allowed origin"},
		{"origin http", func(p *DevicepassStackProps) { p.AllowedOrigins = []string{"http://a.example.com"} }, "allowed origin"},
		{"email", func(p *DevicepassStackProps) { p.AlarmEmail = "Ops <ops@example.com>" }, "alarm email"},
		{"verify concurrency", func(p *DevicepassStackProps) { p.VerifyConcurrency = -1 }, "verify concurrency"},
		{"no build", func(p *DevicepassStackProps) { p.BuildDir = filepath.Join(dir, "missing") }, "make build"},
		{"imap host", func(p *DevicepassStackProps) { p.MailIMAPHost = "imap.{domain}/x" }, "mail IMAP host"},
		{"smtp host", func(p *DevicepassStackProps) { p.MailSMTPHost = "smtp.<domain>" }, "mail SMTP host"},
		{"domain only", func(p *DevicepassStackProps) { p.ConsoleDomain = "console.example.com" }, "context consoleCertificateArn"},
		{"certificate only", func(p *DevicepassStackProps) { p.ConsoleCertificateArn = usEast1Cert }, "context consoleDomain"},
		{"domain url", func(p *DevicepassStackProps) {
			p.ConsoleDomain, p.ConsoleCertificateArn = "https://console.example.com", usEast1Cert
		}, "context consoleDomain"},
		{"domain single label", func(p *DevicepassStackProps) {
			p.ConsoleDomain, p.ConsoleCertificateArn = "console", usEast1Cert
		}, "context consoleDomain"},
		{"domain upper case", func(p *DevicepassStackProps) {
			p.ConsoleDomain, p.ConsoleCertificateArn = "Console.Example.com", usEast1Cert
		}, "context consoleDomain"},
		{"certificate region", func(p *DevicepassStackProps) {
			p.ConsoleDomain = "console.example.com"
			p.ConsoleCertificateArn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
		}, "context consoleCertificateArn"},
		{"certificate not acm", func(p *DevicepassStackProps) {
			p.ConsoleDomain = "console.example.com"
			p.ConsoleCertificateArn = "arn:aws:iam::123456789012:server-certificate/abc"
		}, "context consoleCertificateArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := DevicepassStackProps{BuildDir: dir}
			tt.change(&p)
			err := p.withDefaults().validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one about %s", err, tt.want)
			}
		})
	}
	// A fixed mail host, or one per domain.
	for _, host := range []string{"mail.example.net", "mx.{domain}", "{domain}"} {
		if err := (DevicepassStackProps{BuildDir: dir, MailIMAPHost: host}).withDefaults().validate(); err != nil {
			t.Errorf("mail host %q refused: %v", host, err)
		}
	}
	// A custom console domain with its us-east-1 certificate.
	if err := (DevicepassStackProps{BuildDir: dir, ConsoleDomain: "console.example.com", ConsoleCertificateArn: usEast1Cert}).withDefaults().validate(); err != nil {
		t.Errorf("console domain refused: %v", err)
	}
	// Local web apps may use http on localhost.
	p := DevicepassStackProps{BuildDir: dir, AllowedOrigins: []string{"http://localhost:5173"}}
	if err := p.withDefaults().validate(); err != nil {
		t.Errorf("localhost origin: %v", err)
	}
}

func TestEnvDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		2 * time.Hour: "2h", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s", 168 * time.Hour: "168h",
	} {
		if got := envDuration(d); got != want {
			t.Errorf("envDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(envDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", envDuration(d), back, err, d)
		}
	}
}
