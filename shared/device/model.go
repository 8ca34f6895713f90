// Package device is devicepass's domain: mailboxes, devices and their
// passwords, the rules that govern them, and the services that apply those
// rules through small ports (Store, Secrets). It imports no AWS package, so
// every rule here is tested with fakes in milliseconds and the adapters are
// tested once, against the real stand-ins, by a shared suite.
package device

import (
	"net/netip"
	"time"

	"github.com/devicepass/devicepass/shared/verifier"
)

// Scope is a protocol a device password may be used with.
type Scope string

// The scopes.
const (
	ScopeIMAP    Scope = "imap"
	ScopePOP     Scope = "pop"
	ScopeSMTP    Scope = "smtp"
	ScopeCalDAV  Scope = "caldav"
	ScopeCardDAV Scope = "carddav"
)

// AllScopes lists every scope in canonical order.
var AllScopes = []Scope{ScopeIMAP, ScopePOP, ScopeSMTP, ScopeCalDAV, ScopeCardDAV}

// DefaultScopes are the mail protocols, granted when a request names none.
func DefaultScopes() []Scope { return []Scope{ScopeIMAP, ScopePOP, ScopeSMTP} }

// Status is a device's lifecycle state.
type Status string

// The statuses. Active and disabled devices are live (they count against the
// mailbox's cap and keep their secret); revoked and expired ones are kept
// for audit only.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusRevoked  Status = "revoked"
	StatusExpired  Status = "expired"
)

// Live reports whether a device in status s still counts as a device.
func (s Status) Live() bool { return s == StatusActive || s == StatusDisabled }

// Mailbox is an email address with an owner.
type Mailbox struct {
	Address   string // normalized: lower-cased, the domain in A-labels
	Owner     string // the owner's subject (JWT "sub")
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	Live      int // devices that are active or disabled
	Version   int64
}

// Domain returns the mailbox's domain.
func (m Mailbox) Domain() string { return DomainOf(m.Address) }

// RotationPolicy is a device's scheduled rotation. Exactly one of
// EveryDays and Schedule is set.
type RotationPolicy struct {
	EveryDays int           // rotate every N days, 1-365
	Schedule  string        // or a Secrets Manager rate() or cron() expression
	Window    string        // the rotation window's duration for a Schedule, e.g. "3h"
	Grace     time.Duration // how long the replaced password keeps working
}

// Verifier is the keyed hash of one secret version's password.
type Verifier struct {
	Version string        // the Secrets Manager version id
	Hash    verifier.Hash // keyed hash of the password
}

// Device is one application password of one mailbox.
type Device struct {
	Mailbox   string
	ID        string
	Name      string
	Note      string
	User      string // the bound user's subject; empty: not a particular user
	Scopes    []Scope
	AllowIPs  []netip.Prefix // empty: any address
	ExpiresAt time.Time      // zero: does not expire
	Rotation  *RotationPolicy
	Grace     time.Duration // how long a scheduled rotation keeps the replaced password valid
	Status    Status

	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	RotatedAt time.Time

	LastUsedAt       time.Time
	LastUsedProtocol Scope
	LastUsedIP       string

	SecretARN string

	// The verifiers: Current is AWSCURRENT's; Previous is the version it
	// replaced, valid until PreviousUntil; Pending is a rotation's new
	// version between setSecret and finishSecret, started from PendingBase.
	Current       *Verifier
	Previous      *Verifier
	PreviousUntil time.Time
	Pending       *Verifier
	PendingBase   string
	// PendingManual marks a pending version begun by a manual regenerate;
	// PendingAt is when the pending version began.
	PendingManual bool
	PendingAt     time.Time

	// LastActor is who made the item's last lifecycle change.
	LastActor Actor

	// The policy sweep's marks: the inactivity warning (when, of the
	// inactivity that began when, revoking when) and the expiry reminder.
	InactivityWarnedAt  time.Time
	InactivityWarnedFor time.Time
	InactivityRevokeAt  time.Time
	ExpiryRemindedAt    time.Time
	// PolicyExpirySetAt is when the sweep gave a device made before its
	// domain's requireExpiry the policy's longest lifetime.
	PolicyExpirySetAt time.Time
	// Networks are the networks (IPv4 /24, IPv6 /64) the device was used
	// from, with when each was last seen; NewNetwork is the last one that
	// was new to it, at NewNetworkAt (newnetwork.go).
	Networks     map[string]time.Time
	NewNetwork   string
	NewNetworkAt time.Time
	// EndReason is why an ended device ended, when not by a plain revoke
	// or expiry: "inactive", "credential-changed".
	EndReason string

	// The last failed rotation, until a rotation or regenerate succeeds:
	// what failed (RotationError, without any secret), its kind, when, and the
	// failure's unique id (a CloudTrail event id), which makes recording
	// it once whatever the redeliveries (rotationfailure.go).
	RotationError     string
	RotationErrorKind string // RotationFailed, RotationAbandoned or TestRotationFailed
	RotationErrorAt   time.Time
	RotationErrorID   string

	Version int64
}

// Expired reports whether the device has passed its expiry at now.
func (d Device) Expired(now time.Time) bool {
	return !d.ExpiresAt.IsZero() && !now.Before(d.ExpiresAt)
}

// EffectiveStatus is the status clients see: a device past its expiry is
// expired even before the sweep has recorded it.
func (d Device) EffectiveStatus(now time.Time) Status {
	if d.Status.Live() && d.Expired(now) {
		return StatusExpired
	}
	return d.Status
}

// HasScope reports whether the device may be used with scope s.
func (d Device) HasScope(s Scope) bool {
	for _, x := range d.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// AllowsIP reports whether the device's allow-list admits ip.
func (d Device) AllowsIP(ip netip.Addr) bool {
	if len(d.AllowIPs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range d.AllowIPs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// SecretValue is what a device's secret holds, in the username/password
// shape AWS's rotation templates and consumers expect.
type SecretValue struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Device   string `json:"device"`
}

// SecretName returns the name of a device's secret.
func SecretName(prefix, mailbox, id string) string {
	return prefix + "/" + mailbox + "/" + id
}
