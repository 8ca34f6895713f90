package device

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/password"
	"github.com/devicepass/devicepass/shared/verifier"
)

// Devices is the device use cases: registering mailboxes, and creating,
// listing, reading, changing, regenerating and revoking devices. A
// regenerate runs the rotation engine's steps through Regenerator; the
// engine knows nothing of Devices.
type Devices struct {
	base
	store     DeviceStore
	secrets   DeviceSecrets
	keyed     *verifier.Keyed
	gen       *password.Generator
	engine    Regenerator
	scheduler Scheduler
	policies  PolicyReader
}

// Regenerator replaces a device's password at once; *Engine is one.
type Regenerator interface {
	Regenerate(ctx context.Context, d Device, grace time.Duration) (string, Device, error)
}

// DevicesDeps are the collaborators of Devices.
type DevicesDeps struct {
	Store     DeviceStore
	Secrets   DeviceSecrets
	Keyed     *verifier.Keyed
	Generator *password.Generator
	Engine    Regenerator
	Scheduler Scheduler        // optional: rotation schedules in Secrets Manager
	Policies  PolicyReader     // optional: domain policies; without, every domain has the default
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
}

// NewDevices returns the device use cases, or an error if a dependency is
// missing or the configuration is invalid.
func NewDevices(cfg Config, d DevicesDeps) (*Devices, error) {
	if missing(d.Store, d.Secrets, d.Keyed, d.Generator, d.Engine) {
		return nil, errors.New("device: NewDevices needs a store, secrets, a keyed hasher, a generator and an engine")
	}
	if d.Scheduler != nil && missing(d.Scheduler) {
		return nil, errors.New("device: NewDevices got a nil scheduler")
	}
	b, err := newBase("NewDevices", cfg, d.Clock, d.Logger)
	if err != nil {
		return nil, err
	}
	if d.Policies != nil && missing(d.Policies) {
		return nil, errors.New("device: NewDevices got a nil policy reader")
	}
	return &Devices{base: b, store: d.Store, secrets: d.Secrets, keyed: d.Keyed, gen: d.Generator, engine: d.Engine, scheduler: d.Scheduler, policies: d.Policies}, nil
}

// RegisterMailbox creates a mailbox with its owner, or changes the owner.
// Only administrators of the mailbox's domain may. It reports whether the
// mailbox was created.
func (s *Devices) RegisterMailbox(ctx context.Context, c Caller, address, owner string) (Mailbox, bool, error) {
	ctx = WithActor(ctx, c.Actor())
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Mailbox{}, false, err
	}
	if c.Subject == "" {
		return Mailbox{}, false, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if !s.cfg.Policy.IsAdmin(c, DomainOf(addr)) {
		return Mailbox{}, false, apperr.New(apperr.Forbidden, "only an administrator of %s may register its mailboxes", DomainOf(addr))
	}
	owner, err = NormalizeSubject("owner", owner)
	if err != nil {
		return Mailbox{}, false, err
	}
	if owner == "" {
		return Mailbox{}, false, apperr.Field("owner", "is required: the subject of the mailbox's owner")
	}
	// Naming a mailbox's owner hands its devices to that subject, whether
	// the mailbox is new or changes hands: step-up.
	if err := s.cfg.Policy.RequireFresh(c, s.clock()); err != nil {
		return Mailbox{}, false, err
	}
	m, created, err := s.store.SaveMailbox(ctx, addr, owner, c.Subject, s.clock())
	if err != nil {
		return Mailbox{}, false, fmt.Errorf("save mailbox: %w", err)
	}
	s.log.InfoContext(ctx, "mailbox saved", "mailbox", addr, "created", created, "request_id", c.RequestID)
	return m, created, nil
}

// GetMailbox returns a mailbox its owner or a domain administrator asks for.
func (s *Devices) GetMailbox(ctx context.Context, c Caller, address string) (Mailbox, error) {
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Mailbox{}, err
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr})
	if err != nil {
		return Mailbox{}, fmt.Errorf("lookup mailbox: %w", err)
	}
	if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return Mailbox{}, err
	}
	return *lr.Mailbox, nil
}

