// Package lifecycle turns committed changes of devices and enrollments into
// lifecycle events: the documented, versioned JSON that goes to the event
// bus, the audit trail and the owner's notices. It is pure: the stream
// handler feeds it the item images before and after each change.
//
// An event never holds a secret: no password, verifier, enrollment token
// or key material. The Event type has no field that could carry one.
package lifecycle

import (
	"slices"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// SchemaVersion is the version of the event schema (docs/events.md).
const SchemaVersion = "1"

// Source is the EventBridge source of every event.
const Source = "devicepass"

// The event types.
const (
	DeviceCreated       = "device.created"
	DeviceUpdated       = "device.updated"
	DeviceDisabled      = "device.disabled"
	DeviceEnabled       = "device.enabled"
	DeviceRevoked       = "device.revoked"
	DeviceExpired       = "device.expired"
	PasswordRegenerated = "password.regenerated"
	PasswordRotated     = "password.rotated"
	EnrollmentCreated   = "enrollment.created"
	EnrollmentUsed      = "enrollment.used"
	EnrollmentCancelled = "enrollment.cancelled"
	MailboxRegistered   = "mailbox.registered"
	MailboxOwnerChanged = "mailbox.owner_changed"
	// The policy sweep's notices: a device unused for long is revoked at
	// the event's revokeAt unless used; a device expires soon.
	DeviceInactivityWarning = "device.inactivity_warning"
	DeviceExpiryReminder    = "device.expiry_reminder"
	// DevicePolicyApplied: the sweep brought a device made before a rule
	// into line (today: gave a device without expiry the policy's longest
	// lifetime, under requireExpiry).
	DevicePolicyApplied = "device.policy_applied"
	// DeviceNewNetwork: the first successful use of a device from a
	// network (IPv4 /24, IPv6 /64) it had not used in 90 days; the owner's
	// notice depends on the domain's newNetworkNotice.
	DeviceNewNetwork = "device.new_network"
	// RotationFailed: Secrets Manager reported a scheduled rotation of the
	// device's secret as failed, abandoned, or failing its configuration
	// test (locally, the scheduler's failed step); the domain's
	// administrators get the notice.
	RotationFailed = "rotation.failed"
)

// Event is one lifecycle change.
type Event struct {
	Version    string      `json:"version"`
	ID         string      `json:"id"`   // unique and stable: the same change always has the same id
	Type       string      `json:"type"` // one of the constants above
	Time       time.Time   `json:"time"` // when the change was committed
	Mailbox    string      `json:"mailbox"`
	DeviceID   string      `json:"deviceId,omitempty"`
	Enrollment string      `json:"enrollmentId,omitempty"`
	Actor      Actor       `json:"actor"`
	Device     *DeviceInfo `json:"device,omitempty"`
	// EnrollmentInfo is the enrollment link after the change, on
	// enrollment events.
	EnrollmentInfo *EnrollmentInfo `json:"enrollment,omitempty"`
	// Owner is the mailbox owner's subject after the change, and
	// PreviousOwner the one before, on mailbox events.
	Owner         string `json:"owner,omitempty"`
	PreviousOwner string `json:"previousOwner,omitempty"`
	// Reason says why a device was revoked, when not by a person:
	// "inactive" (a domain policy's inactivity rule), "credential-changed".
	Reason string `json:"reason,omitempty"`
	// RevokeAt is when a device warned of inactivity is revoked unless
	// used, on device.inactivity_warning.
	RevokeAt *time.Time `json:"revokeAt,omitempty"`
	// Network is the network new to the device, on device.new_network.
	Network string `json:"network,omitempty"`
	// Failure is what failed, on rotation.failed.
	Failure *FailureInfo `json:"failure,omitempty"`
}

// FailureInfo describes a failed rotation: Secrets Manager's kind of
// failure (RotationFailed, RotationAbandoned, TestRotationFailed), its
// message (which names a step, never a secret) and the id of the report
// (CloudTrail's eventID; locally the scheduler's).
type FailureInfo struct {
	Kind    string `json:"kind"`
	Message string `json:"message,omitempty"`
	Source  string `json:"sourceEventId"`
}

// Actor is who made the change.
type Actor struct {
	Kind      string `json:"kind"`
	Subject   string `json:"subject,omitempty"`
	SourceIP  string `json:"sourceIp,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// DeviceInfo is the device's public metadata after the change.
type DeviceInfo struct {
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	Scopes    []string   `json:"scopes"`
	User      string     `json:"user,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	SecretARN string     `json:"secretArn,omitempty"`
	// Version is the secret version that is current after the change.
	Version string `json:"secretVersion,omitempty"`
}

// EnrollmentInfo is an enrollment link's public description after the
// change. The link's token is never part of it: the enrollment id is the
// token's keyed hash, from which the token cannot be recovered.
type EnrollmentInfo struct {
	Name            string     `json:"name"` // the device's name
	User            string     `json:"user,omitempty"`
	Scopes          []string   `json:"scopes"`
	Status          string     `json:"status"`
	ExpiresAt       time.Time  `json:"expiresAt"` // the link's expiry
	DeviceExpiresAt *time.Time `json:"deviceExpiresAt,omitempty"`
	DeviceValidFor  string     `json:"deviceValidFor,omitempty"` // a Go duration, from redemption
	UsedBy          string     `json:"usedBy,omitempty"`
}

// Notify reports whether the mailbox's owner gets a notice of events of
// type t (NIST SP 800-63B: notify when an authenticator is bound).
func Notify(t string) bool {
	return t == DeviceCreated || t == EnrollmentUsed || t == DeviceInactivityWarning || t == DeviceExpiryReminder || t == DevicePolicyApplied
}

// Notifies reports whether ev makes a notice: the owner's for the types
// of Notify and a revocation the owner did not ask for (a policy's, with
// a reason); the administrators' for a failed rotation (Audience says
// whose).
func Notifies(ev Event) bool {
	return Notify(ev.Type) || ev.Type == DeviceRevoked && ev.Reason != "" || ev.Type == RotationFailed
}

// The audiences of notices.
const (
	AudienceOwner  = "owner"
	AudienceAdmins = "administrators"
)

// Audience is who a notice of ev is for: the domain's administrators for
// a failed rotation, which only they can act on (the rotation function,
// its permissions, the schedule), and the mailbox's owner otherwise.
func Audience(ev Event) string {
	if ev.Type == RotationFailed {
		return AudienceAdmins
	}
	return AudienceOwner
}

func actorOf(a device.Actor) Actor {
	return Actor{Kind: a.Kind, Subject: a.Subject, SourceIP: a.SourceIP, UserAgent: a.UserAgent, RequestID: a.RequestID}
}

func infoOf(d *device.Device) *DeviceInfo {
	in := &DeviceInfo{Name: d.Name, Status: string(d.Status), User: d.User, SecretARN: d.SecretARN, Scopes: []string{}}
	for _, s := range d.Scopes {
		in.Scopes = append(in.Scopes, string(s))
	}
	if !d.ExpiresAt.IsZero() {
		t := d.ExpiresAt.UTC()
		in.ExpiresAt = &t
	}
	if d.Current != nil {
		in.Version = d.Current.Version
	}
	return in
}

// DeviceChange is a committed change of a device item: its images before
// (nil for a new item) and after (nil for a removed one).
type DeviceChange struct {
	ID       string // the change's unique id (the stream record's event id)
	Time     time.Time
	Old, New *device.Device
}

// DeviceEvents returns the events a device change makes: at most one per
// change, except a change that both replaced the password and changed the
// status, which cannot happen through the API.
func DeviceEvents(c DeviceChange) []Event {
	d := c.New
	if d == nil {
		return nil // removals are handled by the caller (TTL expiry)
	}
	typ := deviceEventType(c.Old, d)
	if typ == "" {
		return nil
	}
	ev := Event{Version: SchemaVersion, ID: c.ID, Type: typ, Time: deviceTime(typ, d, c.Time),
		Mailbox: d.Mailbox, DeviceID: d.ID, Actor: actorOf(d.LastActor), Device: infoOf(d)}
	switch typ {
	case DeviceRevoked:
		ev.Reason = d.EndReason
	case DeviceInactivityWarning:
		t := d.InactivityRevokeAt.UTC()
		ev.RevokeAt = &t
	case DeviceNewNetwork:
		ev.Network = d.NewNetwork
	case RotationFailed:
		ev.Failure = &FailureInfo{Kind: d.RotationErrorKind, Message: d.RotationError, Source: d.RotationErrorID}
	}
	return []Event{ev}
}

// deviceTime is when a device change was committed: the instant the item
// itself records for it, precise and the same on every delivery of the
// change, or else the stream record's (coarser) time.
func deviceTime(typ string, d *device.Device, fallback time.Time) time.Time {
	t := d.UpdatedAt
	switch typ {
	case DeviceCreated:
		t = d.CreatedAt
	case PasswordRegenerated, PasswordRotated:
		t = d.RotatedAt
	case DeviceInactivityWarning:
		t = d.InactivityWarnedAt
	case DeviceExpiryReminder:
		t = d.ExpiryRemindedAt
	case DevicePolicyApplied:
		t = d.PolicyExpirySetAt
	case DeviceNewNetwork:
		t = d.NewNetworkAt
	case RotationFailed:
		t = d.RotationErrorAt
	}
	return orElse(t, fallback)
}

func orElse(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback.UTC()
	}
	return t.UTC()
}

