package devicetest

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/verifier"
)

// StoreSuite runs the contract of Store against the stores
// newStore returns. Every subtest uses its own mailboxes, so newStore may
// return one store (one table) for all of them; subtests run in parallel.
func StoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"SaveMailbox", testSaveMailbox},
		{"Lookup", testLookup},
		{"CreateDeviceRoundTrip", testCreateRoundTrip},
		{"CreateDeviceRefusals", testCreateRefusals},
		{"CapUnderConcurrency", testCapConcurrent},
		{"CapFreedByEnd", testCapFreedByEnd},
		{"GetDeviceNotFound", testGetNotFound},
		{"ListDevicesPagination", testListPagination},
		{"ListDevicesBadCursor", testListBadCursor},
		{"UpdateDevice", testUpdateDevice},
		{"UpdateDeviceConflicts", testUpdateConflicts},
		{"EndDevice", testEndDevice},
		{"RotationWithDeviceGrace", testRotationGrace},
		{"RotationWithFixedUntil", testRotationFixedUntil},
		{"RotationTakeover", testRotationTakeover},
		{"ScheduledRotationYieldsToRegenerate", testRegenerateHold},
		{"BeginRotationRefusals", testBeginRefusals},
		{"RotationOnMissingDevice", testRotationMissing},
		{"Candidates", testCandidates},
		{"RecordFailureWindows", testRecordFailure},
		{"RecordFailureConcurrent", testRecordFailureConcurrent},
		{"TouchLastUsed", testTouchLastUsed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// --- helpers ---

// uniqueMailbox returns an address no other subtest uses.
func uniqueMailbox(t *testing.T) string {
	t.Helper()
	return "s" + randomHex(t, 6) + "@suite.example"
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

var idEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random device id of the shape the service makes.
func NewID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return idEnc.EncodeToString(b)
}

// NewVersion returns a random version id (a UUID, as Secrets Manager wants).
func NewVersion(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// baseTime is a fixed instant in the future of the stand-ins' clocks, at
// millisecond precision so every store keeps it exactly.
var baseTime = time.Date(2031, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// WantCode fails the test unless err carries code.
func WantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// mustOK fails the test on err.
func mustOK(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func seedMailbox(t *testing.T, s Store, owner string) string {
	t.Helper()
	mbx := uniqueMailbox(t)
	_, _, err := s.SaveMailbox(context.Background(), mbx, owner, "admin", baseTime)
	mustOK(t, err, "save mailbox")
	return mbx
}

// newDevice returns an active device of mbx with a current verifier.
func newDevice(t *testing.T, mbx string) device.Device {
	t.Helper()
	id := NewID(t)
	return device.Device{
		Mailbox: mbx, ID: id, Name: "phone " + id[:4],
		Scopes: device.DefaultScopes(), Status: device.StatusActive,
		CreatedAt: baseTime, CreatedBy: "creator", UpdatedAt: baseTime, RotatedAt: baseTime,
		SecretARN: ARNPrefix + "suite/" + mbx + "/" + id + "-AbCdEf",
		Current:   &device.Verifier{Version: NewVersion(t), Hash: verifier.Hash("h-" + randomHex(t, 8))},
		Grace:     90 * time.Minute,
		Version:   1,
	}
}

func createDevice(t *testing.T, s Store, d device.Device) device.Device {
	t.Helper()
	mustOK(t, s.CreateDevice(context.Background(), d, "owner", 50, nil), "create device")
	return d
}

func liveCount(t *testing.T, s Store, mbx string) int {
	t.Helper()
	lr, err := s.Lookup(context.Background(), device.LookupQuery{Mailbox: mbx})
	mustOK(t, err, "lookup")
	if lr.Mailbox == nil {
		t.Fatalf("mailbox %s is missing", mbx)
	}
	return lr.Mailbox.Live
}

func getDevice(t *testing.T, s Store, mbx, id string) device.Device {
	t.Helper()
	d, err := s.GetDevice(context.Background(), mbx, id)
	mustOK(t, err, "get device")
	return d
}

func verString(v *device.Verifier) string {
	if v == nil {
		return "<nil>"
	}
	return v.Version + "/" + string(v.Hash)
}

func wantVerifier(t *testing.T, what string, got *device.Verifier, version string, hash verifier.Hash) {
	t.Helper()
	if version == "" {
		if got != nil {
			t.Fatalf("%s = %s, want none", what, verString(got))
		}
		return
	}
	if got == nil || got.Version != version || got.Hash != hash {
		t.Fatalf("%s = %s, want %s/%s", what, verString(got), version, hash)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// --- mailboxes and lookups ---

func testSaveMailbox(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := uniqueMailbox(t)
	m, created, err := s.SaveMailbox(ctx, mbx, "owner-1", "admin-1", baseTime)
	mustOK(t, err, "save mailbox")
	if !created || m.Address != mbx || m.Owner != "owner-1" || m.CreatedBy != "admin-1" || m.Live != 0 || m.Version != 1 {
		t.Fatalf("first save = %+v, created %v; want a new mailbox of owner-1 by admin-1, version 1", m, created)
	}
	wantTime(t, "createdAt", m.CreatedAt, baseTime)

	later := baseTime.Add(time.Minute)
	m, created, err = s.SaveMailbox(ctx, mbx, "owner-2", "admin-2", later)
	mustOK(t, err, "save mailbox again")
	if created || m.Owner != "owner-2" || m.CreatedBy != "admin-1" || m.Version != 2 || m.Live != 0 {
		t.Fatalf("second save = %+v, created %v; want owner-2, createdBy admin-1, version 2, not created", m, created)
	}
	wantTime(t, "createdAt after change", m.CreatedAt, baseTime)
	wantTime(t, "updatedAt", m.UpdatedAt, later)

	lr, err := s.Lookup(ctx, device.LookupQuery{Mailbox: mbx})
	mustOK(t, err, "lookup")
	if lr.Mailbox == nil || lr.Mailbox.Owner != "owner-2" || lr.Mailbox.Version != 2 {
		t.Fatalf("lookup = %+v, want owner-2 version 2", lr.Mailbox)
	}
}

func testLookup(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := uniqueMailbox(t)
	lr, err := s.Lookup(ctx, device.LookupQuery{Mailbox: mbx, DeviceID: NewID(t), Idempotency: verifier.Hash("k-" + randomHex(t, 8))})
	mustOK(t, err, "lookup of nothing")
	if lr.Mailbox != nil || lr.Device != nil || lr.Idempotency != nil {
		t.Fatalf("lookup of nothing = %+v, want all nil", lr)
	}

	mbx = seedMailbox(t, s, "owner")
	d := newDevice(t, mbx)
	exp := baseTime.Add(24*time.Hour + 700*time.Millisecond)
	rec := &device.IdempotencyRecord{Key: verifier.Hash("k-" + randomHex(t, 8)), Mailbox: mbx, DeviceID: d.ID, Fingerprint: "fp-1", Expires: exp}
	mustOK(t, s.CreateDevice(ctx, d, "owner", 5, rec), "create device")

	lr, err = s.Lookup(ctx, device.LookupQuery{Mailbox: mbx, DeviceID: d.ID, Idempotency: rec.Key})
	mustOK(t, err, "lookup")
	if lr.Mailbox == nil || lr.Mailbox.Live != 1 || lr.Mailbox.Owner != "owner" {
		t.Fatalf("mailbox = %+v, want owner's with 1 live device", lr.Mailbox)
	}
	if lr.Device == nil || lr.Device.ID != d.ID || lr.Device.Name != d.Name {
		t.Fatalf("device = %+v, want %s", lr.Device, d.ID)
	}
	r := lr.Idempotency
	if r == nil || r.Key != rec.Key || r.Mailbox != mbx || r.DeviceID != d.ID || r.Fingerprint != "fp-1" {
		t.Fatalf("idempotency record = %+v, want %+v", r, rec)
	}
	wantTime(t, "record expiry (whole seconds)", r.Expires, exp.Truncate(time.Second))

	lr, err = s.Lookup(ctx, device.LookupQuery{Mailbox: mbx, DeviceID: NewID(t)})
	mustOK(t, err, "lookup of another id")
	if lr.Mailbox == nil || lr.Device != nil || lr.Idempotency != nil {
		t.Fatalf("lookup of another id = %+v, want the mailbox only", lr)
	}
}

// --- creating devices ---

func testCreateRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := newDevice(t, mbx)
	d.Note = "line one\nline two, ünïcödé"
	d.User = "user-sub-1"
	d.Scopes = []device.Scope{device.ScopeIMAP, device.ScopeCardDAV}
	d.AllowIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.1/32")}
	d.ExpiresAt = baseTime.Add(30*24*time.Hour + 123456789*time.Nanosecond)
	d.Rotation = &device.RotationPolicy{Schedule: "rate(10 days)", Window: "3h", Grace: 3 * time.Hour}
	d.Grace = 3 * time.Hour
	mustOK(t, s.CreateDevice(ctx, d, "owner", 5, nil), "create device")

	got := getDevice(t, s, mbx, d.ID)
	if got.Mailbox != mbx || got.ID != d.ID || got.Name != d.Name || got.Note != d.Note || got.User != d.User ||
		got.Status != device.StatusActive || got.CreatedBy != "creator" || got.SecretARN != d.SecretARN || got.Version != 1 || got.Grace != d.Grace {
		t.Fatalf("stored device = %+v, want %+v", got, d)
	}
	if !slices.Equal(got.Scopes, d.Scopes) || !slices.Equal(got.AllowIPs, d.AllowIPs) {
		t.Fatalf("scopes, allow-list = %v %v, want %v %v", got.Scopes, got.AllowIPs, d.Scopes, d.AllowIPs)
	}
	if got.Rotation == nil || *got.Rotation != *d.Rotation {
		t.Fatalf("rotation = %+v, want %+v", got.Rotation, d.Rotation)
	}
	wantTime(t, "expiresAt", got.ExpiresAt, d.ExpiresAt)
	wantTime(t, "createdAt", got.CreatedAt, baseTime)
	wantTime(t, "rotatedAt", got.RotatedAt, baseTime)
	wantVerifier(t, "current", got.Current, d.Current.Version, d.Current.Hash)
	wantVerifier(t, "previous", got.Previous, "", "")
	wantVerifier(t, "pending", got.Pending, "", "")
	if !got.LastUsedAt.IsZero() {
		t.Fatalf("lastUsedAt = %s, want zero", got.LastUsedAt)
	}
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d, want 1", n)
	}

	// A device with the defaults: no note, user, allow-list, expiry, rotation.
	plain := newDevice(t, mbx)
	createDevice(t, s, plain)
	got = getDevice(t, s, mbx, plain.ID)
	if got.Note != "" || got.User != "" || len(got.AllowIPs) != 0 || !got.ExpiresAt.IsZero() || got.Rotation != nil {
		t.Fatalf("plain device = %+v, want no note, user, allow-list, expiry or rotation", got)
	}
	if !slices.Equal(got.Scopes, device.DefaultScopes()) {
		t.Fatalf("scopes = %v, want %v", got.Scopes, device.DefaultScopes())
	}
}

func testCreateRefusals(t *testing.T, s Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup returns the device to create, the owner to create it as,
		// the cap and the idempotency record.
		setup func(t *testing.T, mbx string) (device.Device, string, int, *device.IdempotencyRecord)
		want  apperr.Code
	}{
		{"device exists", func(t *testing.T, mbx string) (device.Device, string, int, *device.IdempotencyRecord) {
			d := createDevice(t, s, newDevice(t, mbx))
			d.Name = "second attempt"
			return d, "owner", 5, nil
		}, apperr.Conflict},
		{"owner changed", func(t *testing.T, mbx string) (device.Device, string, int, *device.IdempotencyRecord) {
			return newDevice(t, mbx), "someone-else", 5, nil
		}, apperr.NotFound},
		{"cap reached", func(t *testing.T, mbx string) (device.Device, string, int, *device.IdempotencyRecord) {
			createDevice(t, s, newDevice(t, mbx))
			createDevice(t, s, newDevice(t, mbx))
			return newDevice(t, mbx), "owner", 2, nil
		}, apperr.LimitReached},
		{"idempotency record exists", func(t *testing.T, mbx string) (device.Device, string, int, *device.IdempotencyRecord) {
			first := newDevice(t, mbx)
			rec := &device.IdempotencyRecord{Key: verifier.Hash("k-" + randomHex(t, 8)), Mailbox: mbx, DeviceID: first.ID, Fingerprint: "fp", Expires: baseTime.Add(time.Hour)}
			mustOK(t, s.CreateDevice(ctx, first, "owner", 5, rec), "create first device")
			second := *rec
			d := newDevice(t, mbx)
			second.DeviceID = d.ID
			return d, "owner", 5, &second
		}, apperr.Conflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbx := seedMailbox(t, s, "owner")
			d, owner, maxLive, rec := tc.setup(t, mbx)
			liveBefore := liveCount(t, s, mbx)
			err := s.CreateDevice(ctx, d, owner, maxLive, rec)
			WantCode(t, err, tc.want)
			if n := liveCount(t, s, mbx); n != liveBefore {
				t.Fatalf("live = %d after a refused create, want %d", n, liveBefore)
			}
			got, err := s.GetDevice(ctx, mbx, d.ID)
			if tc.want == apperr.Conflict && rec == nil {
				mustOK(t, err, "get existing device")
				if got.Name == d.Name {
					t.Fatalf("the refused create overwrote the existing device")
				}
				return
			}
			WantCode(t, err, apperr.NotFound)
		})
	}
	t.Run("mailbox missing", func(t *testing.T) {
		mbx := uniqueMailbox(t)
		d := newDevice(t, mbx)
		WantCode(t, s.CreateDevice(ctx, d, "owner", 5, nil), apperr.NotFound)
		_, err := s.GetDevice(ctx, mbx, d.ID)
		WantCode(t, err, apperr.NotFound)
	})
}

func testCapConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	const tries, limit = 20, 5
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		d := newDevice(t, mbx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateDevice(ctx, d, "owner", limit, nil)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case apperr.Is(err, apperr.LimitReached):
		default:
			// DynamoDB may refuse a transaction that conflicts with
			// another in flight; that is a retryable refusal, never a
			// success over the cap.
			if !apperr.Is(err, apperr.Unavailable) {
				t.Fatalf("unexpected error: %v", err)
			}
		}
	}
	if ok != limit {
		t.Fatalf("%d creates succeeded against a cap of %d", ok, limit)
	}
	if n := liveCount(t, s, mbx); n != limit {
		t.Fatalf("live = %d, want %d", n, limit)
	}
	ds, _, err := s.ListDevices(ctx, mbx, "", 100)
	mustOK(t, err, "list")
	if len(ds) != limit {
		t.Fatalf("%d devices stored, want %d", len(ds), limit)
	}
}

