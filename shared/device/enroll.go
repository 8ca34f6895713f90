package device

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// EnrollmentStatus is an enrollment link's state.
type EnrollmentStatus string

// The states. An open link past its expiry shows as expired.
const (
	EnrollmentOpen      EnrollmentStatus = "open"
	EnrollmentUsed      EnrollmentStatus = "used"
	EnrollmentCancelled EnrollmentStatus = "cancelled"
	EnrollmentExpired   EnrollmentStatus = "expired"
)

// Enrollment limits.
const (
	DefaultEnrollmentValidity = 24 * time.Hour
	MaxEnrollmentValidity     = 7 * 24 * time.Hour
	enrollmentTokenBytes      = 32 // 256 bits
)

// Enrollment is a one-time link a domain administrator makes so that its
// holder can add one device to a mailbox. Only the keyed hash of its
// token is stored; that hash is the enrollment's id.
type Enrollment struct {
	ID              string
	Mailbox         string
	Name            string // the device's name
	User            string // the only subject who may use it; empty: anyone holding it
	Scopes          []Scope
	DeviceExpiresAt time.Time     // the device's expiry, or
	DeviceValidFor  time.Duration // its lifetime from redemption
	ExpiresAt       time.Time     // the link's expiry
	CreatedAt       time.Time
	CreatedBy       string
	Status          EnrollmentStatus
	UsedAt          time.Time
	UsedBy          string
	DeviceID        string
	LastActor       Actor
}

// EffectiveStatus is the status clients see at now.
func (e Enrollment) EffectiveStatus(now time.Time) EnrollmentStatus {
	if e.Status == EnrollmentOpen && !now.Before(e.ExpiresAt) {
		return EnrollmentExpired
	}
	return e.Status
}

// EnrollmentStore is what the enrollment use cases (Enrollments) need:
// the links, and the mailbox and devices they add to.
type EnrollmentStore interface {
	MailboxReader

	// PutEnrollment stores a new link; Conflict if its id exists.
	PutEnrollment(ctx context.Context, e Enrollment) error
	// GetEnrollment reads a link by id; NotFound if absent.
	GetEnrollment(ctx context.Context, id string) (Enrollment, error)
	// CancelEnrollment cancels an open link of mailbox; NotFound if the
	// mailbox has no such link, Conflict if it is not open.
	CancelEnrollment(ctx context.Context, mailbox, id string, now time.Time) (Enrollment, error)

	// RedeemDevice puts d as DeviceStore.CreateDevice does (no idempotency
	// record) and, in the same transaction, marks the enrollment used by
	// use, if it is still open, of d's mailbox and unexpired at use.At.
	// Conflict if it is not (used, cancelled, expired, or redeemed
	// concurrently); otherwise CreateDevice's codes.
	RedeemDevice(ctx context.Context, d Device, owner string, maxLive int, use EnrollmentUse) error
}

// Enrollments is the enrollment-link use cases: an administrator creates
// or cancels a link, its holder redeems it for one device.
type Enrollments struct {
	base
	store    EnrollmentStore
	secrets  EnrollmentSecrets
	keyed    *verifier.Keyed
	gen      *password.Generator
	policies PolicyReader
}

// EnrollmentsDeps are the collaborators of Enrollments.
type EnrollmentsDeps struct {
	Store     EnrollmentStore
	Secrets   EnrollmentSecrets
	Keyed     *verifier.Keyed
	Generator *password.Generator
	Policies  PolicyReader     // optional: domain policies; without, every domain has the default
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
}

