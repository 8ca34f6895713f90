package devicetest

import (
	"context"
	"sort"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// enrollmentsOf lazily makes the enrollment map (NewMemStore predates it).
func (s *MemStore) enrollmentsOf() map[string]*device.Enrollment {
	if s.enrollments == nil {
		s.enrollments = map[string]*device.Enrollment{}
	}
	return s.enrollments
}

// RedeemDevice implements device.EnrollmentStore: CreateDevice's conditions, then the
// enrollment's, all or nothing.
func (s *MemStore) RedeemDevice(ctx context.Context, d device.Device, owner string, maxLive int, use device.EnrollmentUse) (err error) {
	after, err := s.lockedCall(ctx, "RedeemDevice")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	if err := s.checkPut(d, owner, maxLive); err != nil {
		return err
	}
	e := s.enrollmentsOf()[use.ID]
	if e == nil || e.Status != device.EnrollmentOpen || !use.At.Before(e.ExpiresAt) || e.Mailbox != d.Mailbox {
		return apperr.New(apperr.Conflict, "the enrollment link is no longer open")
	}
	s.put(ctx, d)
	e.Status, e.UsedAt, e.UsedBy, e.DeviceID = device.EnrollmentUsed, rfcTime(use.At), use.By, d.ID
	return nil
}

// ExpiringDevices implements device.RepairStore.
func (s *MemStore) ExpiringDevices(ctx context.Context, now time.Time, limit int) (_ []device.Device, err error) {
	after, err := s.lockedCall(ctx, "ExpiringDevices")
	if err != nil {
		return nil, err
	}
	defer s.unlock(&err, after)
	var out []device.Device
	for _, byID := range s.devices {
		for _, d := range byID {
			if d.Status.Live() && !d.ExpiresAt.IsZero() && !d.ExpiresAt.After(now) {
				out = append(out, clone(*d))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// PutEnrollment implements device.EnrollmentStore.
func (s *MemStore) PutEnrollment(ctx context.Context, e device.Enrollment) (err error) {
	after, err := s.lockedCall(ctx, "PutEnrollment")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	if _, ok := s.enrollmentsOf()[e.ID]; ok {
		return apperr.New(apperr.Conflict, "the enrollment exists already")
	}
	c := e
	c.Scopes = append([]device.Scope(nil), e.Scopes...)
	c.ExpiresAt, c.CreatedAt, c.DeviceExpiresAt = rfcTime(e.ExpiresAt), rfcTime(e.CreatedAt), rfcTime(e.DeviceExpiresAt)
	s.enrollmentsOf()[e.ID] = &c
	return nil
}

// GetEnrollment implements device.EnrollmentStore.
func (s *MemStore) GetEnrollment(ctx context.Context, id string) (_ device.Enrollment, err error) {
	after, err := s.lockedCall(ctx, "GetEnrollment")
	if err != nil {
		return device.Enrollment{}, err
	}
	defer s.unlock(&err, after)
	e := s.enrollmentsOf()[id]
	if e == nil {
		return device.Enrollment{}, apperr.New(apperr.NotFound, "no such enrollment")
	}
	return *e, nil
}

// CancelEnrollment implements device.EnrollmentStore.
func (s *MemStore) CancelEnrollment(ctx context.Context, mailbox, id string, now time.Time) (_ device.Enrollment, err error) {
	after, err := s.lockedCall(ctx, "CancelEnrollment")
	if err != nil {
		return device.Enrollment{}, err
	}
	defer s.unlock(&err, after)
	e := s.enrollmentsOf()[id]
	if e == nil || e.Mailbox != mailbox {
		return device.Enrollment{}, apperr.New(apperr.NotFound, "this mailbox has no such enrollment")
	}
	if e.Status != device.EnrollmentOpen {
		return *e, apperr.New(apperr.Conflict, "the enrollment is %s", e.Status)
	}
	e.Status = device.EnrollmentCancelled
	return *e, nil
}

// RestoreExpired implements device.RepairStore.
func (s *MemStore) RestoreExpired(ctx context.Context, d device.Device, now time.Time) (err error) {
	after, err := s.lockedCall(ctx, "RestoreExpired")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	if s.devices[d.Mailbox][d.ID] != nil {
		return nil
	}
	d.Status, d.UpdatedAt = device.StatusExpired, now
	d.Current, d.Previous, d.Pending = nil, nil, nil
	stored := encoded(d)
	stored.LastActor = device.Actor{Kind: device.ActorSystem, Subject: "ttl"} // as the adapter records it
	if s.devices[d.Mailbox] == nil {
		s.devices[d.Mailbox] = map[string]*device.Device{}
	}
	s.devices[d.Mailbox][d.ID] = &stored
	if m := s.mailboxes[d.Mailbox]; m != nil && m.Live > 0 {
		m.Live--
		m.Version++
	}
	return nil
}

// Forget removes a device as DynamoDB's TTL does, for tests of the
// stream handler's expiry path.
func (s *MemStore) Forget(mailbox, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.devices[mailbox], id)
}