func testCapFreedByEnd(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	first := newDevice(t, mbx)
	mustOK(t, s.CreateDevice(ctx, first, "owner", 1, nil), "create first")
	WantCode(t, s.CreateDevice(ctx, newDevice(t, mbx), "owner", 1, nil), apperr.LimitReached)
	_, err := s.EndDevice(ctx, first, device.StatusRevoked, "admin", baseTime)
	mustOK(t, err, "end first")
	mustOK(t, s.CreateDevice(ctx, newDevice(t, mbx), "owner", 1, nil), "create after end")
}

func testGetNotFound(t *testing.T, s Store) {
	mbx := seedMailbox(t, s, "owner")
	_, err := s.GetDevice(context.Background(), mbx, NewID(t))
	WantCode(t, err, apperr.NotFound)
}

// --- listing ---

func testListPagination(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	other := seedMailbox(t, s, "owner")
	createDevice(t, s, newDevice(t, other))
	var want []string
	for range 7 {
		want = append(want, createDevice(t, s, newDevice(t, mbx)).ID)
	}
	sort.Strings(want)
	// A failure counter shares the partition; it must not show as a device.
	_, err := s.RecordFailure(ctx, mbx, baseTime, baseTime.Add(time.Hour))
	mustOK(t, err, "record failure")

	var got []string
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("more than 5 pages; cursors loop")
		}
		ds, next, err := s.ListDevices(ctx, mbx, cursor, 3)
		mustOK(t, err, "list page")
		sizes = append(sizes, len(ds))
		for _, d := range ds {
			if d.Mailbox != mbx {
				t.Fatalf("listed device of mailbox %s", d.Mailbox)
			}
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Fatalf("page sizes = %v, want [3 3 1]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed ids = %v, want each of %v once, in order", got, want)
	}

	ds, next, err := s.ListDevices(ctx, mbx, "", 7)
	mustOK(t, err, "list all")
	if len(ds) != 7 || next != "" {
		t.Fatalf("page of 7 = %d devices, next %q; want 7 and no next page", len(ds), next)
	}
	ds, next, err = s.ListDevices(ctx, seedMailbox(t, s, "owner"), "", 3)
	mustOK(t, err, "list empty mailbox")
	if len(ds) != 0 || next != "" {
		t.Fatalf("empty mailbox = %d devices, next %q", len(ds), next)
	}
}

