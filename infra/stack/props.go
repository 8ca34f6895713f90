package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/devicepass/devicepass/shared/config"
)

// FunctionNames lists the Lambda functions the stack deploys. Each name is a
// folder under functions/, a Makefile build target producing
// <BuildDir>/<name>/bootstrap, and the construct id of the function.
var FunctionNames = []string{"api", "verify", "rotation", "stream", "sweep", "reconciler", "rotationevents"}

// Defaults of DevicepassStackProps; a zero field takes the value here.
const (
	DefaultBuildDir            = "build"
	DefaultSecretPrefix        = "devicepass"
	DefaultRotationGrace       = 2 * time.Hour
	DefaultStepUpMaxAge        = 5 * time.Minute
	DefaultAdminGroupClaim     = "cognito:groups"
	DefaultAdminGroupPattern   = "domain-admin:{domain}"
	DefaultRecoveryWindowDays  = 7
	DefaultMaxLiveDevices      = 50
	DefaultAuditRetentionDays  = 365
	DefaultLogLevel            = "info"
	DefaultEventBusName        = "devicepass"
	DefaultMailIMAPHost        = "imap.{domain}"
	DefaultMailSMTPHost        = "smtp.{domain}"
	DefaultLogRetentionDays    = 30
	DefaultMemoryMB            = 256
	DefaultRotationConcurrency = 5
	DefaultAPIRateLimit        = 50
	DefaultAPIBurstLimit       = 100
	DefaultVerifyRateLimit     = 200
	DefaultVerifyBurstLimit    = 400
	DefaultCreateRateLimit     = 5
	DefaultCreateBurstLimit    = 10
)

// DevicepassStackProps configures the stack. Every field has a safe default
// (the Default constants), so a zero value deploys the documented system.
type DevicepassStackProps struct {
	awscdk.StackProps

	// BuildDir holds the Makefile's output: <BuildDir>/<function>/bootstrap.
	BuildDir string

	// SecretPrefix starts every device secret's name: <prefix>/<mailbox>/<id>.
	// IAM grants on secrets are scoped to it.
	SecretPrefix string
	// RotationGrace is how long a rotated-out password keeps verifying (5m-168h).
	RotationGrace time.Duration
	// StepUpMaxAge is how recent auth_time must be for a change that raises
	// privilege or hands out a credential (docs/security.md).
	StepUpMaxAge time.Duration
	// AdminGroupClaim is the JWT claim that lists the caller's groups.
	AdminGroupClaim string
	// AdminGroupPattern names the group making a caller admin of {domain}.
	AdminGroupPattern string
	// RecoveryWindowDays is the recovery window of revoked secrets (7-30).
	RecoveryWindowDays int
	// MaxLiveDevices caps the devices per mailbox that are not revoked or
	// expired (1-1000, as the functions accept).
	MaxLiveDevices int
	// AuditRetentionDays is the TTL of audit entries.
	AuditRetentionDays int
	// LogLevel is the functions' slog level (debug, info, warn, error).
	LogLevel string

	// AllowedOrigins are the web origins CORS admits; none means no CORS.
	AllowedOrigins []string
	// AlarmEmail, when set, subscribes an address to the alarm topic.
	AlarmEmail string

	// JWTIssuer and JWTAudience select another OIDC provider: when both are
	// set no Cognito user pool is created and the JWT authorizer trusts them.
	JWTIssuer   string
	JWTAudience []string
	// CallbackURLs and LogoutURLs of the Cognito web client's authorization
	// code flow; without callback URLs the client allows SRP sign-in only.
	CallbackURLs []string
	LogoutURLs   []string
	// CognitoDomainPrefix, when set, creates the Cognito hosted domain
	// https://<prefix>.auth.<region>.amazoncognito.com for the code flow.
	CognitoDomainPrefix string
	// CognitoThreatProtection selects the Cognito Plus feature plan with
	// threat protection enforced (priced per monthly active user).
	CognitoThreatProtection bool
	// MailIMAPHost and MailSMTPHost are the mail servers the console shows
	// beside a new password (and puts in the Apple profile); "{domain}"
	// stands for the mailbox's domain. IMAP is on 993 (TLS), SMTP on 587
	// (STARTTLS).
	MailIMAPHost string
	MailSMTPHost string

	// ConsoleDomain and ConsoleCertificateArn put the console on a custom
	// host name, served with that ACM certificate (which CloudFront takes
	// from us-east-1 only) and a TLS 1.2 minimum; set both or neither.
	// Without them the console is on CloudFront's *.cloudfront.net name,
	// whose certificate's TLS policy CloudFront fixes.
	ConsoleDomain         string
	ConsoleCertificateArn string

	// EventBusName names the EventBridge bus lifecycle events go to.
	EventBusName string
	// LogRetentionDays of the functions' and the API's log groups; one of
	// the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...).
	LogRetentionDays int
	// MemoryMB of every function.
	MemoryMB int
	// RotationConcurrency reserves concurrency for the rotation function so
	// that rotations cannot exhaust Secrets Manager's shared write quota
	// (50/s per Region); 0 means the default (5), negative means none.
	RotationConcurrency int
	// VerifyConcurrency reserves (and caps) the verify function's
	// concurrency; 0 means none.
	VerifyConcurrency int

	// APIRateLimit and APIBurstLimit throttle every route by default.
	APIRateLimit  float64
	APIBurstLimit int
	// VerifyRateLimit and VerifyBurstLimit throttle POST /v1/verify.
	VerifyRateLimit  float64
	VerifyBurstLimit int
	// CreateRateLimit and CreateBurstLimit throttle the routes that create
	// devices, passwords or enrollments, or revoke all devices.
	CreateRateLimit  float64
	CreateBurstLimit int
}