// CreateInput is a new device as the client describes it.
type CreateInput struct {
	Name      string
	Note      string
	User      string
	Scopes    []string // nil: the default scopes
	AllowIPs  []string
	ExpiresAt string
	ValidFor  string
	Rotation  *RotationInput
}

// Created is a new device and its password, shown once.
type Created struct {
	Device   Device
	Password string
	Replayed bool // an Idempotency-Key replay of an earlier create
}

// newDevice validates in and returns the device it describes.
func (s *Devices) newDevice(addr string, in CreateInput, now time.Time) (Device, error) {
	d := Device{Mailbox: addr, Status: StatusActive, CreatedAt: now, UpdatedAt: now, RotatedAt: now}
	var err error
	if d.Name, err = NormalizeName("name", in.Name); err != nil {
		return d, err
	}
	if d.Note, err = NormalizeNote("note", in.Note); err != nil {
		return d, err
	}
	if d.User, err = NormalizeSubject("user", in.User); err != nil {
		return d, err
	}
	if d.Scopes, err = NormalizeScopes("scopes", in.Scopes); err != nil {
		return d, err
	}
	if d.AllowIPs, err = NormalizeAllowIPs("allowIps", in.AllowIPs); err != nil {
		return d, err
	}
	if d.ExpiresAt, err = NormalizeExpiry(now, in.ExpiresAt, in.ValidFor); err != nil {
		return d, err
	}
	if d.Rotation, err = NormalizeRotation("rotation", in.Rotation, s.cfg.RotationGrace); err != nil {
		return d, err
	}
	d.Grace = s.graceOf(d.Rotation)
	return d, nil
}

// graceOf is the grace of a device's scheduled rotations.
func (s *Devices) graceOf(p *RotationPolicy) time.Duration {
	if p != nil {
		return p.Grace
	}
	return s.cfg.RotationGrace
}

// fingerprint is a keyed hash of the normalized request, so a replay with a
// different body is told apart without storing the body.
func (s *Devices) fingerprint(d Device, validFor string) verifier.Hash {
	exp := ""
	if !d.ExpiresAt.IsZero() {
		exp = d.ExpiresAt.Format(time.RFC3339)
	}
	if validFor != "" {
		exp = "for:" + validFor // a retry computes a later instant
	}
	ips := make([]string, len(d.AllowIPs))
	for i, p := range d.AllowIPs {
		ips[i] = p.String()
	}
	scopes := make([]string, len(d.Scopes))
	for i, sc := range d.Scopes {
		scopes[i] = string(sc)
	}
	rot := ""
	if r := d.Rotation; r != nil {
		rot = fmt.Sprintf("%d|%s|%s|%s", r.EveryDays, r.Schedule, r.Window, r.Grace)
	}
	return s.keyed.Idempotency("fingerprint", d.Name, d.Note, d.User, strings.Join(scopes, ","), strings.Join(ips, ","), exp, rot)
}