func testListBadCursor(t *testing.T, s Store) {
	mbx := seedMailbox(t, s, "owner")
	createDevice(t, s, newDevice(t, mbx))
	enc := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{
		"not a cursor!",
		enc([]byte("d1:short")),
		enc([]byte("x1:" + NewID(t))),
		enc([]byte("d1:" + NewID(t)))[1:],
	} {
		_, _, err := s.ListDevices(context.Background(), mbx, c, 3)
		WantCode(t, err, apperr.Invalid)
		if e, _ := apperr.As(err); e.Field != "cursor" {
			t.Fatalf("bad cursor error names field %q, want cursor", e.Field)
		}
	}
}

// --- updating and ending ---

func testUpdateDevice(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := newDevice(t, mbx)
	d.Note, d.User = "old note", "old-user"
	d.Rotation = &device.RotationPolicy{EveryDays: 30, Grace: 2 * time.Hour}
	createDevice(t, s, d)

	ch := d
	ch.Name, ch.Note, ch.User = "renamed", "", "new-user"
	ch.Scopes = []device.Scope{device.ScopeSMTP}
	ch.AllowIPs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	ch.Status = device.StatusDisabled
	ch.Rotation = &device.RotationPolicy{EveryDays: 7, Grace: 10 * time.Minute}
	ch.Grace = 10 * time.Minute
	ch.UpdatedAt = baseTime.Add(time.Hour)
	ch.CreatedBy, ch.SecretARN = "ignored", "ignored" // not metadata the update writes
	got, err := s.UpdateDevice(ctx, ch)
	mustOK(t, err, "update")
	for _, g := range []device.Device{got, getDevice(t, s, mbx, d.ID)} {
		if g.Name != "renamed" || g.Note != "" || g.User != "new-user" || g.Status != device.StatusDisabled ||
			g.Grace != 10*time.Minute || g.Version != 2 || g.CreatedBy != "creator" || g.SecretARN != d.SecretARN {
			t.Fatalf("updated device = %+v", g)
		}
		if !slices.Equal(g.Scopes, ch.Scopes) || !slices.Equal(g.AllowIPs, ch.AllowIPs) || g.Rotation == nil || *g.Rotation != *ch.Rotation {
			t.Fatalf("updated scopes, allow-list, rotation = %v %v %+v", g.Scopes, g.AllowIPs, g.Rotation)
		}
		wantTime(t, "updatedAt", g.UpdatedAt, ch.UpdatedAt)
		wantVerifier(t, "current", g.Current, d.Current.Version, d.Current.Hash)
	}

	// Removing optional fields, and enabling again.
	ch = got
	ch.User, ch.Rotation, ch.AllowIPs, ch.Status = "", nil, nil, device.StatusActive
	got, err = s.UpdateDevice(ctx, ch)
	mustOK(t, err, "second update")
	if got.User != "" || got.Rotation != nil || len(got.AllowIPs) != 0 || got.Status != device.StatusActive || got.Version != 3 {
		t.Fatalf("after removing fields = %+v", got)
	}
}