// mailHost is a host name whose labels may be "{domain}".
var mailHost = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\{domain\})(?:\.(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\{domain\}))*$`)

// consoleHost is a lower-case host name of at least two labels.
var consoleHost = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$`)

// acmCertificate is an ACM certificate ARN in us-east-1, the only region
// whose certificates CloudFront accepts.
var acmCertificate = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)

var cognitoPrefix = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// EnvContextKeys maps each function variable the stack sets from a prop to
// the CDK context key of that prop. The other variables of shared/config
// are either the stack's own resources (StackEnvKeys) or not exposed by
// the stack (their defaults apply).
var EnvContextKeys = map[string]string{
	"SECRET_PREFIX":        "secretPrefix",
	"ADMIN_GROUP_CLAIM":    "adminGroupClaim",
	"ADMIN_GROUP_PATTERN":  "adminGroupPattern",
	"STEP_UP_MAX_AGE":      "stepUpMaxAge",
	"MAX_LIVE_DEVICES":     "maxLiveDevices",
	"RECOVERY_WINDOW_DAYS": "recoveryWindowDays",
	"ROTATION_GRACE":       "rotationGrace",
	"AUDIT_RETENTION_DAYS": "auditRetentionDays",
	"LOG_LEVEL":            "logLevel",
}

// StackEnvKeys are the function variables whose values are the stack's
// own resources (names and ARNs resolved at deploy time), never context.
var StackEnvKeys = []string{
	"TABLE_NAME", "KMS_KEY_ID", "VERIFIER_KEY_SECRET_ID", "ROTATION_LAMBDA_ARN", "EVENT_BUS_NAME", "NOTICE_TOPIC_ARN",
}

// contextEnv is the part of every function's environment that comes from
// props (and so from context): the keys of EnvContextKeys.
func (p DevicepassStackProps) contextEnv() map[string]string {
	return map[string]string{
		"SECRET_PREFIX":        p.SecretPrefix,
		"ADMIN_GROUP_CLAIM":    p.AdminGroupClaim,
		"ADMIN_GROUP_PATTERN":  p.AdminGroupPattern,
		"STEP_UP_MAX_AGE":      envDuration(p.StepUpMaxAge),
		"MAX_LIVE_DEVICES":     strconv.Itoa(p.MaxLiveDevices),
		"RECOVERY_WINDOW_DAYS": strconv.Itoa(p.RecoveryWindowDays),
		"ROTATION_GRACE":       envDuration(p.RotationGrace),
		"AUDIT_RETENTION_DAYS": strconv.Itoa(p.AuditRetentionDays),
		"LOG_LEVEL":            p.LogLevel,
	}
}