// ValidIdempotencyKey checks an Idempotency-Key header value.
func ValidIdempotencyKey(k string) error {
	if len(k) < 8 || len(k) > 255 {
		return apperr.Field("Idempotency-Key", "must be 8-255 characters (a UUID is a good choice)")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return apperr.Field("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// CreateDevice adds a device to a mailbox and returns it with its
// password. With an idempotency key, a retry by the same caller yields the
// same device.
func (s *Devices) CreateDevice(ctx context.Context, c Caller, address string, in CreateInput, idemKey string) (Created, error) {
	ctx = WithActor(ctx, c.Actor())
	now := s.clock()
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Created{}, err
	}
	d, err := s.newDevice(addr, in, now)
	if err != nil {
		return Created{}, err
	}
	d.CreatedBy = c.Subject
	d.LastActor = c.Actor()
	idem, err := s.idempotency(c, addr, d, in.ValidFor, idemKey, now)
	if err != nil {
		return Created{}, err
	}
	if c.Subject == "" {
		return Created{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	q := LookupQuery{Mailbox: addr, PolicyDomain: policyQuery(s.policies, DomainOf(addr))}
	if idem != nil {
		q.Idempotency = idem.Key
	}
	lr, err := s.store.Lookup(ctx, q)
	if err != nil {
		return Created{}, fmt.Errorf("lookup mailbox: %w", err)
	}
	if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return Created{}, err
	}
	if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
		return Created{}, err
	}
	if rec := lr.Idempotency; rec != nil {
		if !verifier.Equal(rec.Fingerprint, idem.Fingerprint) {
			return Created{}, apperr.New(apperr.Conflict, "this Idempotency-Key was used with a different request; use a new key for a new device")
		}
		return s.replay(ctx, addr, rec.DeviceID)
	}
	pol := orDefault(lr.Policy)
	byAdmin := s.cfg.Policy.IsAdmin(c, DomainOf(addr))
	if err := pol.admitNew(&d, lr.Mailbox.Live, s.cfg.MaxLiveDevices, byAdmin, in.ExpiresAt != "" || in.ValidFor != "", in.AllowIPs != nil, now); err != nil {
		return Created{}, err
	}
	maxLive := pol.cap(s.cfg.MaxLiveDevices)

	// With a key, the device id and the first version id derive from it, so
	// a retry after a crash meets the secret the first attempt made.
	var token string
	if idem != nil {
		d.ID = encodeID(s.keyed.Derive(16, "device-id", string(idem.Key)))
		token = formatUUID(s.keyed.Derive(16, "version", d.ID))
		idem.DeviceID = d.ID
	} else {
		d.ID = encodeID(randomBytes(16))
		token = formatUUID(randomBytes(16))
	}
	pw, err := s.gen.Generate()
	if err != nil {
		return Created{}, fmt.Errorf("generate password: %w", err)
	}
	name := SecretName(s.cfg.SecretPrefix, addr, d.ID)
	pw, ref, err := s.createSecret(ctx, name, token, d, pw, idem != nil)
	if err != nil {
		return Created{}, err
	}
	d.SecretARN = ref.ARN
	d.Current = &Verifier{Version: ref.Version, Hash: s.keyed.Password(pw)}
	d.Version = 1

	if replayed, err := s.storeNew(ctx, d, name, lr.Mailbox.Owner, maxLive, idem); replayed != nil || err != nil {
		if replayed != nil {
			return *replayed, nil
		}
		return Created{}, err
	}
	s.log.InfoContext(ctx, "device created", "mailbox", addr, "device", d.ID, "request_id", c.RequestID)
	if d.Rotation != nil {
		s.applySchedule(ctx, d)
	}
	return Created{Device: d, Password: pw}, nil
}

// idempotency returns the idempotency record of a create with idemKey, or
// nil without a key.
func (s *Devices) idempotency(c Caller, addr string, d Device, validFor, idemKey string, now time.Time) (*IdempotencyRecord, error) {
	if idemKey == "" {
		return nil, nil
	}
	if err := ValidIdempotencyKey(idemKey); err != nil {
		return nil, err
	}
	key := s.keyed.Idempotency("key", c.Subject, addr, idemKey)
	return &IdempotencyRecord{Key: key, Mailbox: addr, Fingerprint: s.fingerprint(d, validFor), Expires: now.Add(s.cfg.IdempotencyTTL)}, nil
}

// createSecret makes the new device's secret holding pw. With an
// idempotency key (adopt), a secret that an earlier attempt with the same
// key made and left is adopted, with the password it holds.
func (s *Devices) createSecret(ctx context.Context, name, token string, d Device, pw string, adopt bool) (string, SecretRef, error) {
	ref, err := s.secrets.Create(ctx, SecretInput{
		Name:  name,
		Token: token,
		Value: SecretValue{Username: d.Mailbox, Password: pw, Device: d.ID},
		Tags:  SecretTags(d.Mailbox, d.ID),
		// In CreateSecret itself: naming the device costs no extra call.
		Description: SecretDescription(d.Name, d.Mailbox),
	})
	if apperr.Is(err, apperr.Conflict) && adopt {
		sv, rerr := s.secrets.Read(ctx, name, "")
		if rerr != nil {
			return "", SecretRef{}, fmt.Errorf("read secret of earlier attempt: %w", rerr)
		}
		if sv.Value.Device != d.ID || sv.Value.Username != d.Mailbox {
			return "", SecretRef{}, apperr.Wrap(err, apperr.Internal, "secret %s belongs to another device", name)
		}
		return sv.Value.Password, SecretRef{ARN: sv.ARN, Version: sv.Version}, nil
	}
	if err != nil {
		return "", SecretRef{}, fmt.Errorf("create secret: %w", err)
	}
	return pw, ref, nil
}

// storeNew stores the new device d whose secret name exists, undoing the
// secret if the store refuses the device. It answers the earlier request's
// result when a concurrent retry with the same key stored it first.
func (s *Devices) storeNew(ctx context.Context, d Device, name, owner string, maxLive int, idem *IdempotencyRecord) (*Created, error) {
	err := s.store.CreateDevice(ctx, d, owner, maxLive, idem)
	switch {
	case err == nil:
		return nil, nil
	case apperr.Is(err, apperr.Conflict) && idem != nil:
		// A concurrent retry with the same key won the race; both made the
		// same secret, so answer as it did.
		c, err := s.replay(ctx, d.Mailbox, d.ID)
		if err != nil {
			return nil, err
		}
		return &c, nil
	case apperr.Is(err, apperr.LimitReached), apperr.Is(err, apperr.NotFound), apperr.Is(err, apperr.Conflict):
		undoSecret(ctx, s.log, s.secrets, name, d)
		if apperr.Is(err, apperr.NotFound) {
			return nil, errNoAccess()
		}
		return nil, err
	}
	// The outcome is unknown (a timeout may hide a commit): read back
	// before undoing anything.
	if _, gerr := s.store.GetDevice(ctx, d.Mailbox, d.ID); gerr == nil {
		return nil, nil
	} else if apperr.Is(gerr, apperr.NotFound) {
		undoSecret(ctx, s.log, s.secrets, name, d)
	}
	return nil, fmt.Errorf("store device: %w", err)
}

func errLimit(n int) error {
	return apperr.New(apperr.LimitReached, "this mailbox has %d devices, the most allowed; revoke one first", n)
}

// undoSecret deletes the secret of a device that could not be stored. If
// that fails too, the reconciler deletes it later.
func undoSecret(ctx context.Context, log *slog.Logger, secrets SecretCreator, name string, d Device) {
	if err := secrets.ForceDelete(ctx, name); err != nil {
		log.ErrorContext(ctx, "could not delete secret of unstored device; the reconciler will", "mailbox", d.Mailbox, "device", d.ID, "error", err)
	}
}

// replay answers an Idempotency-Key retry with the device it made and,
// while the password is still the one made then, that password.
func (s *Devices) replay(ctx context.Context, addr, id string) (Created, error) {
	d, err := s.store.GetDevice(ctx, addr, id)
	if err != nil {
		return Created{}, fmt.Errorf("read device of earlier request: %w", err)
	}
	if !d.Status.Live() {
		// Its secret is scheduled for deletion; reading it would only
		// meet Secrets Manager's refusal.
		return Created{}, apperr.New(apperr.Conflict, "this request was completed earlier and its device is %s since; use a new Idempotency-Key for a new device", d.Status)
	}
	sv, err := s.secrets.Read(ctx, d.SecretARN, "")
	if err != nil {
		return Created{}, fmt.Errorf("read secret of earlier request: %w", err)
	}
	if d.Current == nil || sv.Version != d.Current.Version || !verifier.Equal(s.keyed.Password(sv.Value.Password), d.Current.Hash) || d.RotatedAt.After(d.CreatedAt) {
		return Created{}, apperr.New(apperr.Conflict, "this request was completed earlier and the device's password has changed since; regenerate it to get a new one")
	}
	return Created{Device: d, Password: sv.Value.Password, Replayed: true}, nil
}

// SecretTags are the tags of a device's secret.
func SecretTags(mailbox, id string) map[string]string {
	return map[string]string{"mailbox": mailbox, "device-id": id, "managed-by": "devicepass"}
}

// Page is one page of devices.
type Page struct {
	Devices []Device
	Next    string
}

// Listing limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// ListDevices returns a page of a mailbox's devices.
func (s *Devices) ListDevices(ctx context.Context, c Caller, address, cursor string, limit int) (Page, error) {
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Page{}, err
	}
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page{}, apperr.Field("limit", "must be between 1 and %d", MaxPageSize)
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr})
	if err != nil {
		return Page{}, fmt.Errorf("lookup mailbox: %w", err)
	}
	if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return Page{}, err
	}
	ds, next, err := s.store.ListDevices(ctx, addr, cursor, limit)
	if err != nil {
		return Page{}, fmt.Errorf("list devices: %w", err)
	}
	return Page{Devices: ds, Next: next}, nil
}