// NewEnrollments returns the enrollment use cases, or an error if a
// dependency is missing or the configuration is invalid.
func NewEnrollments(cfg Config, d EnrollmentsDeps) (*Enrollments, error) {
	if missing(d.Store, d.Secrets, d.Keyed, d.Generator) {
		return nil, errors.New("device: NewEnrollments needs a store, secrets, a keyed hasher and a generator")
	}
	b, err := newBase("NewEnrollments", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	if d.Policies != nil && missing(d.Policies) {
		return nil, errors.New("device: NewEnrollments got a nil policy reader")
	}
	return &Enrollments{base: b, store: d.Store, secrets: d.Secrets, keyed: d.Keyed, gen: d.Generator, policies: d.Policies}, nil
}

// EnrollmentInput is a new link as an administrator describes it.
type EnrollmentInput struct {
	Name          string
	User          string
	Scopes        []string
	ExpiresAt     string // the device's expiry (RFC 3339), or
	ValidFor      string // its lifetime from redemption (Go duration)
	TokenValidFor string // the link's lifetime; default 24h, at most 168h
}

// CreateEnrollment makes an enrollment link for a mailbox; only an
// administrator of its domain may. The token is returned once.
func (s *Enrollments) CreateEnrollment(ctx context.Context, c Caller, address string, in EnrollmentInput) (Enrollment, string, error) {
	ctx = WithActor(ctx, c.Actor())
	now := s.clock()
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Enrollment{}, "", err
	}
	if c.Subject == "" {
		return Enrollment{}, "", apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if !s.cfg.Policy.IsAdmin(c, DomainOf(addr)) {
		return Enrollment{}, "", apperr.New(apperr.Forbidden, "only an administrator of %s may create enrollment links", DomainOf(addr))
	}
	// A link hands out a credential to its holder: step-up.
	if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
		return Enrollment{}, "", err
	}
	e, err := newEnrollment(Enrollment{Mailbox: addr, CreatedAt: now, CreatedBy: c.Subject, Status: EnrollmentOpen, LastActor: c.Actor()}, in, now)
	if err != nil {
		return Enrollment{}, "", err
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr, PolicyDomain: policyQuery(s.policies, DomainOf(addr))})
	if err != nil {
		return Enrollment{}, "", fmt.Errorf("lookup mailbox: %w", err)
	}
	if lr.Mailbox == nil {
		return Enrollment{}, "", apperr.New(apperr.NotFound, "mailbox %s is not registered", addr)
	}
	pol := orDefault(lr.Policy)
	if err := pol.admitEnrollment(&e, in.TokenValidFor != "", now); err != nil {
		return Enrollment{}, "", err
	}
	token := base64.RawURLEncoding.EncodeToString(randomBytes(enrollmentTokenBytes))
	e.ID = string(s.keyed.Enrollment(token))
	if err := s.store.PutEnrollment(ctx, e); err != nil {
		return Enrollment{}, "", fmt.Errorf("store enrollment: %w", err)
	}
	s.log.InfoContext(ctx, "enrollment created", "mailbox", addr, "enrollment", e.ID, "request_id", c.RequestID)
	return e, token, nil
}

// newEnrollment returns e with the link in describes, each field
// validated, made at now.
func newEnrollment(e Enrollment, in EnrollmentInput, now time.Time) (Enrollment, error) {
	var err error
	if e.Name, err = NormalizeName("name", in.Name); err != nil {
		return e, err
	}
	if e.User, err = NormalizeSubject("user", in.User); err != nil {
		return e, err
	}
	if e.Scopes, err = NormalizeScopes("scopes", in.Scopes); err != nil {
		return e, err
	}
	switch {
	case in.ExpiresAt != "" && in.ValidFor != "":
		return e, apperr.Field("validFor", "give expiresAt or validFor, not both")
	case in.ExpiresAt != "":
		if e.DeviceExpiresAt, err = NormalizeExpiry(now, in.ExpiresAt, ""); err != nil {
			return e, err
		}
	case in.ValidFor != "":
		t, err := NormalizeExpiry(now, "", in.ValidFor)
		if err != nil {
			return e, err
		}
		e.DeviceValidFor = t.Sub(now)
	}
	validity := DefaultEnrollmentValidity
	if in.TokenValidFor != "" {
		validity, err = time.ParseDuration(in.TokenValidFor)
		if err != nil || validity <= 0 || validity > MaxEnrollmentValidity {
			return e, apperr.Field("tokenValidFor", "must be a duration from 1s to 168h (7 days)")
		}
	}
	e.ExpiresAt = now.Add(validity)
	if !e.DeviceExpiresAt.IsZero() && !e.DeviceExpiresAt.After(e.ExpiresAt) {
		return e, apperr.Field("expiresAt", "the device would expire before the link does")
	}
	return e, nil
}