func deviceEventType(old, d *device.Device) string {
	if old == nil {
		switch d.Status {
		case device.StatusExpired:
			return DeviceExpired // re-recorded after DynamoDB's TTL removed it
		case device.StatusRevoked:
			return DeviceRevoked
		}
		return DeviceCreated
	}
	if old.Status != d.Status {
		switch d.Status {
		case device.StatusDisabled:
			return DeviceDisabled
		case device.StatusActive:
			return DeviceEnabled
		case device.StatusRevoked:
			return DeviceRevoked
		case device.StatusExpired:
			return DeviceExpired
		}
	}
	if old.Current != nil && d.Current != nil && old.Current.Version != d.Current.Version {
		// A scheduled rotation promotes its pending version; a regenerate
		// writes a version that was never pending (or, before it made one
		// write, began as a manual pending version).
		if old.PendingManual || old.Pending == nil || old.Pending.Version != d.Current.Version {
			return PasswordRegenerated
		}
		return PasswordRotated
	}
	if d.InactivityWarnedAt.After(old.InactivityWarnedAt) {
		return DeviceInactivityWarning
	}
	if old.ExpiryRemindedAt.IsZero() && !d.ExpiryRemindedAt.IsZero() {
		return DeviceExpiryReminder
	}
	if old.PolicyExpirySetAt.IsZero() && !d.PolicyExpirySetAt.IsZero() {
		return DevicePolicyApplied
	}
	if d.NewNetworkAt.After(old.NewNetworkAt) {
		return DeviceNewNetwork
	}
	if d.RotationErrorID != "" && d.RotationErrorID != old.RotationErrorID {
		return RotationFailed
	}
	if old.Name != d.Name || old.Note != d.Note || !slices.Equal(old.Scopes, d.Scopes) ||
		!slices.Equal(old.AllowIPs, d.AllowIPs) || !samePolicy(old.Rotation, d.Rotation) || old.User != d.User {
		return DeviceUpdated
	}
	return "" // rotation bookkeeping, last use: not lifecycle changes
}

