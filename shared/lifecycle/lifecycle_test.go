package lifecycle_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// change is one fixture of testdata/*_changes.json: the item before and
// after, each given as fields over a base item (absent: no item), and the
// event type it must make ("" for none).
type change struct {
	Name string          `json:"name"`
	Old  json.RawMessage `json:"old"`
	New  json.RawMessage `json:"new"`
	Want string          `json:"want"`
}

func loadChanges(t *testing.T, file string) []change {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var cs []change
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(cs) == 0 {
		t.Fatalf("%s holds no cases", file)
	}
	return cs
}

// over returns a copy of base with the fixture's fields applied, or nil
// when the fixture has no item.
func over[T any](t *testing.T, base T, patch json.RawMessage) *T {
	t.Helper()
	if len(patch) == 0 {
		return nil
	}
	v := base
	if err := json.Unmarshal(patch, &v); err != nil {
		t.Fatalf("fixture %s: %v", patch, err)
	}
	return &v
}

var (
	created = time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	updated = time.Date(2026, 11, 27, 10, 0, 0, 5, time.UTC)
	rotated = time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	record  = time.Date(2026, 11, 27, 10, 31, 0, 0, time.UTC) // the stream record's coarse time
	alice   = device.Actor{Kind: device.ActorUser, Subject: "alice", SourceIP: "192.0.2.1", UserAgent: "curl/8", RequestID: "req-1"}
)

func baseDevice() device.Device {
	return device.Device{
		Mailbox: "alice@example.com", ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Name: "Laptop", Scopes: device.DefaultScopes(),
		Status: device.StatusActive, CreatedAt: created, UpdatedAt: updated, RotatedAt: rotated,
		SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:devicepass/alice@example.com/aaaaaaaaaaaaaaaaaaaaaaaaaa-AbCdEf",
		Current:   &device.Verifier{Version: "v1", Hash: "hash-v1"}, LastActor: alice, Version: 1,
	}
}

func TestDeviceEvents(t *testing.T) {
	t.Parallel()
	for _, c := range loadChanges(t, "device_changes.json") {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ch := lifecycle.DeviceChange{ID: "rec-1", Time: record, Old: over(t, baseDevice(), c.Old), New: over(t, baseDevice(), c.New)}
			evs := lifecycle.DeviceEvents(ch)
			if c.Want == "" {
				if len(evs) != 0 {
					t.Fatalf("DeviceEvents = %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("DeviceEvents made %d events, want one %s", len(evs), c.Want)
			}
			ev := evs[0]
			if ev.Type != c.Want {
				t.Errorf("type = %q, want %q", ev.Type, c.Want)
			}
			d := ch.New
			if ev.ID != "rec-1" || ev.Version != lifecycle.SchemaVersion || ev.Mailbox != d.Mailbox || ev.DeviceID != d.ID {
				t.Errorf("id %q version %q mailbox %q device %q, want rec-1, %s, %s, %s", ev.ID, ev.Version, ev.Mailbox, ev.DeviceID, lifecycle.SchemaVersion, d.Mailbox, d.ID)
			}
			want := updated
			switch c.Want {
			case lifecycle.DeviceCreated:
				want = created
			case lifecycle.PasswordRegenerated, lifecycle.PasswordRotated:
				want = rotated
			}
			if !ev.Time.Equal(want) {
				t.Errorf("time = %s, want the item's own %s", ev.Time, want)
			}
			if ev.Actor != (lifecycle.Actor{Kind: "user", Subject: "alice", SourceIP: "192.0.2.1", UserAgent: "curl/8", RequestID: "req-1"}) {
				t.Errorf("actor = %+v, want the item's last actor", ev.Actor)
			}
			if ev.Device == nil || ev.Device.Name != d.Name || ev.Device.Status != string(d.Status) || ev.Device.SecretARN != d.SecretARN {
				t.Errorf("device info = %+v, want the new item's metadata", ev.Device)
			}
			assertNoVerifier(t, ev)
		})
	}
}

