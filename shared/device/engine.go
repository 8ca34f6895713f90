package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// RegenerateHold is how long a pending version begun manually
// (BeginRotation with manual true) keeps a scheduled rotation from
// starting, and how long the reconciler leaves a pending rotation's
// AWSPENDING alone; any rotation step takes well under a second, so an
// older one crashed. (Regenerate itself holds rotations off through its
// AWSPENDING label, which createSecret and RotateSecret respect.)
const RegenerateHold = 15 * time.Minute

// Engine runs rotations: Secrets Manager's scheduled ones, one step per
// invocation, and manual regenerates, in one call of two Secrets Manager
// writes around one conditional table write. It keeps no state between
// steps: the secret's staging labels and the device item are the state.
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
	// AWSPENDING left on the AWSCURRENT version is a finished rotation,
	// as Secrets Manager reads it; elsewhere it is one in progress.
	if p := st.InProgress(); p != "" && p != token {
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

// moveCurrent moves AWSCURRENT from base to token, the rotation's second
// and last Secrets Manager write: AWSPENDING stays on token, which Secrets
// Manager reads as a finished rotation, so no third write removes it. If
// AWSCURRENT is no longer on base, another change moved it and this
// rotation does not overwrite it; its AWSPENDING, which would read as a
// rotation in progress, is dropped.
func (e *Engine) moveCurrent(ctx context.Context, t target, token, base string) error {
	err := e.secrets.MoveCurrent(ctx, t.secretID, token, base)
	if apperr.Is(err, apperr.Conflict) {
		st, derr := e.secrets.Describe(ctx, t.secretID)
		if derr != nil {
			return fmt.Errorf("describe secret: %w", derr)
		}
		if st.Current() != token {
			e.dropPending(ctx, t, token)
			return e.refuse(ctx, t, StepFinish, token, "AWSCURRENT moved to %s since this rotation began; not overwriting it", st.Current())
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("move AWSCURRENT: %w", err)
	}
	return nil
}

// Regenerate replaces a device's password at once, in four sequential
// round trips after the device read by the caller (which already names
// the current version) and two Secrets Manager writes:
//
//  1. PutSecretValue of the new version with AWSPENDING (Secrets Manager
//     moves the label off any other version, so a scheduled rotation in
//     flight loses it and a new one refuses to start meanwhile);
//  2. one conditional DynamoDB write (Replace) making the new verifier
//     current if the current one is still the version read, keeping that
//     one as previous until now+grace (grace 0: it stops at once) and
//     clearing any pending rotation, whose later steps then refuse;
//  3. UpdateSecretVersionStage moving AWSCURRENT to the new version,
//     leaving AWSPENDING on it: a finished rotation for Secrets Manager.
//
// The table accepts the new password before Secrets Manager calls it
// current. A rotation that promoted meanwhile is replaced as well (the
// write is retried on its version), at the cost of more round trips.
func (e *Engine) Regenerate(ctx context.Context, d Device, grace time.Duration) (string, Device, error) {
	t := target{secretID: d.SecretARN, mailbox: d.Mailbox, id: d.ID}
	if d.Current == nil {
		return "", Device{}, apperr.New(apperr.Conflict, "device %s has no current version to replace", d.ID)
	}
	// The versions AWSCURRENT may be on when this regenerate moves it:
	// what the device held when read, plus any version a racing rotation
	// promotes before the write. Any other version is a later change.
	held := []string{d.Current.Version}
	if d.Previous != nil {
		held = append(held, d.Previous.Version)
	}
	pw, err := e.gen.Generate()
	if err != nil {
		return "", Device{}, fmt.Errorf("generate password: %w", err)
	}
	token := NewToken()
	if err := e.secrets.PutPending(ctx, t.secretID, token, SecretValue{Username: t.mailbox, Password: pw, Device: t.id}); err != nil {
		// Whether the version was stored is unknown; if it was, its
		// AWSPENDING moves to the next regenerate's version, or the
		// reconciler clears it.
		return "", Device{}, fmt.Errorf("put new version: %w", err)
	}
	now := e.clock()
	out, base, taken, err := e.replace(ctx, t, d.Current.Version, token, e.keyed.Password(pw), now, now.Add(grace))
	if err != nil {
		if apperr.Is(err, apperr.Conflict) || apperr.Is(err, apperr.NotFound) {
			// Refused: the version will never be current, and its
			// AWSPENDING would hold scheduled rotations off.
			e.dropPending(ctx, t, token)
		}
		// Otherwise the write may have committed: the label keeps the
		// version listed, so the reconciler can finish the move (or
		// clear the label if the table never took the version).
		return "", Device{}, err
	}
	if err := e.publish(ctx, t, token, base, append(held, taken...)); err != nil {
		// The table has the new password; the reconciler moves
		// AWSCURRENT to it if no retry does.
		return "", Device{}, err
	}
	for _, v := range taken {
		// A rotation finished while this regenerate ran: its version may
		// still hold AWSPENDING, which would read as a rotation in progress.
		e.dropPending(ctx, t, v)
	}
	return pw, out, nil
}

// replace makes token current in the table in place of base. If a
// rotation (or another regenerate) made its version current since the
// device was read, it takes that version as base and tries again, and
// reports it in taken. A failure whose outcome is unknown is retried once;
// a retry that finds token current already succeeds.
func (e *Engine) replace(ctx context.Context, t target, base, token string, h verifier.Hash, now, until time.Time) (out Device, last string, taken []string, err error) {
	retried := false
	for range 4 {
		after, err := e.store.Replace(ctx, t.mailbox, t.id, token, h, base, now, until)
		switch {
		case err == nil:
			return after, base, taken, nil
		case apperr.Is(err, apperr.Conflict) && after.Current != nil && after.Current.Version == token:
			// An earlier attempt's write, whose answer was lost.
			if after.Previous != nil {
				base = after.Previous.Version
			}
			return after, base, taken, nil
		case apperr.Is(err, apperr.Conflict) && after.Current != nil && after.Current.Version != base &&
			CheckReplace(after, token, h, after.Current.Version, now) == nil:
			base = after.Current.Version
			taken = append(taken, base)
			e.log.InfoContext(ctx, "regenerate replaces a version promoted meanwhile", "mailbox", t.mailbox, "device", t.id, "version", base)
		case apperr.Is(err, apperr.Conflict):
			return Device{}, "", nil, apperr.New(apperr.Conflict, "the device changed during regeneration (%s); retry", messageOf(err))
		case apperr.Is(err, apperr.NotFound):
			return Device{}, "", nil, err
		case retried:
			return Device{}, "", nil, fmt.Errorf("replace verifier: %w", err)
		default:
			retried = true
		}
	}
	return Device{}, "", nil, apperr.New(apperr.Conflict, "the device changed during regeneration; retry")
}

// publish moves AWSCURRENT to token from base, the version the table
// replaced. If AWSCURRENT is elsewhere, it moves it from there when that
// is a version this regenerate replaced (held): one whose rotation had not
// moved AWSCURRENT yet, or a move an earlier attempt made already. A
// version outside held is a later change, which this one does not
// overwrite. A failure whose outcome is unknown is retried once.
func (e *Engine) publish(ctx context.Context, t target, token, base string, held []string) error {
	from, retried := base, false
	for range 4 {
		err := e.secrets.MoveCurrent(ctx, t.secretID, token, from)
		switch {
		case err == nil:
			return nil
		case !apperr.Is(err, apperr.Conflict):
			if retried {
				return fmt.Errorf("move AWSCURRENT: %w", err)
			}
			retried = true
			continue
		}
		st, err := e.secrets.Describe(ctx, t.secretID)
		if err != nil {
			return fmt.Errorf("describe secret: %w", err)
		}
		cur := st.Current()
		if cur == token {
			return nil
		}
		if !slices.Contains(held, cur) {
			return apperr.New(apperr.Conflict, "the device changed during regeneration (AWSCURRENT moved to %s); retry", cur)
		}
		from = cur
	}
	return apperr.New(apperr.Conflict, "the device changed during regeneration; retry")
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