// checkFunctionEnv runs the functions' own validator over the environment
// the stack will give them. The stack's resources stand in as placeholders
// (they are tokens until deploy, and always set).
func (p DevicepassStackProps) checkFunctionEnv() error {
	env := p.contextEnv()
	for _, k := range StackEnvKeys {
		env[k] = "stack-resource"
	}
	_, err := config.Load(func(k string) string { return env[k] })
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	msgs := make([]string, len(ce.Problems))
	for i, pr := range ce.Problems {
		msgs[i] = fmt.Sprintf("context %s (function variable %s): %s", EnvContextKeys[pr.Key], pr.Key, pr.Reason)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// retentionDays maps the retention periods CloudWatch Logs accepts.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// withDefaults returns a copy of p with every zero field set to its default.
func (p DevicepassStackProps) withDefaults() DevicepassStackProps {
	str := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	num := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	rate := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	str(&p.BuildDir, DefaultBuildDir)
	str(&p.SecretPrefix, DefaultSecretPrefix)
	dur(&p.RotationGrace, DefaultRotationGrace)
	dur(&p.StepUpMaxAge, DefaultStepUpMaxAge)
	str(&p.AdminGroupClaim, DefaultAdminGroupClaim)
	str(&p.AdminGroupPattern, DefaultAdminGroupPattern)
	num(&p.RecoveryWindowDays, DefaultRecoveryWindowDays)
	num(&p.MaxLiveDevices, DefaultMaxLiveDevices)
	num(&p.AuditRetentionDays, DefaultAuditRetentionDays)
	str(&p.LogLevel, DefaultLogLevel)
	str(&p.EventBusName, DefaultEventBusName)
	str(&p.MailIMAPHost, DefaultMailIMAPHost)
	str(&p.MailSMTPHost, DefaultMailSMTPHost)
	num(&p.LogRetentionDays, DefaultLogRetentionDays)
	num(&p.MemoryMB, DefaultMemoryMB)
	num(&p.RotationConcurrency, DefaultRotationConcurrency)
	rate(&p.APIRateLimit, DefaultAPIRateLimit)
	num(&p.APIBurstLimit, DefaultAPIBurstLimit)
	rate(&p.VerifyRateLimit, DefaultVerifyRateLimit)
	num(&p.VerifyBurstLimit, DefaultVerifyBurstLimit)
	rate(&p.CreateRateLimit, DefaultCreateRateLimit)
	num(&p.CreateBurstLimit, DefaultCreateBurstLimit)
	return p
}

// validate reports the first field that the stack cannot deploy safely.
// It expects defaults to be applied. The fields that become the functions'
// environment are checked by shared/config, the validator every function
// runs at start, over exactly the environment the stack will set: synth
// refuses what a cold start would refuse, naming the context key.
func (p DevicepassStackProps) validate() error {
	if err := p.checkFunctionEnv(); err != nil {
		return err
	}
	switch {
	case retentionDays[p.LogRetentionDays] == "":
		return fmt.Errorf("log retention %d days: not a CloudWatch Logs retention period", p.LogRetentionDays)
	case p.MemoryMB < 128 || p.MemoryMB > 10240:
		return fmt.Errorf("memory %d MB: want 128 to 10240", p.MemoryMB)
	case p.VerifyConcurrency < 0:
		return fmt.Errorf("verify concurrency %d: want 0 (none) or more", p.VerifyConcurrency)
	case (p.JWTIssuer == "") != (len(p.JWTAudience) == 0):
		return fmt.Errorf("jwt issuer and audience: set both to use another OIDC provider, or neither for Cognito")
	case p.CognitoDomainPrefix != "" && !cognitoPrefix.MatchString(p.CognitoDomainPrefix):
		return fmt.Errorf("cognito domain prefix %q: want lower-case letters, digits and hyphens", p.CognitoDomainPrefix)
	case (p.ConsoleDomain == "") != (p.ConsoleCertificateArn == ""):
		if p.ConsoleDomain == "" {
			return fmt.Errorf("context consoleDomain: required with consoleCertificateArn (set both for a custom console domain, or neither)")
		}
		return fmt.Errorf("context consoleCertificateArn: required with consoleDomain (set both for a custom console domain, or neither)")
	case p.ConsoleDomain != "" && (len(p.ConsoleDomain) > 253 || !consoleHost.MatchString(p.ConsoleDomain)):
		return fmt.Errorf("context consoleDomain: want a lower-case host name such as console.example.com")
	case p.ConsoleCertificateArn != "" && !acmCertificate.MatchString(p.ConsoleCertificateArn):
		return fmt.Errorf("context consoleCertificateArn: want an ACM certificate ARN in us-east-1 (arn:aws:acm:us-east-1:<account>:certificate/<id>), the only region CloudFront takes certificates from")
	case !mailHost.MatchString(p.MailIMAPHost):
		return fmt.Errorf("mail IMAP host %q: want a host name, {domain} standing for the mailbox's domain", p.MailIMAPHost)
	case !mailHost.MatchString(p.MailSMTPHost):
		return fmt.Errorf("mail SMTP host %q: want a host name, {domain} standing for the mailbox's domain", p.MailSMTPHost)
	}
	if p.JWTIssuer != "" {
		if err := httpsURL(p.JWTIssuer, false); err != nil {
			return fmt.Errorf("jwt issuer: %w", err)
		}
	}
	for _, o := range p.AllowedOrigins {
		if err := origin(o); err != nil {
			return fmt.Errorf("allowed origin: %w", err)
		}
	}
	for _, u := range append(append([]string{}, p.CallbackURLs...), p.LogoutURLs...) {
		if err := httpsURL(u, true); err != nil {
			return fmt.Errorf("callback or logout URL: %w", err)
		}
	}
	if p.AlarmEmail != "" {
		if a, err := mail.ParseAddress(p.AlarmEmail); err != nil || a.Address != p.AlarmEmail {
			return fmt.Errorf("alarm email %q: not a bare email address", p.AlarmEmail)
		}
	}
	limits := []struct {
		name  string
		rate  float64
		burst int
	}{
		{"api", p.APIRateLimit, p.APIBurstLimit},
		{"verify", p.VerifyRateLimit, p.VerifyBurstLimit},
		{"create", p.CreateRateLimit, p.CreateBurstLimit},
	}
	for _, l := range limits {
		if l.rate <= 0 || l.burst <= 0 {
			return fmt.Errorf("%s throttling %v/s burst %d: want positive values", l.name, l.rate, l.burst)
		}
	}
	for _, name := range FunctionNames {
		bootstrap := filepath.Join(p.BuildDir, name, "bootstrap")
		if fi, err := os.Stat(bootstrap); err != nil || fi.IsDir() {
			return fmt.Errorf("function %s: %s not found (run make build first)", name, bootstrap)
		}
	}
	return nil
}

// httpsURL checks that s is an absolute https URL; localhost may use http
// when allowLocal is set (a developer's web app).
func httpsURL(s string, allowLocal bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q: not an absolute URL", s)
	}
	if u.Scheme == "https" || (allowLocal && u.Scheme == "http" && u.Hostname() == "localhost") {
		return nil
	}
	return fmt.Errorf("%q: want https", s)
}

// origin checks that s is a bare web origin, as browsers send it.
func origin(s string) error {
	if err := httpsURL(s, true); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want scheme://host[:port] only", s)
	}
	return nil
}