func testUpdateConflicts(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	fresh := d
	fresh.Name = "first writer"
	_, err := s.UpdateDevice(ctx, fresh)
	mustOK(t, err, "first update")

	stale := d
	stale.Name = "second writer"
	_, err = s.UpdateDevice(ctx, stale)
	WantCode(t, err, apperr.Conflict)
	if g := getDevice(t, s, mbx, d.ID); g.Name != "first writer" || g.Version != 2 {
		t.Fatalf("after a stale update: name %q version %d, want the first writer's at version 2", g.Name, g.Version)
	}

	missing := newDevice(t, mbx)
	_, err = s.UpdateDevice(ctx, missing)
	WantCode(t, err, apperr.Conflict)
	if _, err := s.GetDevice(ctx, mbx, missing.ID); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("update of a missing device created it (%v)", err)
	}

	ended := createDevice(t, s, newDevice(t, mbx))
	e, err := s.EndDevice(ctx, ended, device.StatusRevoked, "admin", baseTime)
	mustOK(t, err, "end")
	e.Name, e.Status = "revived", device.StatusActive
	_, err = s.UpdateDevice(ctx, e)
	WantCode(t, err, apperr.Conflict)
	if g := getDevice(t, s, mbx, ended.ID); g.Status != device.StatusRevoked {
		t.Fatalf("update revived an ended device: %s", g.Status)
	}
}

func testEndDevice(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	keep := createDevice(t, s, newDevice(t, mbx))
	// Give it a previous and a pending verifier.
	v2, v3 := NewVersion(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, d.Current.Version, false, baseTime)
	mustOK(t, err, "begin")
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending")
	_, err = s.Promote(ctx, mbx, d.ID, v2, baseTime, time.Time{})
	mustOK(t, err, "promote")
	_, err = s.BeginRotation(ctx, mbx, d.ID, v3, v2, false, baseTime)
	mustOK(t, err, "begin again")
	if n := liveCount(t, s, mbx); n != 2 {
		t.Fatalf("live = %d, want 2", n)
	}

	d = getDevice(t, s, mbx, d.ID)
	at := baseTime.Add(time.Hour)
	ended, err := s.EndDevice(ctx, d, device.StatusRevoked, "admin", at)
	mustOK(t, err, "end")
	for _, g := range []device.Device{ended, getDevice(t, s, mbx, d.ID)} {
		if g.Status != device.StatusRevoked || g.Current != nil || g.Previous != nil || g.Pending != nil || !g.PreviousUntil.IsZero() || g.PendingBase != "" {
			t.Fatalf("ended device = status %s current %s previous %s pending %s; want revoked without verifiers",
				g.Status, verString(g.Current), verString(g.Previous), verString(g.Pending))
		}
		if g.Version != d.Version+1 {
			t.Fatalf("ended version = %d, want %d", g.Version, d.Version+1)
		}
		wantTime(t, "updatedAt", g.UpdatedAt, at)
	}
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d after end, want 1", n)
	}

	_, err = s.EndDevice(ctx, d, device.StatusRevoked, "admin", at)
	WantCode(t, err, apperr.Conflict)
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d after a second end, want 1", n)
	}

	// A disabled device ends too, here as expired.
	keep.Status = device.StatusDisabled
	keep, err = s.UpdateDevice(ctx, keep)
	mustOK(t, err, "disable")
	_, err = s.EndDevice(ctx, keep, device.StatusExpired, "sweep", at)
	mustOK(t, err, "expire disabled device")
	if g := getDevice(t, s, mbx, keep.ID); g.Status != device.StatusExpired {
		t.Fatalf("status = %s, want expired", g.Status)
	}
	if n := liveCount(t, s, mbx); n != 0 {
		t.Fatalf("live = %d, want 0", n)
	}

	_, err = s.EndDevice(ctx, newDevice(t, mbx), device.StatusRevoked, "admin", at)
	WantCode(t, err, apperr.Conflict)
}

// --- rotation ---

func testRotationGrace(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx)) // grace 90m
	v1, h1 := d.Current.Version, d.Current.Hash
	v2 := NewVersion(t)
	now := baseTime.Add(time.Minute)

	got, err := s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin")
	wantVerifier(t, "pending after begin", got.Pending, v2, "")
	wantVerifier(t, "current after begin", got.Current, v1, h1)
	if got.PendingBase != v1 {
		t.Fatalf("pending base = %q, want %q", got.PendingBase, v1)
	}

	got, err = s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin rerun")
	wantVerifier(t, "pending after rerun", got.Pending, v2, "")

	got, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending")
	wantVerifier(t, "pending after set", got.Pending, v2, "h2")

	// A late rerun of begin answers the stored device and keeps the hash.
	got, err = s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, now)
	mustOK(t, err, "begin rerun after set")
	wantVerifier(t, "pending after late rerun", got.Pending, v2, "h2")
	wantVerifier(t, "stored pending after late rerun", getDevice(t, s, mbx, d.ID).Pending, v2, "h2")

	// Steps of another version conflict and answer the device as it is.
	other := NewVersion(t)
	got, err = s.SetPending(ctx, mbx, d.ID, other, "hx")
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered with the conflict", got.Pending, v2, "h2")
	got, err = s.Promote(ctx, mbx, d.ID, other, now, time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered with the promote conflict", got.Pending, v2, "h2")

	before, err := s.Promote(ctx, mbx, d.ID, v2, now, time.Time{})
	mustOK(t, err, "promote")
	wantVerifier(t, "promote answers the old current", before.Current, v1, h1)
	wantVerifier(t, "promote answers the old pending", before.Pending, v2, "h2")
	if before.PendingBase != v1 {
		t.Fatalf("promote answered pending base %q, want %q", before.PendingBase, v1)
	}

	after := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "current after promote", after.Current, v2, "h2")
	wantVerifier(t, "previous after promote", after.Previous, v1, h1)
	wantVerifier(t, "pending after promote", after.Pending, "", "")
	if after.PendingBase != "" {
		t.Fatalf("pending base = %q after promote, want none", after.PendingBase)
	}
	wantTime(t, "previous until (now + device grace)", after.PreviousUntil, now.Add(90*time.Minute))
	wantTime(t, "rotatedAt", after.RotatedAt, now)

	// A promote rerun conflicts and answers the promoted device.
	got, err = s.Promote(ctx, mbx, d.ID, v2, now.Add(time.Minute), time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "current answered with the rerun's conflict", got.Current, v2, "h2")
	wantTime(t, "previous until after rerun", getDevice(t, s, mbx, d.ID).PreviousUntil, now.Add(90*time.Minute))

	// Versions used before cannot begin again.
	for _, v := range []string{v1, v2} {
		_, err = s.BeginRotation(ctx, mbx, d.ID, v, v2, false, now)
		WantCode(t, err, apperr.Conflict)
	}
	wantVerifier(t, "pending after refused begins", getDevice(t, s, mbx, d.ID).Pending, "", "")

	// ClosePrevious ends the old version's grace, only if it is still the
	// previous one.
	WantCode(t, s.ClosePrevious(ctx, mbx, d.ID, v2, now), apperr.Conflict)
	mustOK(t, s.ClosePrevious(ctx, mbx, d.ID, v1, now.Add(time.Second)), "close previous")
	wantTime(t, "previous until after close", getDevice(t, s, mbx, d.ID).PreviousUntil, now.Add(time.Second))
}

