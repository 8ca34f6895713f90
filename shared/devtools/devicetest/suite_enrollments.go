package devicetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// enrollmentStoreTests cover device.EnrollmentStore: storing, reading and
// cancelling enrollment links, and redeeming one for a device in one
// transaction.
var enrollmentStoreTests = []storeTest{
	{"EnrollmentRoundTrip", testEnrollmentRoundTrip},
	{"CancelEnrollment", testCancelEnrollment},
	{"RedeemDevice", testRedeemDevice},
	{"RedeemDeviceRefusals", testRedeemRefusals},
	{"RedeemDeviceConcurrent", testRedeemConcurrent},
}

// newEnrollment returns an open link of mbx, expiring an hour after
// baseTime, with a random id.
func newEnrollment(t *testing.T, mbx string) device.Enrollment {
	t.Helper()
	return device.Enrollment{
		ID: "e" + randomHex(t, 16), Mailbox: mbx, Name: "intern laptop", User: "bob",
		Scopes:          []device.Scope{device.ScopeIMAP, device.ScopeSMTP},
		DeviceExpiresAt: baseTime.Add(48 * time.Hour),
		ExpiresAt:       baseTime.Add(time.Hour),
		CreatedAt:       baseTime, CreatedBy: "admin",
		Status:    device.EnrollmentOpen,
		LastActor: device.Actor{Kind: device.ActorUser, Subject: "admin"},
	}
}

// putEnrollment stores e with its LastActor as the request's actor, as the
// use case does.
func putEnrollment(t *testing.T, s Store, e device.Enrollment) device.Enrollment {
	t.Helper()
	mustOK(t, s.PutEnrollment(device.WithActor(context.Background(), e.LastActor), e), "put enrollment")
	return e
}

func getEnrollment(t *testing.T, s Store, id string) device.Enrollment {
	t.Helper()
	e, err := s.GetEnrollment(context.Background(), id)
	mustOK(t, err, "get enrollment")
	return e
}

func testEnrollmentRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	e := putEnrollment(t, s, newEnrollment(t, mbx))
	got := getEnrollment(t, s, e.ID)
	if got.ID != e.ID || got.Mailbox != mbx || got.Name != e.Name || got.User != e.User || got.CreatedBy != "admin" ||
		got.Status != device.EnrollmentOpen || got.DeviceValidFor != 0 || got.UsedBy != "" || got.DeviceID != "" || got.LastActor != e.LastActor {
		t.Fatalf("stored enrollment = %+v, want %+v", got, e)
	}
	if !slices.Equal(got.Scopes, e.Scopes) {
		t.Fatalf("scopes = %v, want %v", got.Scopes, e.Scopes)
	}
	wantTime(t, "device expiry", got.DeviceExpiresAt, e.DeviceExpiresAt)
	wantTime(t, "link expiry", got.ExpiresAt, e.ExpiresAt)
	wantTime(t, "createdAt", got.CreatedAt, baseTime)

	// A lifetime instead of an instant, and no bound user.
	f := newEnrollment(t, mbx)
	f.User, f.DeviceExpiresAt, f.DeviceValidFor = "", time.Time{}, 36*time.Hour
	putEnrollment(t, s, f)
	got = getEnrollment(t, s, f.ID)
	if got.User != "" || !got.DeviceExpiresAt.IsZero() || got.DeviceValidFor != 36*time.Hour {
		t.Fatalf("stored enrollment = %+v, want no user, no device expiry, a lifetime of 36h", got)
	}

	again := e
	again.Name = "second put"
	WantCode(t, s.PutEnrollment(ctx, again), apperr.Conflict)
	if g := getEnrollment(t, s, e.ID); g.Name != e.Name {
		t.Fatalf("a refused put overwrote the link: name %q", g.Name)
	}
	_, err := s.GetEnrollment(ctx, "e"+randomHex(t, 16))
	WantCode(t, err, apperr.NotFound)
}

func testCancelEnrollment(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	e := putEnrollment(t, s, newEnrollment(t, mbx))

	_, err := s.CancelEnrollment(ctx, seedMailbox(t, s, "owner"), e.ID, baseTime)
	WantCode(t, err, apperr.NotFound)
	_, err = s.CancelEnrollment(ctx, mbx, "e"+randomHex(t, 16), baseTime)
	WantCode(t, err, apperr.NotFound)
	if g := getEnrollment(t, s, e.ID); g.Status != device.EnrollmentOpen {
		t.Fatalf("a refused cancel changed the link to %s", g.Status)
	}

	got, err := s.CancelEnrollment(ctx, mbx, e.ID, baseTime.Add(time.Minute))
	mustOK(t, err, "cancel")
	if got.ID != e.ID || got.Status != device.EnrollmentCancelled {
		t.Fatalf("cancel answered %+v, want the link cancelled", got)
	}
	if g := getEnrollment(t, s, e.ID); g.Status != device.EnrollmentCancelled {
		t.Fatalf("stored status %s after cancel", g.Status)
	}
	got, err = s.CancelEnrollment(ctx, mbx, e.ID, baseTime.Add(2*time.Minute))
	WantCode(t, err, apperr.Conflict)
	if got.ID != e.ID || got.Status != device.EnrollmentCancelled {
		t.Fatalf("a second cancel answered %+v, want the link as it is (cancelled)", got)
	}
}