// lookupDevice authorizes c on the mailbox and returns the device.
func (s *Devices) lookupDevice(ctx context.Context, c Caller, address, id string) (Device, error) {
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return Device{}, err
	}
	if !validID(id) {
		// Still authorize first, so the answer does not depend on the id.
		lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr})
		if err != nil {
			return Device{}, fmt.Errorf("lookup mailbox: %w", err)
		}
		if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
			return Device{}, err
		}
		return Device{}, apperr.New(apperr.NotFound, "this mailbox has no such device (the id is %s; ids are 26 characters)", apperr.Describe(id))
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr, DeviceID: id})
	if err != nil {
		return Device{}, fmt.Errorf("lookup device: %w", err)
	}
	if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return Device{}, err
	}
	if lr.Device == nil {
		return Device{}, apperr.New(apperr.NotFound, "no device %s in this mailbox", id)
	}
	return *lr.Device, nil
}

// GetDevice returns one device.
func (s *Devices) GetDevice(ctx context.Context, c Caller, address, id string) (Device, error) {
	return s.lookupDevice(ctx, c, address, id)
}

// Patch changes a device's metadata; nil fields stay as they are.
type Patch struct {
	Name           *string
	Note           *string
	Status         *string // "active" or "disabled"
	Scopes         *[]string
	AllowIPs       *[]string
	Rotation       *RotationInput
	RemoveRotation bool
}