func samePolicy(a, b *device.RotationPolicy) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// EnrollmentChange is a committed change of an enrollment item.
type EnrollmentChange struct {
	ID       string // the change's unique id (the stream record's event id)
	Time     time.Time
	Old, New *device.Enrollment
}

// EnrollmentEvents returns the events an enrollment change makes: created
// when the link is stored, used when a device was made with it (with that
// device's id), cancelled when an administrator cancels it. A link that
// merely expires, or leaves the table by TTL, makes none.
func EnrollmentEvents(c EnrollmentChange) []Event {
	e := c.New
	if e == nil {
		return nil
	}
	var typ string
	t := c.Time
	switch {
	case c.Old == nil:
		typ, t = EnrollmentCreated, orElse(e.CreatedAt, c.Time)
	case c.Old.Status == e.Status:
		return nil
	case e.Status == device.EnrollmentUsed:
		typ, t = EnrollmentUsed, orElse(e.UsedAt, c.Time)
	case e.Status == device.EnrollmentCancelled:
		typ = EnrollmentCancelled
	default:
		return nil
	}
	ev := Event{Version: SchemaVersion, ID: c.ID, Type: typ, Time: t.UTC(), Mailbox: e.Mailbox, Enrollment: e.ID,
		Actor: actorOf(e.LastActor), EnrollmentInfo: enrollmentInfoOf(e)}
	if typ == EnrollmentUsed {
		ev.DeviceID = e.DeviceID
	}
	return []Event{ev}
}

func enrollmentInfoOf(e *device.Enrollment) *EnrollmentInfo {
	in := &EnrollmentInfo{Name: e.Name, User: e.User, Status: string(e.Status), ExpiresAt: e.ExpiresAt.UTC(), UsedBy: e.UsedBy, Scopes: []string{}}
	for _, s := range e.Scopes {
		in.Scopes = append(in.Scopes, string(s))
	}
	if !e.DeviceExpiresAt.IsZero() {
		t := e.DeviceExpiresAt.UTC()
		in.DeviceExpiresAt = &t
	}
	if e.DeviceValidFor > 0 {
		in.DeviceValidFor = e.DeviceValidFor.String()
	}
	return in
}

// MailboxChange is a committed change of a mailbox item, with who made it.
type MailboxChange struct {
	ID       string // the change's unique id (the stream record's event id)
	Time     time.Time
	Old, New *device.Mailbox
	Actor    device.Actor // who made the change, as the item records it
}

// MailboxEvents returns the events a mailbox change makes: registered when
// the mailbox is created, owner_changed when its owner changes. Its device
// count changes with every device and makes none.
func MailboxEvents(c MailboxChange) []Event {
	m := c.New
	if m == nil {
		return nil
	}
	ev := Event{Version: SchemaVersion, ID: c.ID, Mailbox: m.Address, Actor: actorOf(c.Actor), Owner: m.Owner}
	switch {
	case c.Old == nil:
		ev.Type, ev.Time = MailboxRegistered, orElse(m.CreatedAt, c.Time)
		if ev.Actor.Kind == "" { // written before mailbox items recorded their actor
			ev.Actor = Actor{Kind: device.ActorUser, Subject: m.CreatedBy}
		}
	case c.Old.Owner != m.Owner:
		ev.Type, ev.Time, ev.PreviousOwner = MailboxOwnerChanged, orElse(m.UpdatedAt, c.Time), c.Old.Owner
	default:
		return nil
	}
	return []Event{ev}
}