// assertNoVerifier fails if the event's JSON holds a verifier hash of the
// fixtures (every hash there starts with "hash-").
func assertNoVerifier(t *testing.T, ev lifecycle.Event) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hash-") || strings.Contains(strings.ToLower(string(b)), "password\"") {
		t.Errorf("event JSON holds a verifier or password: %s", b)
	}
}

func TestDeviceEventTimeFallsBackToTheRecord(t *testing.T) {
	t.Parallel()
	d := baseDevice()
	d.CreatedAt = time.Time{}
	evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "r", Time: record, New: &d})
	if len(evs) != 1 || !evs[0].Time.Equal(record) {
		t.Fatalf("events %+v, want one at the record's time %s", evs, record)
	}
}

func TestDeviceEventsJSONShape(t *testing.T) {
	t.Parallel()
	d := baseDevice()
	d.ExpiresAt = time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "r", Time: record, New: &d})
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "id", "type", "time", "mailbox", "deviceId", "actor", "device"} {
		if _, ok := m[k]; !ok {
			t.Errorf("event JSON lacks %q: %s", k, b)
		}
	}
	info := m["device"].(map[string]any)
	if info["expiresAt"] != "2026-11-30T23:00:00Z" || info["secretVersion"] != "v1" {
		t.Errorf("device info %v, want expiresAt in UTC and the current secret version", info)
	}
	if _, ok := info["scopes"].([]any); !ok {
		t.Errorf("scopes %v is not an array", info["scopes"])
	}
}

func baseEnrollment() device.Enrollment {
	return device.Enrollment{
		ID: "enrollment-keyed-hash", Mailbox: "alice@example.com", Name: "Bob's phone", User: "bob",
		Scopes: []device.Scope{device.ScopeIMAP}, DeviceValidFor: 48 * time.Hour,
		ExpiresAt: created.Add(24 * time.Hour), CreatedAt: created, CreatedBy: "admin",
		Status: device.EnrollmentOpen, LastActor: alice,
	}
}

func TestEnrollmentEvents(t *testing.T) {
	t.Parallel()
	for _, c := range loadChanges(t, "enrollment_changes.json") {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ch := lifecycle.EnrollmentChange{ID: "rec-2", Time: record, Old: over(t, baseEnrollment(), c.Old), New: over(t, baseEnrollment(), c.New)}
			evs := lifecycle.EnrollmentEvents(ch)
			if c.Want == "" {
				if len(evs) != 0 {
					t.Fatalf("EnrollmentEvents = %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Type != c.Want {
				t.Fatalf("EnrollmentEvents = %+v, want one %s", evs, c.Want)
			}
			ev := evs[0]
			if ev.Enrollment != "enrollment-keyed-hash" || ev.Mailbox != "alice@example.com" || ev.EnrollmentInfo == nil || ev.EnrollmentInfo.Name != "Bob's phone" || ev.EnrollmentInfo.DeviceValidFor != "48h0m0s" {
				t.Errorf("event %+v (info %+v) lacks the enrollment's id, mailbox or description", ev, ev.EnrollmentInfo)
			}
			switch c.Want {
			case lifecycle.EnrollmentUsed:
				if ev.DeviceID != "dddddddddddddddddddddddddd" || ev.EnrollmentInfo.UsedBy != "bob" || !ev.Time.Equal(time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)) {
					t.Errorf("used event %+v: want the device made, who used it, and when", ev)
				}
			case lifecycle.EnrollmentCreated:
				if ev.DeviceID != "" || !ev.Time.Equal(created) {
					t.Errorf("created event %+v: want no device and the creation time", ev)
				}
			case lifecycle.EnrollmentCancelled:
				if !ev.Time.Equal(record) {
					t.Errorf("cancelled at %s, want the record's time", ev.Time)
				}
			}
		})
	}
}

func baseMailbox() device.Mailbox {
	return device.Mailbox{Address: "alice@example.com", Owner: "alice", CreatedAt: created, CreatedBy: "admin", UpdatedAt: created, Version: 1}
}