// UpdateDevice renames, annotates, disables or enables a device, or changes
// its scopes, allow-list or rotation policy.
func (s *Devices) UpdateDevice(ctx context.Context, c Caller, address, id string, p Patch) (Device, error) {
	ctx = WithActor(ctx, c.Actor())
	if p.Rotation != nil && p.RemoveRotation {
		return Device{}, apperr.Field("rotation", "cannot both set and remove the rotation policy")
	}
	d, err := s.lookupDevice(ctx, c, address, id)
	if err != nil {
		return Device{}, err
	}
	now := s.clock()
	if !d.Status.Live() || d.Expired(now) {
		return Device{}, apperr.New(apperr.Conflict, "device %s is %s and can no longer change", d.ID, d.EffectiveStatus(now))
	}
	before := d
	if d, err = s.patched(d, p); err != nil {
		return Device{}, err
	}
	if err := s.checkPatchPolicy(ctx, d, p); err != nil {
		return Device{}, err
	}
	d.Grace = s.graceOf(d.Rotation)
	d.UpdatedAt = now
	if raised := Raises(before, d); len(raised) > 0 {
		// Step-up where privilege rises: an old login may lower a device's
		// reach but not widen it.
		if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
			return Device{}, err
		}
	}
	d, err = s.store.UpdateDevice(ctx, d)
	if err != nil {
		return Device{}, fmt.Errorf("update device: %w", err)
	}
	s.log.InfoContext(ctx, "device updated", "mailbox", d.Mailbox, "device", d.ID, "status", d.Status, "request_id", c.RequestID)
	if !samePolicy(before.Rotation, d.Rotation) || before.Status != d.Status {
		s.applySchedule(ctx, d)
	}
	if before.Name != d.Name {
		s.describeSecret(ctx, d)
	}
	return d, nil
}

