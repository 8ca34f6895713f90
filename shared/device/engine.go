package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// Step is one of Secrets Manager's four rotation steps.
type Step string

// The steps, in order.
const (
	StepCreate Step = "createSecret"
	StepSet    Step = "setSecret"
	StepTest   Step = "testSecret"
	StepFinish Step = "finishSecret"
)

// Steps lists the steps in the order Secrets Manager runs them.
var Steps = []Step{StepCreate, StepSet, StepTest, StepFinish}

// ParseStep accepts both spellings Secrets Manager uses ("createSecret" and
// "create_secret").
func ParseStep(s string) (Step, error) {
	norm := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	for _, st := range Steps {
		if strings.ToLower(string(st)) == norm {
			return st, nil
		}
	}
	return "", apperr.Field("Step", "is not a known rotation step (%s)", apperr.Describe(s))
}

// Scheduler mirrors rotation policies into Secrets Manager's rotation
// schedules.
type Scheduler interface {
	// SetSchedule makes the secret rotate as p says, without rotating now;
	// nil p cancels the schedule.
	SetSchedule(ctx context.Context, secretID string, p *RotationPolicy) error
}

// finishGuard is how long a replaced password stays valid at least while
// finishSecret runs: it is promoted in the table before Secrets Manager
// moves AWSCURRENT, so the password Secrets Manager calls current has
// always been accepted first.
const finishGuard = MinGrace

// RegenerateHold is how long a manual regenerate's pending version keeps a
// scheduled rotation from starting; a regenerate takes well under a second,
// so an older hold is one that crashed.
const RegenerateHold = 15 * time.Minute

// Engine runs rotations: Secrets Manager's scheduled ones, one step per
// invocation, and manual regenerates, all four steps in one call. It keeps
// no state between steps: the secret's staging labels and the device item
// are the state.
type Engine struct {
	base
	store      RotationStore
	candidates CandidateReader
	secrets    RotationSecrets
	keyed      *verifier.Keyed
	gen        *password.Generator
}

// EngineDeps are the collaborators of Engine.
type EngineDeps struct {
	Store RotationStore
	// Candidates is the verify path's read, through which testSecret
	// checks the pending password.
	Candidates CandidateReader
	Secrets    RotationSecrets
	Keyed      *verifier.Keyed
	Generator  *password.Generator
	Clock      func() time.Time // default time.Now
	Logger     *slog.Logger     // default slog.Default()
}

// NewEngine returns the rotation engine, or an error if a dependency is
// missing or the configuration is invalid.
func NewEngine(cfg Config, d EngineDeps) (*Engine, error) {
	if missing(d.Store, d.Candidates, d.Secrets, d.Keyed, d.Generator) {
		return nil, errors.New("device: NewEngine needs a rotation store, a candidate reader, secrets, a keyed hasher and a generator")
	}
	b, err := newBase("NewEngine", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	return &Engine{base: b, store: d.Store, candidates: d.Candidates, secrets: d.Secrets, keyed: d.Keyed, gen: d.Generator}, nil
}

// target names a device from its secret.
type target struct {
	secretID string
	mailbox  string
	id       string
}

// ParseSecretID returns the mailbox and device id of a device secret given
// by name or ARN. Secrets outside the prefix are refused.
func ParseSecretID(prefix, secretID string) (mailbox, id string, err error) {
	name := secretID
	if strings.HasPrefix(secretID, "arn:") {
		i := strings.Index(secretID, ":secret:")
		if i < 0 || len(secretID) < i+8+7 {
			return "", "", apperr.Field("SecretId", "is not a Secrets Manager secret ARN")
		}
		name = secretID[i+8:]
		// An ARN ends in "-" and six random characters.
		if n := len(name); n > 7 && name[n-7] == '-' {
			name = name[:n-7]
		}
	}
	rest, ok := strings.CutPrefix(name, prefix+"/")
	if !ok {
		return "", "", apperr.Field("SecretId", "is not under prefix %q (%s)", prefix, apperr.Describe(name))
	}
	mailbox, id, ok = strings.Cut(rest, "/")
	if !ok || !validID(id) || !strings.Contains(mailbox, "@") {
		return "", "", apperr.Field("SecretId", "is not a device secret (%s)", apperr.Describe(name))
	}
	return mailbox, id, nil
}

func (e *Engine) target(secretID string) (target, error) {
	m, id, err := ParseSecretID(e.cfg.SecretPrefix, secretID)
	return target{secretID: secretID, mailbox: m, id: id}, err
}

// refuse logs why a step refuses and returns the error Secrets Manager
// records as the rotation's failure.
func (e *Engine) refuse(ctx context.Context, t target, step Step, token string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	e.log.WarnContext(ctx, "rotation step refused", "step", string(step), "mailbox", t.mailbox, "device", t.id, "version", token, "reason", msg)
	return apperr.New(apperr.Conflict, "%s: %s", step, msg)
}

// Run runs one rotation step for the secret and token, as the rotation
// Lambda does for each invocation. Every step may run again, late, or after
// a newer rotation; a token that is already AWSCURRENT is a no-op success.
func (e *Engine) Run(ctx context.Context, step Step, secretID, token string) error {
	ctx = WithActor(ctx, Actor{Kind: ActorRotation, Subject: "secretsmanager"})
	return e.run(ctx, step, secretID, token, false)
}

// run is Run; fresh says the caller made token just now (RotateNow), so no
// earlier version can have it.
func (e *Engine) run(ctx context.Context, step Step, secretID, token string, fresh bool) error {
	t, err := e.target(secretID)
	if err != nil {
		return err
	}
	if token == "" {
		return apperr.Field("ClientRequestToken", "is required")
	}
	switch step {
	case StepCreate:
		return e.createSecret(ctx, t, token, fresh)
	case StepSet:
		return e.setSecret(ctx, t, token)
	case StepTest:
		return e.testSecret(ctx, t, token)
	case StepFinish:
		return e.finishSecret(ctx, t, token)
	}
	return apperr.Field("Step", "is not a known rotation step (%s)", apperr.Describe(string(step)))
}

// RotateNow runs the four steps with a fresh token, as Secrets Manager's
// scheduler does, and returns the new version id, or the step that failed.
func (e *Engine) RotateNow(ctx context.Context, secretID string) (string, Step, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorRotation, Subject: "secretsmanager"})
	token := NewToken()
	for _, st := range Steps {
		if err := e.run(ctx, st, secretID, token, true); err != nil {
			return token, st, err
		}
	}
	return token, "", nil
}