// CancelEnrollment cancels an open link of a mailbox; only an
// administrator of its domain may. NotFound if the mailbox has no link of
// that id, Conflict if the link is not open (used, cancelled, expired).
func (s *Enrollments) CancelEnrollment(ctx context.Context, c Caller, address, id string) (Enrollment, error) {
	ctx = WithActor(ctx, c.Actor())
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Enrollment{}, err
	}
	if c.Subject == "" {
		return Enrollment{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if !s.cfg.Policy.IsAdmin(c, DomainOf(addr)) {
		return Enrollment{}, apperr.New(apperr.Forbidden, "only an administrator of %s may cancel enrollment links", DomainOf(addr))
	}
	if !validEnrollmentID(id) {
		// Never sent to the store: an oversized key would be a
		// ValidationException there, a 5xx for a client's mistake.
		// The answer never repeats the id: a token sent here by mistake
		// has the same shape.
		return Enrollment{}, apperr.New(apperr.NotFound, "this mailbox has no such enrollment link")
	}
	now := s.clock()
	e, err := s.store.CancelEnrollment(ctx, addr, id, now)
	if apperr.Is(err, apperr.Conflict) && e.ID != "" {
		return Enrollment{}, apperr.New(apperr.Conflict, "this enrollment link is %s and can no longer be cancelled", e.EffectiveStatus(now))
	}
	if err != nil {
		return Enrollment{}, fmt.Errorf("cancel enrollment: %w", err)
	}
	s.log.InfoContext(ctx, "enrollment cancelled", "mailbox", addr, "enrollment", e.ID, "request_id", c.RequestID)
	return e, nil
}

// validEnrollmentID reports whether id has the shape of an enrollment id:
// a keyed hash, 32 bytes in unpadded base64url.
func validEnrollmentID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(32) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// closedLink is the answer for a link that is no longer open at now.
func closedLink(e Enrollment, now time.Time) error {
	if st := e.EffectiveStatus(now); st != EnrollmentUsed {
		return apperr.New(apperr.Conflict, "this enrollment link is %s; ask your administrator for a new one", st)
	}
	return apperr.New(apperr.Conflict, "this enrollment link was used already")
}

// errBadLink is the one answer for a token that does not open a link, so
// guessing tokens learns nothing.
func errBadLink() error {
	return apperr.New(apperr.NotFound, "this enrollment link is not valid; ask your administrator for a new one")
}

// RedeemEnrollment creates the device an enrollment link describes, for
// the authenticated caller holding its token, exactly once.
func (s *Enrollments) RedeemEnrollment(ctx context.Context, c Caller, token string) (Created, error) {
	ctx = WithActor(ctx, c.Actor())
	if c.Subject == "" {
		return Created{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if len(token) < 20 || len(token) > 100 {
		return Created{}, errBadLink()
	}
	now := s.clock()
	e, err := s.store.GetEnrollment(ctx, string(s.keyed.Enrollment(token)))
	if apperr.Is(err, apperr.NotFound) {
		return Created{}, errBadLink()
	}
	if err != nil {
		return Created{}, fmt.Errorf("read enrollment: %w", err)
	}
	// The binding first: someone else holding the token learns nothing of
	// the link's state.
	if e.User != "" && e.User != c.Subject {
		return Created{}, apperr.New(apperr.Forbidden, "this enrollment link is for another user")
	}
	if e.EffectiveStatus(now) != EnrollmentOpen {
		return Created{}, closedLink(e, now)
	}
	// Redeeming hands out a password: step-up, as create does.
	if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
		return Created{}, err
	}
	d := Device{Mailbox: e.Mailbox, Name: e.Name, User: e.User, Scopes: e.Scopes, Status: StatusActive,
		CreatedAt: now, UpdatedAt: now, RotatedAt: now, CreatedBy: c.Subject, Grace: s.cfg.RotationGrace}
	switch {
	case !e.DeviceExpiresAt.IsZero():
		d.ExpiresAt = e.DeviceExpiresAt
	case e.DeviceValidFor > 0:
		d.ExpiresAt = now.Add(e.DeviceValidFor)
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: e.Mailbox, PolicyDomain: policyQuery(s.policies, DomainOf(e.Mailbox))})
	if err != nil {
		return Created{}, fmt.Errorf("lookup mailbox: %w", err)
	}
	if lr.Mailbox == nil {
		return Created{}, errBadLink()
	}
	pol := orDefault(lr.Policy)
	// The policy as it is now, not as it was when the link was made: a
	// link must not carry a device past rules made since.
	if err := pol.admitNew(&d, lr.Mailbox.Live, s.cfg.MaxLiveDevices, true, !d.ExpiresAt.IsZero(), false, now); err != nil {
		return Created{}, err
	}
	maxLive := pol.cap(s.cfg.MaxLiveDevices)
	d.ID = encodeID(randomBytes(16))
	d.LastActor = c.Actor()
	pw, err := s.gen.Generate()
	if err != nil {
		return Created{}, fmt.Errorf("generate password: %w", err)
	}
	name := SecretName(s.cfg.SecretPrefix, d.Mailbox, d.ID)
	ref, err := s.secrets.Create(ctx, SecretInput{Name: name, Token: NewToken(),
		Value: SecretValue{Username: d.Mailbox, Password: pw, Device: d.ID}, Tags: SecretTags(d.Mailbox, d.ID),
		Description: SecretDescription(d.Name, d.Mailbox)})
	if err != nil {
		return Created{}, fmt.Errorf("create secret: %w", err)
	}
	d.SecretARN = ref.ARN
	d.Current = &Verifier{Version: ref.Version, Hash: s.keyed.Password(pw)}
	d.Version = 1
	if err := s.storeRedeemed(ctx, d, name, lr.Mailbox.Owner, maxLive, e, c.Subject, now); err != nil {
		return Created{}, err
	}
	created := Created{Device: d, Password: pw}
	s.log.InfoContext(ctx, "enrollment used", "mailbox", e.Mailbox, "enrollment", e.ID, "device", created.Device.ID, "request_id", c.RequestID)
	return created, nil
}

// storeRedeemed stores the device d a redemption of e by subject made,
// whose secret name exists, and marks e used, in one transaction; if the
// store refuses, it undoes the secret and says why.
func (s *Enrollments) storeRedeemed(ctx context.Context, d Device, name, owner string, maxLive int, e Enrollment, subject string, now time.Time) error {
	err := s.store.RedeemDevice(ctx, d, owner, maxLive, EnrollmentUse{ID: e.ID, By: subject, At: now})
	switch {
	case err == nil:
		return nil
	case apperr.Is(err, apperr.Conflict), apperr.Is(err, apperr.LimitReached), apperr.Is(err, apperr.NotFound):
		// Each attempt made its own secret: this one lost, so undo it.
		undoSecret(ctx, s.log, s.secrets, name, d)
		if apperr.Is(err, apperr.Conflict) {
			return s.lostRedemption(ctx, e, now)
		}
		if apperr.Is(err, apperr.NotFound) {
			return errBadLink()
		}
		return err
	}
	// The outcome is unknown (a timeout may hide a commit) or the
	// transaction collided with a concurrent redemption of the same link:
	// read back before undoing anything.
	_, gerr := s.store.GetDevice(ctx, d.Mailbox, d.ID)
	if gerr == nil {
		return nil
	}
	if !apperr.Is(gerr, apperr.NotFound) {
		return fmt.Errorf("store device: %w", err)
	}
	undoSecret(ctx, s.log, s.secrets, name, d)
	if cur, rerr := s.store.GetEnrollment(ctx, e.ID); rerr == nil && cur.EffectiveStatus(now) != EnrollmentOpen {
		return closedLink(cur, now)
	}
	return fmt.Errorf("store device: %w", err)
}

// lostRedemption answers a redemption whose transaction found the link no
// longer open: it says why, from the link as it is now.
func (s *Enrollments) lostRedemption(ctx context.Context, e Enrollment, now time.Time) error {
	cur, err := s.store.GetEnrollment(ctx, e.ID)
	if err != nil {
		return apperr.New(apperr.Conflict, "this enrollment link was used already")
	}
	if cur.EffectiveStatus(now) == EnrollmentOpen {
		// Open, yet the condition failed: it expired between the two reads.
		cur.Status = EnrollmentExpired
	}
	return closedLink(cur, now)
}

// EnrollmentUse marks an enrollment used by the device being created.
type EnrollmentUse struct {
	ID string
	By string
	At time.Time
}