func TestMailboxEvents(t *testing.T) {
	t.Parallel()
	admin := device.Actor{Kind: device.ActorUser, Subject: "admin"}
	for _, c := range loadChanges(t, "mailbox_changes.json") {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ch := lifecycle.MailboxChange{ID: "rec-3", Time: record, Old: over(t, baseMailbox(), c.Old), New: over(t, baseMailbox(), c.New), Actor: admin}
			evs := lifecycle.MailboxEvents(ch)
			if c.Want == "" {
				if len(evs) != 0 {
					t.Fatalf("MailboxEvents = %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Type != c.Want {
				t.Fatalf("MailboxEvents = %+v, want one %s", evs, c.Want)
			}
			ev := evs[0]
			if ev.Actor.Subject != "admin" || ev.Owner != ch.New.Owner {
				t.Errorf("event %+v: want the admin as actor and the new owner", ev)
			}
			if c.Want == lifecycle.MailboxOwnerChanged && ev.PreviousOwner != "alice" {
				t.Errorf("previous owner %q, want alice", ev.PreviousOwner)
			}
		})
	}
}

func TestMailboxRegisteredWithoutRecordedActor(t *testing.T) {
	t.Parallel()
	m := baseMailbox()
	evs := lifecycle.MailboxEvents(lifecycle.MailboxChange{ID: "r", Time: record, New: &m})
	if len(evs) != 1 || evs[0].Actor.Subject != "admin" || evs[0].Actor.Kind != device.ActorUser {
		t.Fatalf("events %+v, want the creator as the actor", evs)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]bool{
		lifecycle.DeviceCreated: true, lifecycle.EnrollmentUsed: true,
		lifecycle.DeviceRevoked: false, lifecycle.PasswordRotated: false, lifecycle.EnrollmentCreated: false,
	} {
		if got := lifecycle.Notify(typ); got != want {
			t.Errorf("Notify(%s) = %v, want %v", typ, got, want)
		}
	}
}

// TestRotationFailedEvent: a newly recorded rotation failure is one
// rotation.failed event at the failure's time, for the administrators;
// the same failure seen again, or its removal by a later rotation, is
// none.
func TestRotationFailedEvent(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 12, 40, 0, time.UTC)
	old := &device.Device{Mailbox: "alice@example.com", ID: "d1", Name: "Phone", Status: device.StatusActive}
	cur := *old
	cur.RotationError, cur.RotationErrorKind, cur.RotationErrorID, cur.RotationErrorAt = "during createSecret step", device.FailureRotationFailed, "ev-1", at
	cur.LastActor = device.Actor{Kind: device.ActorRotation, Subject: "secretsmanager"}
	evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "rec-1", Time: at.Add(time.Second), Old: old, New: &cur})
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one", evs)
	}
	ev := evs[0]
	if ev.Type != lifecycle.RotationFailed || !ev.Time.Equal(at) || ev.Failure == nil || *ev.Failure != (lifecycle.FailureInfo{Kind: device.FailureRotationFailed, Message: "during createSecret step", Source: "ev-1"}) {
		t.Fatalf("event = %+v (failure %+v)", ev, ev.Failure)
	}
	if !lifecycle.Notifies(ev) || lifecycle.Audience(ev) != lifecycle.AudienceAdmins {
		t.Fatalf("notice: %v to %q; want the administrators'", lifecycle.Notifies(ev), lifecycle.Audience(ev))
	}
	again := cur
	if evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "rec-2", Time: at, Old: &cur, New: &again}); len(evs) != 0 {
		t.Fatalf("the same failure again made %+v", evs)
	}
	cleared := cur
	cleared.RotationError, cleared.RotationErrorKind, cleared.RotationErrorID, cleared.RotationErrorAt = "", "", "", time.Time{}
	if evs := lifecycle.DeviceEvents(lifecycle.DeviceChange{ID: "rec-3", Time: at, Old: &cur, New: &cleared}); len(evs) != 0 {
		t.Fatalf("clearing the failure made %+v", evs)
	}
	if lifecycle.Audience(lifecycle.Event{Type: lifecycle.DeviceCreated}) != lifecycle.AudienceOwner {
		t.Fatal("a device.created notice is not the owner's")
	}
}