func testRedeemDevice(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	e := putEnrollment(t, s, newEnrollment(t, mbx))
	d := newDevice(t, mbx)
	at := baseTime.Add(10 * time.Minute)
	mustOK(t, s.RedeemDevice(ctx, d, "owner", 5, device.EnrollmentUse{ID: e.ID, By: "bob", At: at}), "redeem")

	got := getDevice(t, s, mbx, d.ID)
	if got.Name != d.Name || got.Status != device.StatusActive || got.Version != 1 {
		t.Fatalf("redeemed device = %+v", got)
	}
	wantVerifier(t, "current", got.Current, d.Current.Version, d.Current.Hash)
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d after a redemption, want 1", n)
	}
	u := getEnrollment(t, s, e.ID)
	if u.Status != device.EnrollmentUsed || u.UsedBy != "bob" || u.DeviceID != d.ID {
		t.Fatalf("link after redemption = %+v, want used by bob for %s", u, d.ID)
	}
	wantTime(t, "usedAt", u.UsedAt, at)

	// Used once: a second redemption writes nothing.
	second := newDevice(t, mbx)
	WantCode(t, s.RedeemDevice(ctx, second, "owner", 5, device.EnrollmentUse{ID: e.ID, By: "bob", At: at}), apperr.Conflict)
	_, err := s.GetDevice(ctx, mbx, second.ID)
	WantCode(t, err, apperr.NotFound)
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d after a refused redemption, want 1", n)
	}
}

func testRedeemRefusals(t *testing.T, s Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup returns the link's id, the owner and the cap to redeem with,
		// and the instant of use.
		setup func(t *testing.T, mbx string) (id, owner string, maxLive int, at time.Time)
		want  apperr.Code
	}{
		{"link missing", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			return "e" + randomHex(t, 16), "owner", 5, baseTime
		}, apperr.Conflict},
		{"link cancelled", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			e := putEnrollment(t, s, newEnrollment(t, mbx))
			_, err := s.CancelEnrollment(ctx, mbx, e.ID, baseTime)
			mustOK(t, err, "cancel")
			return e.ID, "owner", 5, baseTime
		}, apperr.Conflict},
		{"link expired", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			e := putEnrollment(t, s, newEnrollment(t, mbx))
			return e.ID, "owner", 5, e.ExpiresAt
		}, apperr.Conflict},
		{"link of another mailbox", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			e := putEnrollment(t, s, newEnrollment(t, seedMailbox(t, s, "owner")))
			return e.ID, "owner", 5, baseTime
		}, apperr.Conflict},
		{"owner changed", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			e := putEnrollment(t, s, newEnrollment(t, mbx))
			return e.ID, "someone-else", 5, baseTime
		}, apperr.NotFound},
		{"cap reached", func(t *testing.T, mbx string) (string, string, int, time.Time) {
			createDevice(t, s, newDevice(t, mbx))
			e := putEnrollment(t, s, newEnrollment(t, mbx))
			return e.ID, "owner", 1, baseTime
		}, apperr.LimitReached},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbx := seedMailbox(t, s, "owner")
			id, owner, maxLive, at := tc.setup(t, mbx)
			liveBefore := liveCount(t, s, mbx)
			d := newDevice(t, mbx)
			WantCode(t, s.RedeemDevice(ctx, d, owner, maxLive, device.EnrollmentUse{ID: id, By: "bob", At: at}), tc.want)
			_, err := s.GetDevice(ctx, mbx, d.ID)
			WantCode(t, err, apperr.NotFound)
			if n := liveCount(t, s, mbx); n != liveBefore {
				t.Fatalf("live = %d after a refused redemption, want %d", n, liveBefore)
			}
			if e, err := s.GetEnrollment(ctx, id); err == nil && e.Status == device.EnrollmentUsed {
				t.Fatalf("a refused redemption used the link")
			}
		})
	}
}

func testRedeemConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	mbx := seedMailbox(t, s, "owner")
	e := putEnrollment(t, s, newEnrollment(t, mbx))
	const tries = 8
	errs := make([]error, tries)
	ids := make([]string, tries)
	var wg sync.WaitGroup
	for i := range tries {
		d := newDevice(t, mbx)
		ids[i] = d.ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.RedeemDevice(ctx, d, "owner", 50, device.EnrollmentUse{ID: e.ID, By: "bob", At: baseTime})
		}()
	}
	wg.Wait()
	won := ""
	for i, err := range errs {
		switch {
		case err == nil:
			if won != "" {
				t.Fatalf("two redemptions of one link succeeded")
			}
			won = ids[i]
		case apperr.Is(err, apperr.Conflict), apperr.Is(err, apperr.Unavailable):
			// Lost to the winner, or refused as a conflicting transaction.
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won == "" {
		t.Fatalf("no redemption succeeded: %v", errs)
	}
	if n := liveCount(t, s, mbx); n != 1 {
		t.Fatalf("live = %d, want 1", n)
	}
	if u := getEnrollment(t, s, e.ID); u.DeviceID != won {
		t.Fatalf("link names device %s, want the winner %s", u.DeviceID, won)
	}
}