func (e *Engine) createSecret(ctx context.Context, t target, token string, fresh bool) error {
	st, err := e.secrets.Describe(ctx, t.secretID)
	if err != nil {
		return fmt.Errorf("describe secret: %w", err)
	}
	if st.Deleted {
		return e.refuse(ctx, t, StepCreate, token, "the secret is scheduled for deletion")
	}
	stages, listed := st.Versions[token]
	if hasStage(stages, StageCurrent) {
		e.log.InfoContext(ctx, "rotation step no-op: version already current", "step", string(StepCreate), "mailbox", t.mailbox, "device", t.id, "version", token)
		return nil
	}
	if p := st.Pending(); p != "" && p != token {
		return e.refuse(ctx, t, StepCreate, token, "version %s is AWSPENDING: a previous rotation is not complete", p)
	}
	if listed && !hasStage(stages, StagePending) {
		return e.refuse(ctx, t, StepCreate, token, "version is not AWSPENDING")
	}
	if !listed && !fresh {
		// Secrets Manager announces a rotation's token as an AWSPENDING
		// version before this step, and DescribeSecret omits versions
		// without a label: an unlisted token that has a value is a
		// deprecated version of an older rotation, whose late step must
		// change nothing. (Locally a new token is unlisted and has none.)
		if _, err := e.secrets.Read(ctx, t.secretID, token); err == nil {
			return e.refuse(ctx, t, StepCreate, token, "version belongs to an earlier rotation")
		} else if !apperr.Is(err, apperr.NotFound) {
			return fmt.Errorf("read version: %w", err)
		}
	}
	d, err := e.store.BeginRotation(ctx, t.mailbox, t.id, token, st.Current(), false, e.clock())
	if err != nil {
		if apperr.Is(err, apperr.Conflict) {
			return e.refuse(ctx, t, StepCreate, token, "%s", messageOf(err))
		}
		return fmt.Errorf("begin rotation: %w", err)
	}
	if d.Pending != nil && d.Pending.Version == token && d.Pending.Hash != "" {
		return nil // the value exists and setSecret has seen it
	}
	pw, err := e.gen.Generate()
	if err != nil {
		return fmt.Errorf("generate password: %w", err)
	}
	err = e.secrets.PutPending(ctx, t.secretID, token, SecretValue{Username: t.mailbox, Password: pw, Device: t.id})
	if apperr.Is(err, apperr.Conflict) {
		// Stored already: by an earlier run, or not by this function at all.
		if err := e.checkStoredPending(ctx, t, token, d); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("put pending version: %w", err)
	}
	e.log.InfoContext(ctx, "rotation step done", "step", string(StepCreate), "mailbox", t.mailbox, "device", t.id, "version", token)
	return nil
}

