package devicetest

import (
	"context"
	"encoding/base64"
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

// deviceStoreTests cover device.DeviceStore (and device.MailboxReader):
// mailboxes, lookups, creating, reading, listing, updating and ending
// devices.
var deviceStoreTests = []storeTest{
	{"ListLiveThenEnded", testListLiveThenEnded},
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
	{"EndDeviceStaleRead", testEndStaleRead},
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
	mustOK(t, s.Attempt(ctx, mbx, device.Attempt{Network: "192.0.2.0/24", Failed: true, Now: baseTime, Window: time.Hour, Limit: 5}, nil), "count failure")

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

// testListLiveThenEnded: the listing shows live devices in id order, then
// ended ones in id order, and its cursors cross from one to the other.
func testListLiveThenEnded(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	var live, ended []string
	for i := range 4 {
		d := createDevice(t, s, newDevice(t, mbx))
		if i%2 == 0 {
			_, err := s.EndDevice(ctx, d, device.StatusRevoked, "owner", baseTime)
			mustOK(t, err, "end device")
			ended = append(ended, d.ID)
		} else {
			live = append(live, d.ID)
		}
	}
	sort.Strings(live)
	sort.Strings(ended)
	want := append(live, ended...)
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("more than 5 pages; cursors loop")
		}
		ds, next, err := s.ListDevices(ctx, mbx, cursor, 1)
		mustOK(t, err, "list page")
		for _, d := range ds {
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listing = %v, want the live %v then the ended %v", got, live, ended)
	}
}

// testEndStaleRead: ending a device read before another change keeps that
// change in the ended device; the device is still ended.
func testEndStaleRead(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	d := createDevice(t, s, newDevice(t, mbx))
	renamed := d
	renamed.Name, renamed.UpdatedAt = "renamed meanwhile", baseTime.Add(time.Minute)
	_, err := s.UpdateDevice(ctx, renamed)
	mustOK(t, err, "rename")
	_, err = s.EndDevice(ctx, d, device.StatusRevoked, "owner", baseTime.Add(2*time.Minute))
	mustOK(t, err, "end from a stale read")
	g := getDevice(t, s, mbx, d.ID)
	if g.Status != device.StatusRevoked || g.Name != "renamed meanwhile" || g.Current != nil {
		t.Fatalf("ended device = %+v, want it revoked, renamed, without verifiers", g)
	}
	if n := liveCount(t, s, mbx); n != 0 {
		t.Fatalf("live = %d, want 0", n)
	}
}
