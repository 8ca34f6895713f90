package device

import (
	"context"
	"time"

	"github.com/devicepass/devicepass/shared/verifier"
)

// The ports: what each use case needs of the stores, one small interface
// per use case, so that a use case's constructor names exactly what it
// uses and a fake implements only that. The DynamoDB adapter
// (shared/dynamo) implements all of them. Every method returns
// *apperr.Error with code NotFound, Conflict, LimitReached or Unavailable
// for the expected failures; anything else is Internal.

// MailboxReader reads a mailbox with, optionally, a device and an
// idempotency record, and single devices.
type MailboxReader interface {
	// Lookup reads, in one round trip, the mailbox and optionally one device
	// and one idempotency record. Missing items are nil, not errors.
	Lookup(ctx context.Context, q LookupQuery) (LookupResult, error)

	// GetDevice reads one device (strongly consistent). NotFound if absent.
	GetDevice(ctx context.Context, mailbox, id string) (Device, error)
}

// DeviceEnder ends a live device.
type DeviceEnder interface {
	// EndDevice sets live device d's status to revoked or expired, removes
	// its verifiers and decrements the mailbox's live count, atomically, and
	// returns the device as ended. Conflict if the device is no longer live.
	EndDevice(ctx context.Context, d Device, status Status, by string, now time.Time) (Device, error)
}

// DeviceStore is what the device use cases (Devices) need: mailboxes and
// the devices' metadata.
type DeviceStore interface {
	MailboxReader
	DeviceEnder

	// SaveMailbox creates the mailbox or changes its owner, and returns it.
	SaveMailbox(ctx context.Context, address, owner, by string, now time.Time) (Mailbox, bool, error)

	// CreateDevice atomically puts d, increments the mailbox's live count if
	// it is below maxLive and its owner is still owner, and puts the
	// idempotency record if one is given. Conflict means the device or the
	// record exists already; LimitReached that the cap is reached; NotFound
	// that the mailbox is gone or its owner changed.
	CreateDevice(ctx context.Context, d Device, owner string, maxLive int, idem *IdempotencyRecord) error

	// ListDevices returns one page of a mailbox's devices, the live ones in
	// id order and then the ended ones in id order (the adapter keeps them
	// apart so verification reads only the live), and the cursor of the
	// next page ("" at the end). Invalid for a bad cursor.
	ListDevices(ctx context.Context, mailbox, cursor string, limit int) ([]Device, string, error)

	// UpdateDevice writes the metadata fields of d (name, note, user,
	// scopes, allow-list, rotation, status, updatedAt) if the stored version
	// is still d.Version and the device is live (CheckUpdate); Conflict
	// otherwise. It returns the stored device.
	UpdateDevice(ctx context.Context, d Device) (Device, error)
}

// RepairStore is what the repairs (Repair: expiry and reconciliation) need.
type RepairStore interface {
	DeviceEnder

	// GetDevice reads one device (strongly consistent). NotFound if absent.
	GetDevice(ctx context.Context, mailbox, id string) (Device, error)

	// ExpiringDevices returns up to limit live devices whose expiry is at or
	// before now, soonest first, for the expiry sweep.
	ExpiringDevices(ctx context.Context, now time.Time, limit int) ([]Device, error)

	// RestoreExpired records a live device that DynamoDB's TTL removed as
	// expired, without verifiers, and stops counting it in its mailbox. A
	// device recorded already is left as it is.
	RestoreExpired(ctx context.Context, d Device, now time.Time) error
}

