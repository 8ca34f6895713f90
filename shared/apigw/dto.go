package apigw

import (
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// The answers' JSON shapes. They are written out field by field, never
// derived from the domain types, so that a verifier, a pending version or
// any field added to device.Device later cannot leak into an answer.

type deviceJSON struct {
	ID               string        `json:"id"`
	Mailbox          string        `json:"mailbox"`
	Name             string        `json:"name"`
	Note             string        `json:"note"`
	User             string        `json:"user,omitempty"`
	Status           string        `json:"status"`
	Scopes           []string      `json:"scopes"`
	AllowIPs         []string      `json:"allowIps"`
	CreatedAt        string        `json:"createdAt"`
	CreatedBy        string        `json:"createdBy"`
	UpdatedAt        string        `json:"updatedAt"`
	RotatedAt        string        `json:"rotatedAt"`
	ExpiresAt        *string       `json:"expiresAt"`
	LastUsedAt       *string       `json:"lastUsedAt"`
	LastUsedProtocol *string       `json:"lastUsedProtocol"`
	LastUsedIP       *string       `json:"lastUsedIp"`
	Rotation         *rotationJSON `json:"rotation"`
	SecretARN        string        `json:"secretArn"`
}

type rotationJSON struct {
	EveryDays int    `json:"everyDays,omitempty"`
	Schedule  string `json:"schedule,omitempty"`
	Duration  string `json:"duration,omitempty"`
	Grace     string `json:"grace"`
}

type createdJSON struct {
	Device   deviceJSON `json:"device"`
	Password string     `json:"password"`
}

type pageJSON struct {
	Items []deviceJSON `json:"items"`
	Next  *string      `json:"next"`
}

type mailboxJSON struct {
	Address     string `json:"address"`
	Owner       string `json:"owner"`
	DeviceCount int    `json:"deviceCount"`
	CreatedAt   string `json:"createdAt"`
	CreatedBy   string `json:"createdBy"`
}

type revokedJSON struct {
	Revoked int `json:"revoked"`
}

type verifiedJSON struct {
	Valid bool `json:"valid"`
}

func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeJSON(t)
	return &s
}

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

// newDeviceJSON returns the client's view of d at now.
func newDeviceJSON(d device.Device, now time.Time) deviceJSON {
	out := deviceJSON{
		ID:               d.ID,
		Mailbox:          d.Mailbox,
		Name:             d.Name,
		Note:             d.Note,
		User:             d.User,
		Status:           string(d.EffectiveStatus(now)),
		Scopes:           make([]string, 0, len(d.Scopes)),
		AllowIPs:         make([]string, 0, len(d.AllowIPs)),
		CreatedAt:        timeJSON(d.CreatedAt),
		CreatedBy:        d.CreatedBy,
		UpdatedAt:        timeJSON(d.UpdatedAt),
		RotatedAt:        timeJSON(d.RotatedAt),
		ExpiresAt:        optTime(d.ExpiresAt),
		LastUsedAt:       optTime(d.LastUsedAt),
		LastUsedProtocol: optString(string(d.LastUsedProtocol)),
		LastUsedIP:       optString(d.LastUsedIP),
		SecretARN:        d.SecretARN,
	}
	for _, s := range d.Scopes {
		out.Scopes = append(out.Scopes, string(s))
	}
	for _, p := range d.AllowIPs {
		out.AllowIPs = append(out.AllowIPs, p.String())
	}
	if r := d.Rotation; r != nil {
		out.Rotation = &rotationJSON{EveryDays: r.EveryDays, Schedule: r.Schedule, Duration: r.Window, Grace: durationJSON(r.Grace)}
	}
	return out
}

func newMailboxJSON(m device.Mailbox) mailboxJSON {
	return mailboxJSON{Address: m.Address, Owner: m.Owner, DeviceCount: m.Live, CreatedAt: timeJSON(m.CreatedAt), CreatedBy: m.CreatedBy}
}

type enrollmentJSON struct {
	ID              string   `json:"id"`
	Mailbox         string   `json:"mailbox"`
	Name            string   `json:"name"`
	User            *string  `json:"user"`
	Scopes          []string `json:"scopes"`
	DeviceExpiresAt *string  `json:"deviceExpiresAt"`
	DeviceValidFor  *string  `json:"deviceValidFor"`
	ExpiresAt       string   `json:"expiresAt"`
	Status          string   `json:"status"`
	CreatedAt       string   `json:"createdAt"`
	CreatedBy       string   `json:"createdBy"`
	UsedAt          *string  `json:"usedAt"`
	UsedBy          *string  `json:"usedBy"`
	DeviceID        *string  `json:"deviceId"`
}