// readPending reads the token's value and checks its stage. done means the
// token is already AWSCURRENT: the step is a no-op.
func (e *Engine) readPending(ctx context.Context, t target, step Step, token string) (sv SecretVersion, done bool, err error) {
	sv, err = e.secrets.Read(ctx, t.secretID, token)
	if apperr.Is(err, apperr.NotFound) {
		return sv, false, e.refuse(ctx, t, step, token, "the version has no value; createSecret has not run")
	}
	if err != nil {
		return sv, false, fmt.Errorf("read pending version: %w", err)
	}
	if sv.HasStage(StageCurrent) {
		e.log.InfoContext(ctx, "rotation step no-op: version already current", "step", string(step), "mailbox", t.mailbox, "device", t.id, "version", token)
		return sv, true, nil
	}
	if !sv.HasStage(StagePending) {
		return sv, false, e.refuse(ctx, t, step, token, "version is not AWSPENDING (superseded by a newer change)")
	}
	if sv.Value.Device != t.id || sv.Value.Username != t.mailbox {
		return sv, false, e.refuse(ctx, t, step, token, "the version's value names another device")
	}
	return sv, false, nil
}

func (e *Engine) setSecret(ctx context.Context, t target, token string) error {
	sv, done, err := e.readPending(ctx, t, StepSet, token)
	if err != nil || done {
		return err
	}
	d, err := e.store.SetPending(ctx, t.mailbox, t.id, token, e.keyed.Password(sv.Value.Password))
	if apperr.Is(err, apperr.Conflict) {
		if d.Current != nil && d.Current.Version == token {
			return nil
		}
		if e.holdsCurrent(d, sv.Value.Password) {
			return e.refuseCopy(ctx, t, StepSet, token)
		}
		e.dropPending(ctx, t, token)
		return e.refuse(ctx, t, StepSet, token, "version is not the device's pending version (superseded)")
	}
	if err != nil {
		return fmt.Errorf("set pending verifier: %w", err)
	}
	e.log.InfoContext(ctx, "rotation step done", "step", string(StepSet), "mailbox", t.mailbox, "device", t.id, "version", token)
	return nil
}

func (e *Engine) testSecret(ctx context.Context, t target, token string) error {
	sv, done, err := e.readPending(ctx, t, StepTest, token)
	if err != nil || done {
		return err
	}
	// A token this function never began may be Secrets Manager's rotation
	// configuration test (configtest.go): it passes on the current password.
	v, err := e.testPending(ctx, t.mailbox, t.id, token, sv.Value.Password)
	if err != nil {
		return err
	}
	return e.configTestResult(ctx, t, token, v)
}

func (e *Engine) finishSecret(ctx context.Context, t target, token string) error {
	before, err := e.store.Promote(ctx, t.mailbox, t.id, token, e.clock(), time.Time{})
	var base string
	switch {
	case err == nil:
		base = before.PendingBase
	case apperr.Is(err, apperr.Conflict) && before.Current != nil && before.Current.Version == token && before.Previous != nil:
		base = before.Previous.Version // promoted by an earlier run; finish the rest
	case apperr.Is(err, apperr.Conflict) && before.Pending != nil && before.Pending.Version == token:
		return e.refuse(ctx, t, StepFinish, token, "setSecret has not run for this version")
	case apperr.Is(err, apperr.Conflict):
		e.dropPending(ctx, t, token)
		return e.refuse(ctx, t, StepFinish, token, "version is not the device's pending version (superseded)")
	default:
		return fmt.Errorf("promote verifier: %w", err)
	}
	if err := e.moveCurrent(ctx, t, token, base); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "rotation finished", "mailbox", t.mailbox, "device", t.id, "version", token)
	return nil
}

// dropPending removes AWSPENDING from a version whose rotation was
// superseded (a regenerate took the device over), so that the next rotation
// can start. Removing a label the version no longer holds is refused by
// Secrets Manager and ignored here.
func (e *Engine) dropPending(ctx context.Context, t target, token string) {
	if err := e.secrets.RemovePending(ctx, t.secretID, token); err != nil && !apperr.Is(err, apperr.Conflict) {
		e.log.WarnContext(ctx, "could not remove AWSPENDING of a superseded version", "mailbox", t.mailbox, "device", t.id, "version", token, "error", err)
	}
}

// moveCurrent moves AWSCURRENT from base to token and removes AWSPENDING.
// If AWSCURRENT is no longer on base, another change moved it and this
// rotation does not overwrite it.
func (e *Engine) moveCurrent(ctx context.Context, t target, token, base string) error {
	err := e.secrets.MoveCurrent(ctx, t.secretID, token, base)
	if apperr.Is(err, apperr.Conflict) {
		st, derr := e.secrets.Describe(ctx, t.secretID)
		if derr != nil {
			return fmt.Errorf("describe secret: %w", derr)
		}
		if st.Current() != token {
			return e.refuse(ctx, t, StepFinish, token, "AWSCURRENT moved to %s since this rotation began; not overwriting it", st.Current())
		}
		if !hasStage(st.Versions[token], StagePending) {
			return nil
		}
	} else if err != nil {
		return fmt.Errorf("move AWSCURRENT: %w", err)
	}
	if err := e.secrets.RemovePending(ctx, t.secretID, token); err != nil && !apperr.Is(err, apperr.Conflict) {
		return fmt.Errorf("remove AWSPENDING: %w", err)
	}
	return nil
}