func testRotationFixedUntil(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v2 := NewVersion(t)
	now := baseTime.Add(time.Hour)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, d.Current.Version, true, now)
	mustOK(t, err, "begin")

	// Promote needs the pending hash.
	got, err := s.Promote(ctx, mbx, d.ID, v2, now, time.Time{})
	WantCode(t, err, apperr.Conflict)
	wantVerifier(t, "pending answered", got.Pending, v2, "")
	wantVerifier(t, "current unchanged", getDevice(t, s, mbx, d.ID).Current, d.Current.Version, d.Current.Hash)

	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set pending")
	until := now.Add(7 * time.Second)
	_, err = s.Promote(ctx, mbx, d.ID, v2, now, until)
	mustOK(t, err, "promote")
	after := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "current", after.Current, v2, "h2")
	wantVerifier(t, "previous", after.Previous, d.Current.Version, d.Current.Hash)
	wantTime(t, "previous until (fixed)", after.PreviousUntil, until)
}

func testRotationTakeover(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	v1, v2, v3 := d.Current.Version, NewVersion(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, v2, v1, false, baseTime)
	mustOK(t, err, "begin v2")
	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	mustOK(t, err, "set v2")

	got, err := s.BeginRotation(ctx, mbx, d.ID, v3, v1, true, baseTime)
	mustOK(t, err, "begin v3 (takeover)")
	wantVerifier(t, "pending after takeover", got.Pending, v3, "")

	_, err = s.SetPending(ctx, mbx, d.ID, v2, "h2")
	WantCode(t, err, apperr.Conflict)
	_, err = s.Promote(ctx, mbx, d.ID, v2, baseTime, time.Time{})
	WantCode(t, err, apperr.Conflict)
	g := getDevice(t, s, mbx, d.ID)
	wantVerifier(t, "pending after the old rotation's steps", g.Pending, v3, "")
	wantVerifier(t, "current after the old rotation's steps", g.Current, v1, d.Current.Hash)
}

func testRegenerateHold(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	now := baseTime.Add(time.Hour)
	manual, scheduled := NewVersion(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, d.ID, manual, d.Current.Version, true, now)
	mustOK(t, err, "begin regenerate")

	// While the regenerate's hold lasts, a scheduled rotation refuses.
	for _, at := range []time.Time{now, now.Add(time.Minute), now.Add(device.RegenerateHold)} {
		got, err := s.BeginRotation(ctx, mbx, d.ID, scheduled, d.Current.Version, false, at)
		WantCode(t, err, apperr.Conflict)
		wantVerifier(t, "pending answered with the refusal", got.Pending, manual, "")
	}
	wantVerifier(t, "pending during the hold", getDevice(t, s, mbx, d.ID).Pending, manual, "")

	// A rerun of the regenerate's own begin is no refusal, even unmanual.
	got, err := s.BeginRotation(ctx, mbx, d.ID, manual, d.Current.Version, false, now.Add(time.Minute))
	mustOK(t, err, "rerun of the regenerate's begin")
	wantVerifier(t, "pending after rerun", got.Pending, manual, "")

	// Another regenerate is not held back.
	manual2 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, manual2, d.Current.Version, true, now.Add(time.Minute))
	mustOK(t, err, "second regenerate")

	// After the hold (a crashed regenerate), the schedule takes over, and
	// then yields to nothing: a later scheduled rotation may take over it.
	later := now.Add(time.Minute + device.RegenerateHold + time.Millisecond)
	got, err = s.BeginRotation(ctx, mbx, d.ID, scheduled, d.Current.Version, false, later)
	mustOK(t, err, "scheduled begin after the hold")
	wantVerifier(t, "pending after the hold", got.Pending, scheduled, "")
	scheduled2 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, scheduled2, d.Current.Version, false, later)
	mustOK(t, err, "scheduled begin over a scheduled one")

	// Promote ends the hold: the next scheduled rotation starts at once.
	m3 := NewVersion(t)
	_, err = s.BeginRotation(ctx, mbx, d.ID, m3, d.Current.Version, true, later)
	mustOK(t, err, "third regenerate")
	_, err = s.SetPending(ctx, mbx, d.ID, m3, "h3")
	mustOK(t, err, "set pending")
	_, err = s.Promote(ctx, mbx, d.ID, m3, later, later)
	mustOK(t, err, "promote")
	_, err = s.BeginRotation(ctx, mbx, d.ID, NewVersion(t), m3, false, later)
	mustOK(t, err, "scheduled begin right after a promoted regenerate")
}