// RotationStore is what the rotation engine writes. Each method is one
// conditional write whose condition is the rule of the same name in
// guards.go (CheckBeginRotation, CheckSetPending, CheckPromote,
// CheckReplace); on Conflict the adapter explains the refusal with that
// rule.
type RotationStore interface {
	// BeginRotation records version as pending, starting from base (the
	// secret's AWSCURRENT, which must be the device's current version), and
	// answers with the device after the write; if version was pending
	// already it changes nothing and answers the stored device. A scheduled
	// rotation (manual false) needs an active, unexpired device and yields
	// to a manual regenerate begun less than RegenerateHold ago; a manual
	// regenerate (manual true) also accepts a disabled device and takes over
	// any pending version. Conflict (with a message saying why) when the
	// device may not rotate.
	BeginRotation(ctx context.Context, mailbox, id, version, base string, manual bool, now time.Time) (Device, error)

	// SetPending stores the pending version's keyed hash. Conflict if
	// version is not the pending version, or if hash is the current
	// version's (a rotation always changes the password; an equal hash is
	// a copy of the current value, such as Secrets Manager's rotation
	// configuration test puts); the answered device shows why.
	SetPending(ctx context.Context, mailbox, id, version string, hash verifier.Hash) (Device, error)

	// Promote makes the pending version current and the current one
	// previous, valid until fixedUntil or, when that is zero, until now plus
	// the device's rotation grace; it clears the pending version. Only if
	// version is pending and its hash is set. It answers the device as it
	// was before the write, or, on Conflict, as it is.
	Promote(ctx context.Context, mailbox, id, version string, now, fixedUntil time.Time) (Device, error)

	// Replace is a regenerate's one write: version, with hash, becomes
	// current in place of base, which stays valid as previous until until
	// (until <= now: it stops at once), and any pending version is cleared,
	// so a scheduled rotation in flight can no longer promote. Only if the
	// device is live and unexpired, base is its current version, version is
	// new to it and hash is not the current hash (CheckReplace). It answers
	// the device after the write, or, on Conflict, as it is.
	Replace(ctx context.Context, mailbox, id, version string, hash verifier.Hash, base string, now, until time.Time) (Device, error)
}

// CandidateReader is the verify path's read, which testSecret shares.
type CandidateReader interface {
	// Candidates reads, in one round trip, every live device of a mailbox
	// and its verify failure counters.
	Candidates(ctx context.Context, mailbox string) (Candidates, error)
}

// VerifyStore is what verification (Verification) needs.
type VerifyStore interface {
	CandidateReader

	// Attempt counts a failed verification (a.Failed) or admits a
	// successful one against the counter of a.Network, in one conditional
	// write whose condition is CheckAttempt: RateLimited (with RetryAfter)
	// if the network may not try now. seen is the counter as Candidates
	// read it (nil: none), which tells the adapter which write to try
	// first; it never decides the outcome.
	Attempt(ctx context.Context, mailbox string, a Attempt, seen *NetworkFailures) error

	// TouchLastUsed records a use if the device is active and its stored
	// last use is older than notAfter (so concurrent logins write once);
	// Conflict otherwise (CheckTouchLastUsed).
	TouchLastUsed(ctx context.Context, mailbox, id string, at time.Time, protocol Scope, ip string, notAfter time.Time) error
}

// LookupQuery names what Lookup reads.
type LookupQuery struct {
	Mailbox     string
	DeviceID    string        // optional
	Idempotency verifier.Hash // optional
	// PolicyDomain, when set, reads that domain's policy in the same
	// round trip (create and redemption enforce it).
	PolicyDomain string
}

// LookupResult is what Lookup found.
type LookupResult struct {
	Mailbox     *Mailbox
	Device      *Device
	Idempotency *IdempotencyRecord
	Policy      *DomainPolicy // nil: the domain has none (or none was asked for)
}

// IdempotencyRecord remembers which device a create with an
// Idempotency-Key made, and a fingerprint of the request.
type IdempotencyRecord struct {
	Key         verifier.Hash
	Mailbox     string
	DeviceID    string
	Fingerprint verifier.Hash
	Expires     time.Time
}

// Candidates is the verify path's view of a mailbox.
type Candidates struct {
	Devices []Device
	// Networks are the failure counters of the networks that verified
	// against the mailbox lately, in network order.
	Networks []NetworkFailures
}

// Network returns the counter of network, or nil.
func (c Candidates) Network(network string) *NetworkFailures {
	for i := range c.Networks {
		if c.Networks[i].Network == network {
			return &c.Networks[i]
		}
	}
	return nil
}

// Secrets keeps device passwords in Secrets Manager; the shared/secrets
// adapter implements it. Each use case takes only the part it calls:
// DeviceSecrets, EnrollmentSecrets, RotationSecrets or RepairSecrets.
type Secrets interface {
	DeviceSecrets
	RotationSecrets
	RepairSecrets
}

// SecretCreator makes device secrets and undoes one whose device could not
// be stored.
type SecretCreator interface {
	// Create makes a device's secret with its first version, token. Conflict
	// if a secret of that name exists already.
	Create(ctx context.Context, in SecretInput) (SecretRef, error)

	// ForceDelete deletes the secret at once; a missing secret succeeds.
	ForceDelete(ctx context.Context, secretID string) error
}

