package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/devicetest"
)

func enrollmentID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestOpenEnrollments: the enrollments index lists a mailbox's open links
// only (not another mailbox's, not cancelled or expired ones), soonest to
// expire first, page by page.
func TestOpenEnrollments(t *testing.T) {
	ctx := context.Background()
	s := newTable(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	mbx := "enr-" + devicetest.NewID(t)[:8] + "@example.com"
	put := func(mailbox string, expires time.Time) device.Enrollment {
		t.Helper()
		e := device.Enrollment{ID: enrollmentID(t), Mailbox: mailbox, Name: "phone", Scopes: device.DefaultScopes(),
			ExpiresAt: expires, CreatedAt: now.Add(-time.Hour), CreatedBy: "admin", Status: device.EnrollmentOpen}
		if err := s.PutEnrollment(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	later := put(mbx, now.Add(48*time.Hour))
	sooner := put(mbx, now.Add(2*time.Hour))
	middle := put(mbx, now.Add(24*time.Hour))
	cancelled := put(mbx, now.Add(12*time.Hour))
	if _, err := s.CancelEnrollment(ctx, mbx, cancelled.ID, now); err != nil {
		t.Fatal(err)
	}
	put(mbx, now.Add(-time.Minute))              // expired
	put("other@example.com", now.Add(time.Hour)) // another mailbox

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		es, next, err := s.OpenEnrollments(ctx, mbx, now, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.ID)
			if e.Mailbox != mbx || e.Name != "phone" || e.CreatedBy != "admin" {
				t.Errorf("listed link lacks fields: %+v", e)
			}
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if want := []string{sooner.ID, middle.ID, later.ID}; !slices.Equal(got, want) {
		t.Fatalf("open links = %v, want %v (by expiry)", got, want)
	}
	for _, bad := range []string{"x", "ZTE6MTIzOmFiYw"} {
		_, _, err := s.OpenEnrollments(ctx, mbx, now, bad, 10)
		if e, ok := apperr.As(err); !ok || e.Field != "cursor" {
			t.Errorf("cursor %q: %v, want an invalid cursor", bad, err)
		}
	}
}