func testBeginRefusals(t *testing.T, s Store) {
	ctx := context.Background()
	now := baseTime.Add(24 * time.Hour)
	tests := []struct {
		name          string
		mod           func(d *device.Device)
		allowDisabled bool
		want          apperr.Code // "" for success
	}{
		{"active", func(d *device.Device) {}, false, ""},
		{"disabled", func(d *device.Device) { d.Status = device.StatusDisabled }, false, apperr.Conflict},
		{"disabled, allowed", func(d *device.Device) { d.Status = device.StatusDisabled }, true, ""},
		{"expired", func(d *device.Device) { d.ExpiresAt = now.Add(-time.Millisecond) }, true, apperr.Conflict},
		{"expires now", func(d *device.Device) { d.ExpiresAt = now }, true, apperr.Conflict},
		{"expires later", func(d *device.Device) { d.ExpiresAt = now.Add(time.Second) }, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbx := seedMailbox(t, s, "owner")
			d := newDevice(t, mbx)
			tc.mod(&d)
			createDevice(t, s, d)
			v := NewVersion(t)
			got, err := s.BeginRotation(ctx, mbx, d.ID, v, d.Current.Version, tc.allowDisabled, now)
			if tc.want == "" {
				mustOK(t, err, "begin")
				wantVerifier(t, "pending", got.Pending, v, "")
				return
			}
			WantCode(t, err, tc.want)
			if got.ID != d.ID {
				t.Fatalf("refusal answered device %q, want the stored one", got.ID)
			}
			wantVerifier(t, "stored pending after refusal", getDevice(t, s, mbx, d.ID).Pending, "", "")
		})
	}
	t.Run("revoked", func(t *testing.T) {
		mbx := seedMailbox(t, s, "owner")
		d := createDevice(t, s, newDevice(t, mbx))
		_, err := s.EndDevice(ctx, d, device.StatusRevoked, "admin", now)
		mustOK(t, err, "end")
		for _, allow := range []bool{false, true} {
			_, err = s.BeginRotation(ctx, mbx, d.ID, NewVersion(t), d.Current.Version, allow, now)
			WantCode(t, err, apperr.Conflict)
		}
	})
}

func testRotationMissing(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	id, v := NewID(t), NewVersion(t)
	_, err := s.BeginRotation(ctx, mbx, id, v, "base", true, baseTime)
	WantCode(t, err, apperr.NotFound)
	_, err = s.SetPending(ctx, mbx, id, v, "h")
	WantCode(t, err, apperr.NotFound)
	_, err = s.Promote(ctx, mbx, id, v, baseTime, time.Time{})
	WantCode(t, err, apperr.NotFound)
	WantCode(t, s.ClosePrevious(ctx, mbx, id, v, baseTime), apperr.Conflict)
	WantCode(t, s.TouchLastUsed(ctx, mbx, id, baseTime, device.ScopeIMAP, "", baseTime), apperr.Conflict)
	if _, err := s.GetDevice(ctx, mbx, id); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a write to a missing device created it (%v)", err)
	}
}

// --- the verify path ---

func testCandidates(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates of an empty mailbox")
	if len(c.Devices) != 0 || c.Failures != 0 || !c.WindowStart.IsZero() {
		t.Fatalf("empty mailbox candidates = %+v", c)
	}
	c, err = s.Candidates(ctx, uniqueMailbox(t))
	mustOK(t, err, "candidates of an unknown mailbox")
	if len(c.Devices) != 0 {
		t.Fatalf("unknown mailbox has %d candidates", len(c.Devices))
	}

	a := createDevice(t, s, newDevice(t, mbx))
	b := newDevice(t, mbx)
	b.AllowIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	createDevice(t, s, b)
	createDevice(t, s, newDevice(t, seedMailbox(t, s, "owner")))
	window := baseTime.Truncate(10 * time.Minute)
	for range 2 {
		_, err = s.RecordFailure(ctx, mbx, window, window.Add(11*time.Minute))
		mustOK(t, err, "record failure")
	}

	c, err = s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates")
	if len(c.Devices) != 2 {
		t.Fatalf("%d candidates, want 2", len(c.Devices))
	}
	byID := map[string]device.Device{}
	for _, d := range c.Devices {
		byID[d.ID] = d
	}
	wantVerifier(t, "candidate a's current", byID[a.ID].Current, a.Current.Version, a.Current.Hash)
	if got := byID[b.ID]; !slices.Equal(got.AllowIPs, b.AllowIPs) || got.Status != device.StatusActive {
		t.Fatalf("candidate b = %+v, want its allow-list and status", got)
	}
	if c.Failures != 2 {
		t.Fatalf("failures = %d, want 2", c.Failures)
	}
	wantTime(t, "window start", c.WindowStart, window)
}

func testRecordFailure(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	w1 := baseTime.Truncate(10 * time.Minute)
	w2 := w1.Add(10 * time.Minute)
	steps := []struct {
		name       string
		window     time.Time
		want       int // the count RecordFailure answers
		wantRead   int // the failures Candidates reads: the newest window's
		wantWindow time.Time
	}{
		{"first failure opens the window", w1, 1, 1, w1},
		{"second counts in it", w1, 2, 2, w1},
		{"third counts in it", w1, 3, 3, w1},
		{"a new window starts over", w2, 1, 1, w2},
		{"and counts on", w2, 2, 2, w2},
		{"a late caller counts in its own, older window", w1, 4, 2, w2},
	}
	for _, st := range steps {
		n, err := s.RecordFailure(ctx, mbx, st.window, st.window.Add(11*time.Minute))
		mustOK(t, err, st.name)
		if n != st.want {
			t.Fatalf("%s: count = %d, want %d", st.name, n, st.want)
		}
		c, err := s.Candidates(ctx, mbx)
		mustOK(t, err, "candidates")
		if c.Failures != st.wantRead {
			t.Fatalf("%s: candidates' failures = %d, want %d", st.name, c.Failures, st.wantRead)
		}
		wantTime(t, st.name+": window", c.WindowStart, st.wantWindow)
	}
	other := seedMailbox(t, s, "owner")
	c, err := s.Candidates(ctx, other)
	mustOK(t, err, "candidates of another mailbox")
	if c.Failures != 0 {
		t.Fatalf("another mailbox has %d failures", c.Failures)
	}
}

func testRecordFailureConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	w := baseTime.Truncate(10 * time.Minute)
	const n = 10
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = s.RecordFailure(ctx, mbx, w, w.Add(11*time.Minute))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		mustOK(t, err, "record failure")
	}
	sort.Ints(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("concurrent counts = %v, want 1..%d each once", counts, n)
		}
	}
	c, err := s.Candidates(ctx, mbx)
	mustOK(t, err, "candidates")
	if c.Failures != n {
		t.Fatalf("failures = %d, want %d", c.Failures, n)
	}
}