type enrollmentCreatedJSON struct {
	Enrollment enrollmentJSON `json:"enrollment"`
	Token      string         `json:"token"`
}

// newEnrollmentJSON returns the client's view of e at now: never its
// token, which only the create answer carries, once.
func newEnrollmentJSON(e device.Enrollment, now time.Time) enrollmentJSON {
	out := enrollmentJSON{
		ID:              e.ID,
		Mailbox:         e.Mailbox,
		Name:            e.Name,
		User:            optString(e.User),
		Scopes:          make([]string, 0, len(e.Scopes)),
		DeviceExpiresAt: optTime(e.DeviceExpiresAt),
		ExpiresAt:       timeJSON(e.ExpiresAt),
		Status:          string(e.EffectiveStatus(now)),
		CreatedAt:       timeJSON(e.CreatedAt),
		CreatedBy:       e.CreatedBy,
		UsedAt:          optTime(e.UsedAt),
		UsedBy:          optString(e.UsedBy),
		DeviceID:        optString(e.DeviceID),
	}
	for _, s := range e.Scopes {
		out.Scopes = append(out.Scopes, string(s))
	}
	if e.DeviceValidFor > 0 {
		v := durationJSON(e.DeviceValidFor)
		out.DeviceValidFor = &v
	}
	return out
}

type auditActorJSON struct {
	Kind      string  `json:"kind"`
	Subject   *string `json:"subject"`
	SourceIP  *string `json:"sourceIp"`
	UserAgent *string `json:"userAgent"`
	RequestID *string `json:"requestId"`
}

type auditDeviceJSON struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	Scopes    []string `json:"scopes"`
	User      *string  `json:"user"`
	ExpiresAt *string  `json:"expiresAt"`
}

type auditEnrollmentJSON struct {
	Name      string  `json:"name"`
	User      *string `json:"user"`
	Status    string  `json:"status"`
	ExpiresAt string  `json:"expiresAt"`
	UsedBy    *string `json:"usedBy"`
}

type auditEventJSON struct {
	ID            string               `json:"id"`
	Type          string               `json:"type"`
	Time          string               `json:"time"`
	Mailbox       string               `json:"mailbox"`
	DeviceID      *string              `json:"deviceId"`
	EnrollmentID  *string              `json:"enrollmentId"`
	Actor         auditActorJSON       `json:"actor"`
	Device        *auditDeviceJSON     `json:"device"`
	Enrollment    *auditEnrollmentJSON `json:"enrollment"`
	Owner         *string              `json:"owner"`
	PreviousOwner *string              `json:"previousOwner"`
}

type auditPageJSON struct {
	Items []auditEventJSON `json:"items"`
	Next  *string          `json:"next"`
}

// newAuditEventJSON returns the client's view of one audit entry: who did
// what, when, from where, to which device; the event's other members (the
// secret's ARN and version among them) stay out of the listing.
func newAuditEventJSON(ev lifecycle.Event) auditEventJSON {
	out := auditEventJSON{
		ID:           ev.ID,
		Type:         ev.Type,
		Time:         timeJSON(ev.Time),
		Mailbox:      ev.Mailbox,
		DeviceID:     optString(ev.DeviceID),
		EnrollmentID: optString(ev.Enrollment),
		Actor: auditActorJSON{
			Kind:      ev.Actor.Kind,
			Subject:   optString(ev.Actor.Subject),
			SourceIP:  optString(ev.Actor.SourceIP),
			UserAgent: optString(ev.Actor.UserAgent),
			RequestID: optString(ev.Actor.RequestID),
		},
	}
	if d := ev.Device; d != nil {
		dj := &auditDeviceJSON{Name: d.Name, Status: d.Status, Scopes: make([]string, 0, len(d.Scopes)), User: optString(d.User)}
		dj.Scopes = append(dj.Scopes, d.Scopes...)
		if d.ExpiresAt != nil {
			dj.ExpiresAt = optTime(*d.ExpiresAt)
		}
		out.Device = dj
	}
	if e := ev.EnrollmentInfo; e != nil {
		out.Enrollment = &auditEnrollmentJSON{Name: e.Name, User: optString(e.User), Status: e.Status, ExpiresAt: timeJSON(e.ExpiresAt), UsedBy: optString(e.UsedBy)}
	}
	out.Owner, out.PreviousOwner = optString(ev.Owner), optString(ev.PreviousOwner)
	return out
}