// patched returns d with p applied, each field validated.
func (s *Devices) patched(d Device, p Patch) (Device, error) {
	var err error
	if p.Name != nil {
		if d.Name, err = NormalizeName("name", *p.Name); err != nil {
			return d, err
		}
	}
	if p.Note != nil {
		if d.Note, err = NormalizeNote("note", *p.Note); err != nil {
			return d, err
		}
	}
	if p.Status != nil {
		switch Status(*p.Status) {
		case StatusActive, StatusDisabled:
			d.Status = Status(*p.Status)
		default:
			return d, apperr.Field("status", "must be active or disabled (revoke with DELETE)")
		}
	}
	if p.Scopes != nil {
		if *p.Scopes == nil {
			return d, apperr.Field("scopes", "must be an array of scopes")
		}
		if d.Scopes, err = NormalizeScopes("scopes", *p.Scopes); err != nil {
			return d, err
		}
	}
	if p.AllowIPs != nil {
		if d.AllowIPs, err = NormalizeAllowIPs("allowIps", *p.AllowIPs); err != nil {
			return d, err
		}
	}
	if p.Rotation != nil {
		if d.Rotation, err = NormalizeRotation("rotation", p.Rotation, s.cfg.RotationGrace); err != nil {
			return d, err
		}
	}
	if p.RemoveRotation {
		d.Rotation = nil
	}
	return d, nil
}

func samePolicy(a, b *RotationPolicy) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// applySchedule mirrors a device's rotation policy into Secrets Manager's
// rotation schedule, when a scheduler is configured. A failure is logged:
// the policy in the table stays the source of truth and the reconciler
// applies it again.
func (s *Devices) applySchedule(ctx context.Context, d Device) {
	if s.scheduler == nil {
		return
	}
	p := d.Rotation
	if d.Status != StatusActive {
		p = nil
	}
	if err := s.scheduler.SetSchedule(ctx, d.SecretARN, p); err != nil {
		s.log.ErrorContext(ctx, "could not apply rotation schedule; the reconciler will retry", "mailbox", d.Mailbox, "device", d.ID, "error", err)
	}
}

// Regenerate gives a device a new password at once and returns it.
// The old password stops working after grace (default 0: at once).
func (s *Devices) Regenerate(ctx context.Context, c Caller, address, id string, grace time.Duration) (Created, error) {
	ctx = WithActor(ctx, c.Actor())
	d, err := s.lookupDevice(ctx, c, address, id)
	if err != nil {
		return Created{}, err
	}
	now := s.clock()
	if err := s.cfg.Policy.RequireFresh(c, now); err != nil {
		return Created{}, err
	}
	if !d.Status.Live() || d.Expired(now) {
		return Created{}, apperr.New(apperr.Conflict, "device %s is %s; its password cannot be regenerated", d.ID, d.EffectiveStatus(now))
	}
	pw, d, err := s.engine.Regenerate(ctx, d, grace)
	if err != nil {
		return Created{}, err
	}
	s.log.InfoContext(ctx, "password regenerated", "mailbox", d.Mailbox, "device", d.ID, "request_id", c.RequestID)
	return Created{Device: d, Password: pw}, nil
}