func testTouchLastUsed(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	every := 5 * time.Minute
	at1 := baseTime.Add(time.Hour)
	mustOK(t, s.TouchLastUsed(ctx, mbx, d.ID, at1, device.ScopeIMAP, "192.0.2.7", at1.Add(-every)), "first touch")
	g := getDevice(t, s, mbx, d.ID)
	if g.LastUsedProtocol != device.ScopeIMAP || g.LastUsedIP != "192.0.2.7" {
		t.Fatalf("last use = %s from %q, want imap from 192.0.2.7", g.LastUsedProtocol, g.LastUsedIP)
	}
	wantTime(t, "last used", g.LastUsedAt, at1)

	// A login a minute later is coalesced: the stored use is recent.
	at2 := at1.Add(time.Minute)
	WantCode(t, s.TouchLastUsed(ctx, mbx, d.ID, at2, device.ScopeSMTP, "192.0.2.8", at2.Add(-every)), apperr.Conflict)
	g = getDevice(t, s, mbx, d.ID)
	wantTime(t, "last used after a coalesced touch", g.LastUsedAt, at1)
	if g.LastUsedProtocol != device.ScopeIMAP {
		t.Fatalf("coalesced touch changed the protocol to %s", g.LastUsedProtocol)
	}

	at3 := at1.Add(every + time.Second)
	mustOK(t, s.TouchLastUsed(ctx, mbx, d.ID, at3, device.ScopePOP, "", at3.Add(-every)), "later touch")
	g = getDevice(t, s, mbx, d.ID)
	wantTime(t, "last used after a later touch", g.LastUsedAt, at3)
	if g.LastUsedProtocol != device.ScopePOP || g.LastUsedIP != "" {
		t.Fatalf("later touch = %s from %q, want pop from no address", g.LastUsedProtocol, g.LastUsedIP)
	}

	dis := newDevice(t, mbx)
	dis.Status = device.StatusDisabled
	createDevice(t, s, dis)
	WantCode(t, s.TouchLastUsed(ctx, mbx, dis.ID, at1, device.ScopeIMAP, "", at1), apperr.Conflict)
	if g := getDevice(t, s, mbx, dis.ID); !g.LastUsedAt.IsZero() {
		t.Fatalf("a disabled device's use was recorded")
	}
}

// SecretsSuite runs the contract of device.Secrets against the adapters
// newSecrets returns, with secret names under prefix. It asserts only what
// AWS and moto agree on; AWS-only refusals that moto lacks (PutPending of a
// used version id with another value, writes to a secret scheduled for
// deletion) are tested on MemSecrets alone. Subtests run in parallel with
// their own secret names.
func SecretsSuite(t *testing.T, newSecrets func(t *testing.T) (device.Secrets, string)) {
	tests := []struct {
		name string
		run  func(t *testing.T, s device.Secrets, prefix string)
	}{
		{"CreateAndRead", testSecretCreateRead},
		{"CreateConflicts", testSecretCreateConflicts},
		{"NotFound", testSecretNotFound},
		{"RotationStages", testSecretRotation},
		{"PendingTakeover", testSecretTakeover},
		{"ScheduleDeletion", testSecretScheduleDeletion},
		{"ForceDelete", testSecretForceDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, prefix := newSecrets(t)
			tc.run(t, s, prefix)
		})
	}
}

type secretCase struct {
	name, mailbox, id, token string
	value                    device.SecretValue
}

func newSecretCase(t *testing.T, prefix string) secretCase {
	t.Helper()
	mbx, id := uniqueMailbox(t), NewID(t)
	return secretCase{
		name: device.SecretName(prefix, mbx, id), mailbox: mbx, id: id, token: NewVersion(t),
		value: device.SecretValue{Username: mbx, Password: "pw-" + randomHex(t, 12) + `"\ü`, Device: id},
	}
}

func (c secretCase) create(t *testing.T, s device.Secrets) device.SecretRef {
	t.Helper()
	ref, err := s.Create(context.Background(), device.SecretInput{Name: c.name, Token: c.token, Value: c.value, Tags: device.SecretTags(c.mailbox, c.id)})
	mustOK(t, err, "create secret")
	return ref
}

func describe(t *testing.T, s device.Secrets, id string) device.SecretState {
	t.Helper()
	st, err := s.Describe(context.Background(), id)
	mustOK(t, err, "describe")
	return st
}

func wantStages(t *testing.T, st device.SecretState, version string, want ...string) {
	t.Helper()
	got := append([]string(nil), st.Versions[version]...)
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stages of %s = %v, want %v (all: %v)", version, got, want, st.Versions)
	}
}

func readValue(t *testing.T, s device.Secrets, id, version string) device.SecretVersion {
	t.Helper()
	sv, err := s.Read(context.Background(), id, version)
	mustOK(t, err, "read "+version)
	return sv
}

func testSecretCreateRead(t *testing.T, s device.Secrets, prefix string) {
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	if ref.Version != c.token || ref.ARN == "" {
		t.Fatalf("create = %+v, want version %s and an ARN", ref, c.token)
	}
	for _, id := range []string{c.name, ref.ARN} {
		sv := readValue(t, s, id, "")
		if sv.Value != c.value || sv.Version != c.token || sv.Name != c.name || sv.ARN != ref.ARN || !sv.HasStage(device.StageCurrent) {
			t.Fatalf("read %s = %+v, want the created value as AWSCURRENT", id, sv)
		}
	}
	if sv := readValue(t, s, c.name, c.token); sv.Value != c.value {
		t.Fatalf("read by version = %+v", sv)
	}
	st := describe(t, s, ref.ARN)
	if st.Name != c.name || st.ARN != ref.ARN || st.Deleted || st.Current() != c.token || st.Pending() != "" {
		t.Fatalf("describe = %+v", st)
	}
	wantStages(t, st, c.token, device.StageCurrent)
	for k, v := range device.SecretTags(c.mailbox, c.id) {
		if st.Tags[k] != v {
			t.Fatalf("tag %s = %q, want %q", k, st.Tags[k], v)
		}
	}
}

func testSecretCreateConflicts(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)

	again, err := s.Create(ctx, device.SecretInput{Name: c.name, Token: c.token, Value: c.value, Tags: device.SecretTags(c.mailbox, c.id)})
	mustOK(t, err, "create with the same token and value")
	if again != ref {
		t.Fatalf("idempotent create = %+v, want %+v", again, ref)
	}
	other := c.value
	other.Password = "another password"
	tests := []struct {
		name  string
		token string
		value device.SecretValue
	}{
		{"same token, other value", c.token, other},
		{"other token, same value", NewVersion(t), c.value},
		{"other token, other value", NewVersion(t), other},
	}
	for _, tc := range tests {
		_, err := s.Create(ctx, device.SecretInput{Name: c.name, Token: tc.token, Value: tc.value})
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("%s: error %v, want conflict", tc.name, err)
		}
	}
	if sv := readValue(t, s, c.name, ""); sv.Value != c.value || sv.Version != c.token {
		t.Fatalf("after refused creates the secret holds %+v", sv)
	}
}

