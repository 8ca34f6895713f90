package apigw

import (
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// The answers are the document's types (package api), filled field by
// field from the domain's, never derived from them, so that a verifier, a
// pending version or any field added to device.Device later cannot leak
// into an answer. Every nullable member is set, to a value or to null:
// an unset nullable.Nullable would marshal as its zero value.

func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// nullTime is t, or null when t is zero.
func nullTime(t time.Time) nullable.Nullable[string] {
	if t.IsZero() {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(timeJSON(t))
}

// nullString is s, or null when s is empty.
func nullString(s string) nullable.Nullable[string] {
	if s == "" {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(s)
}

// optString is s, or nil (an absent member) when s is empty.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// durationJSON formats a duration as a Go duration without zero units:
// "2h", "90m" as "1h30m", which time.ParseDuration reads back.
func durationJSON(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func scopesJSON[S ~string](scopes []S) []api.Scope {
	out := make([]api.Scope, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, api.Scope(s))
	}
	return out
}

// deviceAnswer returns the client's view of d at now.
func deviceAnswer(d device.Device, now time.Time) api.Device {
	out := api.Device{
		Id:         d.ID,
		Mailbox:    d.Mailbox,
		Name:       d.Name,
		Note:       d.Note,
		User:       optString(d.User),
		Status:     api.DeviceStatus(d.EffectiveStatus(now)),
		Scopes:     scopesJSON(d.Scopes),
		AllowIps:   make([]string, 0, len(d.AllowIPs)),
		CreatedAt:  timeJSON(d.CreatedAt),
		CreatedBy:  d.CreatedBy,
		UpdatedAt:  timeJSON(d.UpdatedAt),
		RotatedAt:  timeJSON(d.RotatedAt),
		ExpiresAt:  nullTime(d.ExpiresAt),
		LastUsedAt: nullTime(d.LastUsedAt),
		LastUsedIp: nullString(d.LastUsedIP),
		Rotation:   nullable.NewNullNullable[api.Rotation](),
		SecretArn:  d.SecretARN,
	}
	out.LastUsedProtocol = nullable.NewNullNullable[api.Scope]()
	if d.LastUsedProtocol != "" {
		out.LastUsedProtocol = nullable.NewNullableWithValue(api.Scope(d.LastUsedProtocol))
	}
	for _, p := range d.AllowIPs {
		out.AllowIps = append(out.AllowIps, p.String())
	}
	if r := d.Rotation; r != nil {
		rot := api.Rotation{Schedule: optString(r.Schedule), Duration: optString(r.Window), Grace: durationJSON(r.Grace),
			LastRotatedAt: timeJSON(d.RotatedAt), NextRotationAt: nullTime(device.NextRotationAt(d)),
			LastError: nullable.NewNullNullable[api.RotationError]()}
		if d.RotationErrorID != "" {
			rot.LastError = nullable.NewNullableWithValue(api.RotationError{
				Kind: api.RotationErrorKind(d.RotationErrorKind), Message: d.RotationError, At: timeJSON(d.RotationErrorAt)})
		}
		if r.EveryDays != 0 {
			rot.EveryDays = &r.EveryDays
		}
		out.Rotation = nullable.NewNullableWithValue(rot)
	}
	return out
}

func withPassword(c device.Created, now time.Time) api.DeviceWithPassword {
	return api.DeviceWithPassword{Device: deviceAnswer(c.Device, now), Password: c.Password}
}

func mailboxAnswer(m device.Mailbox) api.Mailbox {
	return api.Mailbox{Address: m.Address, Owner: m.Owner, DeviceCount: m.Live, CreatedAt: timeJSON(m.CreatedAt), CreatedBy: m.CreatedBy}
}

// enrollmentAnswer returns the client's view of e at now: never its
// token, which only the create answer carries, once.
func enrollmentAnswer(e device.Enrollment, now time.Time) api.Enrollment {
	out := api.Enrollment{
		Id:              e.ID,
		Mailbox:         e.Mailbox,
		Name:            e.Name,
		User:            nullString(e.User),
		Scopes:          scopesJSON(e.Scopes),
		DeviceExpiresAt: nullTime(e.DeviceExpiresAt),
		DeviceValidFor:  nullable.NewNullNullable[string](),
		ExpiresAt:       timeJSON(e.ExpiresAt),
		Status:          api.EnrollmentStatus(e.EffectiveStatus(now)),
		CreatedAt:       timeJSON(e.CreatedAt),
		CreatedBy:       e.CreatedBy,
		UsedAt:          nullTime(e.UsedAt),
		UsedBy:          nullString(e.UsedBy),
		DeviceId:        nullString(e.DeviceID),
	}
	if e.DeviceValidFor > 0 {
		out.DeviceValidFor = nullable.NewNullableWithValue(durationJSON(e.DeviceValidFor))
	}
	return out
}

// auditAnswer returns the client's view of one audit entry: who did
// what, when, from where, to which device; the event's other members (the
// secret's ARN and version among them) stay out of the listing.
func auditAnswer(ev lifecycle.Event) api.AuditEvent {
	out := api.AuditEvent{
		Id:           ev.ID,
		Type:         ev.Type,
		Time:         timeJSON(ev.Time),
		Mailbox:      ev.Mailbox,
		DeviceId:     nullString(ev.DeviceID),
		EnrollmentId: nullString(ev.Enrollment),
		Actor: api.AuditActor{
			Kind:      api.AuditActorKind(ev.Actor.Kind),
			Subject:   nullString(ev.Actor.Subject),
			SourceIp:  nullString(ev.Actor.SourceIP),
			UserAgent: nullString(ev.Actor.UserAgent),
			RequestId: nullString(ev.Actor.RequestID),
		},
		Device:        nullable.NewNullNullable[api.AuditDevice](),
		Enrollment:    nullable.NewNullNullable[api.AuditEnrollment](),
		Owner:         nullString(ev.Owner),
		PreviousOwner: nullString(ev.PreviousOwner),
	}
	if d := ev.Device; d != nil {
		ad := api.AuditDevice{Name: d.Name, Status: d.Status, Scopes: scopesJSON(d.Scopes), User: nullString(d.User), ExpiresAt: nullable.NewNullNullable[string]()}
		if d.ExpiresAt != nil {
			ad.ExpiresAt = nullTime(*d.ExpiresAt)
		}
		out.Device = nullable.NewNullableWithValue(ad)
	}
	if e := ev.EnrollmentInfo; e != nil {
		out.Enrollment = nullable.NewNullableWithValue(api.AuditEnrollment{Name: e.Name, User: nullString(e.User), Status: e.Status, ExpiresAt: timeJSON(e.ExpiresAt), UsedBy: nullString(e.UsedBy)})
	}
	return out
}