// Revoke ends a device: its password stops at once, its secret is
// scheduled for deletion, and its metadata stays as revoked. Revoking a
// revoked device again finishes any step a failure left undone.
func (s *Devices) Revoke(ctx context.Context, c Caller, address, id string) (Device, error) {
	ctx = WithActor(ctx, c.Actor())
	d, err := s.lookupDevice(ctx, c, address, id)
	if err != nil {
		return Device{}, err
	}
	d, err = endDevice(ctx, s.store, s.secrets, s.cfg.RecoveryWindowDays, d, StatusRevoked, c.Subject, s.clock())
	if err != nil {
		return Device{}, err
	}
	s.log.InfoContext(ctx, "device revoked", "mailbox", d.Mailbox, "device", d.ID, "request_id", c.RequestID)
	return d, nil
}

// RevokeAll revokes every live device of a mailbox (the "compromised
// mailbox" case) and returns how many it revoked.
func (s *Devices) RevokeAll(ctx context.Context, c Caller, address string) (int, error) {
	ctx = WithActor(ctx, c.Actor())
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return 0, err
	}
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr})
	if err != nil {
		return 0, fmt.Errorf("lookup mailbox: %w", err)
	}
	if err := s.cfg.Policy.CanManage(c, addr, lr.Mailbox); err != nil {
		return 0, err
	}
	if err := s.cfg.Policy.RequireFresh(c, s.clock()); err != nil {
		return 0, err
	}
	var all []Device
	for cursor := ""; ; {
		ds, next, err := s.store.ListDevices(ctx, addr, cursor, MaxPageSize)
		if err != nil {
			return 0, fmt.Errorf("list devices: %w", err)
		}
		all = append(all, ds...)
		if next == "" {
			break
		}
		cursor = next
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		revoked  int
		firstErr error
		sem      = make(chan struct{}, 8)
	)
	for _, d := range all {
		if d.Status == StatusExpired || d.Status == StatusRevoked && d.SecretARN == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(d Device) {
			defer func() { <-sem; wg.Done() }()
			wasLive := d.Status.Live()
			_, err := endDevice(ctx, s.store, s.secrets, s.cfg.RecoveryWindowDays, d, StatusRevoked, c.Subject, s.clock())
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil && wasLive {
				revoked++
			}
		}(d)
	}
	wg.Wait()
	s.log.InfoContext(ctx, "all devices revoked", "mailbox", addr, "revoked", revoked, "request_id", c.RequestID)
	if firstErr != nil {
		return revoked, fmt.Errorf("revoke all (%d revoked; retry to finish): %w", revoked, firstErr)
	}
	return revoked, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func encodeID(b []byte) string { return idEncoding.EncodeToString(b) }

// validID reports whether id has the shape of a device id.
// ValidID reports whether id has the shape of a device id (26 characters
// of lower-case base32), so that the HTTP layer logs only ids that cannot
// be anything else.
func ValidID(id string) bool { return validID(id) }

func validID(id string) bool {
	if len(id) != 26 {
		return false
	}
	_, err := idEncoding.DecodeString(id)
	return err == nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return b
}

// formatUUID formats 16 bytes as a version-4 UUID, the shape Secrets
// Manager uses for version ids.
func formatUUID(b []byte) string {
	u := make([]byte, 16)
	copy(u, b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// NewToken returns a fresh rotation token.
func NewToken() string { return formatUUID(randomBytes(16)) }

// checkPatchPolicy refuses a change the device's domain policy forbids.
func (s *Devices) checkPatchPolicy(ctx context.Context, d Device, p Patch) error {
	if p.Scopes == nil && p.AllowIPs == nil && p.Rotation == nil && !p.RemoveRotation {
		return nil // nothing a policy rules on: no read
	}
	pol, err := effectivePolicy(ctx, s.policies, DomainOf(d.Mailbox))
	if err != nil {
		return err
	}
	return pol.checkPatch(d, p)
}