func testSecretNotFound(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	missing := c.name
	existing := newSecretCase(t, prefix)
	existing.create(t, s)
	v := NewVersion(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"read a missing secret", func() error { _, err := s.Read(ctx, missing, ""); return err }},
		{"read a missing version", func() error { _, err := s.Read(ctx, existing.name, v); return err }},
		{"describe", func() error { _, err := s.Describe(ctx, missing); return err }},
		{"put pending", func() error { return s.PutPending(ctx, missing, v, c.value) }},
		{"move current", func() error { return s.MoveCurrent(ctx, missing, v, c.token) }},
		{"remove pending", func() error { return s.RemovePending(ctx, missing, v) }},
		{"schedule deletion", func() error { return s.ScheduleDeletion(ctx, missing, 7) }},
	}
	for _, tc := range tests {
		if err := tc.call(); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("%s: error %v, want not found", tc.name, err)
		}
	}
	mustOK(t, s.ForceDelete(ctx, missing), "force delete of a missing secret")
	if _, err := s.Describe(ctx, missing); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a call on a missing secret created it (%v)", err)
	}
}

func testSecretRotation(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	v1, v2, v3 := c.token, NewVersion(t), NewVersion(t)
	val2, val3 := c.value, c.value
	val2.Password, val3.Password = "second-"+randomHex(t, 8), "third-"+randomHex(t, 8)

	mustOK(t, s.PutPending(ctx, ref.ARN, v2, val2), "put pending")
	st := describe(t, s, c.name)
	if st.Current() != v1 || st.Pending() != v2 {
		t.Fatalf("after put pending: current %s pending %s, want %s %s", st.Current(), st.Pending(), v1, v2)
	}
	if sv := readValue(t, s, c.name, v2); sv.Value != val2 || !sv.HasStage(device.StagePending) || sv.HasStage(device.StageCurrent) {
		t.Fatalf("pending version = %+v", sv)
	}
	if sv := readValue(t, s, c.name, ""); sv.Value != c.value {
		t.Fatalf("AWSCURRENT moved on put pending: %+v", sv)
	}
	mustOK(t, s.PutPending(ctx, ref.ARN, v2, val2), "put pending again (same value)")
	wantStages(t, describe(t, s, c.name), v2, device.StagePending)

	// The compare-and-swap: from must hold AWSCURRENT.
	WantCode(t, s.MoveCurrent(ctx, ref.ARN, v2, v2), apperr.Conflict)
	st = describe(t, s, c.name)
	if st.Current() != v1 || st.Pending() != v2 {
		t.Fatalf("a refused move changed the stages: %v", st.Versions)
	}

	mustOK(t, s.MoveCurrent(ctx, ref.ARN, v2, v1), "move current")
	st = describe(t, s, c.name)
	wantStages(t, st, v2, device.StageCurrent, device.StagePending)
	wantStages(t, st, v1, device.StagePrevious)
	if sv := readValue(t, s, c.name, ""); sv.Value != val2 || sv.Version != v2 {
		t.Fatalf("AWSCURRENT after move = %+v", sv)
	}
	WantCode(t, s.MoveCurrent(ctx, ref.ARN, v2, v1), apperr.Conflict)

	mustOK(t, s.RemovePending(ctx, ref.ARN, v2), "remove pending")
	st = describe(t, s, c.name)
	wantStages(t, st, v2, device.StageCurrent)
	if st.Pending() != "" {
		t.Fatalf("pending = %s after remove", st.Pending())
	}
	WantCode(t, s.RemovePending(ctx, ref.ARN, v2), apperr.Conflict)

	// A second rotation moves AWSPREVIOUS along.
	mustOK(t, s.PutPending(ctx, c.name, v3, val3), "put pending v3")
	mustOK(t, s.MoveCurrent(ctx, c.name, v3, v2), "move current to v3")
	mustOK(t, s.RemovePending(ctx, c.name, v3), "remove pending v3")
	st = describe(t, s, c.name)
	wantStages(t, st, v3, device.StageCurrent)
	wantStages(t, st, v2, device.StagePrevious)
	wantStages(t, st, v1)
	if sv := readValue(t, s, c.name, ""); sv.Value != val3 {
		t.Fatalf("AWSCURRENT after second rotation = %+v", sv)
	}
}

func testSecretTakeover(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	c.create(t, s)
	v2, v3 := NewVersion(t), NewVersion(t)
	val2, val3 := c.value, c.value
	val2.Password, val3.Password = "second", "third"
	mustOK(t, s.PutPending(ctx, c.name, v2, val2), "put v2")
	mustOK(t, s.PutPending(ctx, c.name, v3, val3), "put v3")
	st := describe(t, s, c.name)
	if st.Pending() != v3 || st.Current() != c.token {
		t.Fatalf("after a second put: pending %s current %s, want %s %s", st.Pending(), st.Current(), v3, c.token)
	}
	wantStages(t, st, v2)
	WantCode(t, s.RemovePending(ctx, c.name, v2), apperr.Conflict)
	if sv := readValue(t, s, c.name, v2); sv.HasStage(device.StagePending) {
		t.Fatalf("superseded version still pending: %+v", sv)
	}
}

func testSecretScheduleDeletion(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	mustOK(t, s.ScheduleDeletion(ctx, ref.ARN, 7), "schedule deletion")
	if st := describe(t, s, c.name); !st.Deleted {
		t.Fatalf("describe after deletion = %+v, want Deleted", st)
	}
	mustOK(t, s.ScheduleDeletion(ctx, ref.ARN, 7), "schedule deletion again")
	mustOK(t, s.ScheduleDeletion(ctx, c.name, 30), "schedule deletion again by name")

	_, err := s.Read(ctx, c.name, "")
	WantCode(t, err, apperr.Conflict)
	_, err = s.Create(ctx, device.SecretInput{Name: c.name, Token: NewVersion(t), Value: c.value})
	WantCode(t, err, apperr.Conflict)
}

func testSecretForceDelete(t *testing.T, s device.Secrets, prefix string) {
	ctx := context.Background()
	c := newSecretCase(t, prefix)
	ref := c.create(t, s)
	mustOK(t, s.ForceDelete(ctx, ref.ARN), "force delete")
	_, err := s.Describe(ctx, c.name)
	WantCode(t, err, apperr.NotFound)
	_, err = s.Read(ctx, ref.ARN, "")
	WantCode(t, err, apperr.NotFound)
	mustOK(t, s.ForceDelete(ctx, c.name), "force delete again")
}