// Regenerate replaces a device's password at once with the same steps
// as a rotation, run in process with the password held in memory. The old
// password stays valid for grace (0: stops at once). A scheduled rotation
// in flight is taken over: its pending version loses AWSPENDING and its
// later steps refuse without changing anything.
func (e *Engine) Regenerate(ctx context.Context, d Device, grace time.Duration) (string, Device, error) {
	t := target{secretID: d.SecretARN, mailbox: d.Mailbox, id: d.ID}
	token := NewToken()
	st, err := e.secrets.Describe(ctx, t.secretID)
	if err != nil {
		return "", Device{}, fmt.Errorf("describe secret: %w", err)
	}
	base := st.Current()
	if _, err := e.store.BeginRotation(ctx, t.mailbox, t.id, token, base, true, e.clock()); err != nil {
		return "", Device{}, fmt.Errorf("begin regenerate: %w", err)
	}
	pw, err := e.gen.Generate()
	if err != nil {
		return "", Device{}, fmt.Errorf("generate password: %w", err)
	}
	if err := e.secrets.PutPending(ctx, t.secretID, token, SecretValue{Username: t.mailbox, Password: pw, Device: t.id}); err != nil {
		return "", Device{}, fmt.Errorf("put new version: %w", err)
	}
	pw, out, err := e.finishRegenerate(ctx, t, token, base, pw, grace)
	if err != nil {
		e.dropPending(ctx, t, token)
	}
	return pw, out, err
}

// finishRegenerate runs a regenerate's steps after its new version exists.
func (e *Engine) finishRegenerate(ctx context.Context, t target, token, base, pw string, grace time.Duration) (string, Device, error) {
	h := e.keyed.Password(pw)
	after, err := e.store.SetPending(ctx, t.mailbox, t.id, token, h)
	if err != nil {
		if apperr.Is(err, apperr.Conflict) {
			return "", Device{}, apperr.New(apperr.Conflict, "the device changed during regeneration; retry")
		}
		return "", Device{}, fmt.Errorf("set pending verifier: %w", err)
	}
	if match([]Device{after}, h, e.clock(), admit{pendingDevice: t.id, pendingVersion: token}) != 0 {
		return "", Device{}, apperr.New(apperr.Internal, "the new password does not verify")
	}
	now := e.clock()
	until := now.Add(max(grace, finishGuard))
	prior, err := e.store.Promote(ctx, t.mailbox, t.id, token, now, until)
	if err != nil {
		if apperr.Is(err, apperr.Conflict) {
			return "", Device{}, apperr.New(apperr.Conflict, "the device changed during regeneration; retry")
		}
		return "", Device{}, fmt.Errorf("promote verifier: %w", err)
	}
	err = e.secrets.MoveCurrent(ctx, t.secretID, token, base)
	if apperr.Is(err, apperr.Conflict) && prior.Current != nil && prior.Current.Version != base {
		// A rotation promoted in the table and moved AWSCURRENT while this
		// regenerate ran; the user asked to replace that password too.
		err = e.secrets.MoveCurrent(ctx, t.secretID, token, prior.Current.Version)
	}
	if err != nil {
		return "", Device{}, fmt.Errorf("move AWSCURRENT: %w", err)
	}
	if err := e.secrets.RemovePending(ctx, t.secretID, token); err != nil && !apperr.Is(err, apperr.Conflict) {
		return "", Device{}, fmt.Errorf("remove AWSPENDING: %w", err)
	}
	out := after
	out.Previous, out.PreviousUntil = prior.Current, until
	if grace < finishGuard && prior.Current != nil {
		until = now.Add(grace)
		if err := e.store.ClosePrevious(ctx, t.mailbox, t.id, prior.Current.Version, until); err != nil {
			return "", Device{}, fmt.Errorf("end old password: %w", err)
		}
		out.PreviousUntil = until
	}
	out.Current, out.Pending, out.PendingBase = &Verifier{Version: token, Hash: h}, nil, ""
	out.RotatedAt = now
	out.Version = prior.Version
	return pw, out, nil
}

func messageOf(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	return "refused"
}

type rotationTokenKey struct{}

// WithRotationToken carries the RotationToken Secrets Manager passes to a
// rotation function; the Secrets adapter hands it back on PutSecretValue,
// which needs it when rotation runs under an assumed or cross-account role.
// It is a credential: never log it.
func WithRotationToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return context.WithValue(ctx, rotationTokenKey{}, token)
}

// RotationTokenFrom returns the RotationToken carried by ctx, if any.
func RotationTokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(rotationTokenKey{}).(string)
	return s
}