// EnrollmentSecrets is what redeeming an enrollment link calls.
type EnrollmentSecrets = SecretCreator

// SecretReader reads a version of a secret.
type SecretReader interface {
	// Read returns a version's value and stages; version "" reads AWSCURRENT.
	// NotFound if that version has no value.
	Read(ctx context.Context, secretID, version string) (SecretVersion, error)
}

// SecretDeleter schedules an ended device's secret for deletion.
type SecretDeleter interface {
	// ScheduleDeletion deletes the secret after a recovery window of days.
	// Deleting a secret already scheduled for deletion succeeds.
	ScheduleDeletion(ctx context.Context, secretID string, days int) error
}

// StageMover moves the staging labels of a rotation.
type StageMover interface {
	// MoveCurrent moves AWSCURRENT from version from to version to (and
	// AWSPREVIOUS to from), leaving any AWSPENDING on to: a finished
	// rotation for Secrets Manager. Conflict if from is not the current
	// version.
	MoveCurrent(ctx context.Context, secretID, to, from string) error

	// RemovePending removes AWSPENDING from version.
	RemovePending(ctx context.Context, secretID, version string) error
}

// DeviceSecrets is what the device use cases call: create (and adopt an
// earlier attempt's secret), undo, and delete on revoke.
type DeviceSecrets interface {
	SecretCreator
	SecretReader
	SecretDeleter
	SecretDescriber
}

// SecretDescriber names a device in its secret's Description.
type SecretDescriber interface {
	// SetDescription replaces the secret's Description (no new version).
	SetDescription(ctx context.Context, secretID, description string) error
}

// RotationSecrets is what the rotation engine calls.
type RotationSecrets interface {
	SecretReader
	StageMover

	// Describe returns the secret's versions and their stages.
	Describe(ctx context.Context, secretID string) (SecretState, error)

	// PutPending stores value as version token with stage AWSPENDING.
	// Conflict if that version exists already with another value.
	PutPending(ctx context.Context, secretID, token string, value SecretValue) error
}

// RepairSecrets is what expiry and the reconciler call.
type RepairSecrets interface {
	SecretDeleter
	StageMover

	// ForceDelete deletes the secret at once; a missing secret succeeds.
	ForceDelete(ctx context.Context, secretID string) error

	SecretDescriber
}

// SecretInput is a new device secret.
type SecretInput struct {
	Name  string
	Token string // the first version's id (ClientRequestToken)
	Value SecretValue
	// Description names the device for list-secrets (SecretDescription).
	Description string
	Tags        map[string]string
}

// SecretRef identifies a secret version.
type SecretRef struct {
	ARN     string
	Version string
}

// SecretVersion is one version of a secret, with its value.
type SecretVersion struct {
	ARN     string
	Name    string
	Version string
	Stages  []string
	Value   SecretValue
}

// HasStage reports whether the version carries stage.
func (v SecretVersion) HasStage(stage string) bool { return hasStage(v.Stages, stage) }

// SecretState is a secret's metadata.
type SecretState struct {
	ARN      string
	Name     string
	Versions map[string][]string // version id to stages
	Deleted  bool                // scheduled for deletion
	Tags     map[string]string
}

// Current returns the AWSCURRENT version id.
func (s SecretState) Current() string { return s.withStage(StageCurrent) }

// Pending returns the AWSPENDING version id, or "".
func (s SecretState) Pending() string { return s.withStage(StagePending) }

// InProgress returns the version of a rotation that has not finished: the
// AWSPENDING version when it is not also AWSCURRENT, else "". Secrets
// Manager treats AWSPENDING left on the AWSCURRENT version as a finished
// rotation (RotateSecret starts the next one), so devicepass never spends a
// write removing it.
func (s SecretState) InProgress() string {
	p := s.Pending()
	if p == "" || hasStage(s.Versions[p], StageCurrent) {
		return ""
	}
	return p
}

func (s SecretState) withStage(stage string) string {
	for v, st := range s.Versions {
		if hasStage(st, stage) {
			return v
		}
	}
	return ""
}

// The staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

func hasStage(stages []string, stage string) bool {
	for _, s := range stages {
		if s == stage {
			return true
		}
	}
	return false
}