// ContextKeys are the CDK context keys PropsFromContext reads (cdk.json or
// `cdk synth -c key=value`).
var ContextKeys = []string{
	"buildDir", "secretPrefix", "rotationGrace", "stepUpMaxAge", "adminGroupClaim",
	"adminGroupPattern", "recoveryWindowDays", "maxLiveDevices", "auditRetentionDays",
	"logLevel", "allowedOrigins", "alarmEmail", "jwtIssuer", "jwtAudience",
	"callbackUrls", "logoutUrls", "cognitoDomainPrefix", "cognitoThreatProtection",
	"eventBusName", "logRetentionDays", "memoryMb", "rotationConcurrency",
	"verifyConcurrency", "apiRateLimit", "apiBurstLimit", "verifyRateLimit",
	"verifyBurstLimit", "createRateLimit", "createBurstLimit", "mailImapHost", "mailSmtpHost",
	"consoleDomain", "consoleCertificateArn",
}

// PropsFromContext builds the props from CDK context values, as returned by
// lookup (app.Node().TryGetContext); a missing key (nil) keeps the default.
// Values given on the command line arrive as strings, those in cdk.json as
// JSON values; both are accepted. Lists may be JSON arrays or
// comma-separated strings.
func PropsFromContext(lookup func(key string) any) (DevicepassStackProps, error) {
	var p DevicepassStackProps
	var errs []string
	fail := func(key string, err error) { errs = append(errs, fmt.Sprintf("context %s: %v", key, err)) }

	strs := map[string]*string{
		"buildDir": &p.BuildDir, "secretPrefix": &p.SecretPrefix,
		"adminGroupClaim": &p.AdminGroupClaim, "adminGroupPattern": &p.AdminGroupPattern,
		"logLevel": &p.LogLevel, "alarmEmail": &p.AlarmEmail, "jwtIssuer": &p.JWTIssuer,
		"cognitoDomainPrefix": &p.CognitoDomainPrefix, "eventBusName": &p.EventBusName,
		"mailImapHost": &p.MailIMAPHost, "mailSmtpHost": &p.MailSMTPHost,
		"consoleDomain": &p.ConsoleDomain, "consoleCertificateArn": &p.ConsoleCertificateArn,
	}
	ints := map[string]*int{
		"recoveryWindowDays": &p.RecoveryWindowDays, "maxLiveDevices": &p.MaxLiveDevices,
		"auditRetentionDays": &p.AuditRetentionDays, "logRetentionDays": &p.LogRetentionDays,
		"memoryMb": &p.MemoryMB, "rotationConcurrency": &p.RotationConcurrency,
		"verifyConcurrency": &p.VerifyConcurrency, "apiBurstLimit": &p.APIBurstLimit,
		"verifyBurstLimit": &p.VerifyBurstLimit, "createBurstLimit": &p.CreateBurstLimit,
	}
	floats := map[string]*float64{
		"apiRateLimit": &p.APIRateLimit, "verifyRateLimit": &p.VerifyRateLimit,
		"createRateLimit": &p.CreateRateLimit,
	}
	durs := map[string]*time.Duration{"rotationGrace": &p.RotationGrace, "stepUpMaxAge": &p.StepUpMaxAge}
	lists := map[string]*[]string{
		"allowedOrigins": &p.AllowedOrigins, "jwtAudience": &p.JWTAudience,
		"callbackUrls": &p.CallbackURLs, "logoutUrls": &p.LogoutURLs,
	}

	for _, key := range ContextKeys {
		v := lookup(key)
		if v == nil {
			continue
		}
		var err error
		switch {
		case strs[key] != nil:
			*strs[key], err = ctxString(v)
		case ints[key] != nil:
			var f float64
			f, err = ctxNumber(v)
			if err == nil && f != float64(int(f)) {
				err = fmt.Errorf("%v: want a whole number", v)
			}
			*ints[key] = int(f)
		case floats[key] != nil:
			*floats[key], err = ctxNumber(v)
		case durs[key] != nil:
			var s string
			if s, err = ctxString(v); err == nil {
				*durs[key], err = time.ParseDuration(s)
			}
		case lists[key] != nil:
			*lists[key], err = ctxList(v)
		case key == "cognitoThreatProtection":
			p.CognitoThreatProtection, err = ctxBool(v)
		}
		if err != nil {
			fail(key, err)
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return p, nil
}

func ctxString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%v: want a string", v)
	}
	return strings.TrimSpace(s), nil
}

func ctxNumber(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q: want a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("%v: want a number", v)
}

func ctxBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("%q: want true or false", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("%v: want true or false", v)
}

func ctxList(v any) ([]string, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case []string:
		for _, s := range x {
			items = append(items, s)
		}
	case string:
		x = strings.TrimSpace(x)
		if strings.HasPrefix(x, "[") {
			if err := json.Unmarshal([]byte(x), &items); err != nil {
				return nil, fmt.Errorf("%q: not a JSON array", x)
			}
			break
		}
		for _, s := range strings.Split(x, ",") {
			items = append(items, s)
		}
	default:
		return nil, fmt.Errorf("%v: want a list", v)
	}
	var out []string
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("%v: want strings", it)
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// envDuration renders d as Go duration syntax without zero units ("2h",
// "1h30m", "5m"), which time.ParseDuration reads back.
func envDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
