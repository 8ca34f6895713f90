package devicetest

import (
	"context"
	"encoding/base64"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

var _ device.PolicyStore = (*MemStore)(nil)

// PutPolicy implements device.PolicyStore, with DynamoDB's precision
// (durations in milliseconds).
func (s *MemStore) PutPolicy(ctx context.Context, domain string, p device.DomainPolicy) (err error) {
	after, err := s.lockedCall(ctx, "PutPolicy")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	if s.policies == nil {
		s.policies = map[string]device.DomainPolicy{}
	}
	s.policies[domain] = clonePolicy(p)
	return nil
}

// GetPolicy implements device.PolicyReader.
func (s *MemStore) GetPolicy(ctx context.Context, domain string) (_ *device.DomainPolicy, err error) {
	after, err := s.lockedCall(ctx, "GetPolicy")
	if err != nil {
		return nil, err
	}
	defer s.unlock(&err, after)
	p, ok := s.policies[domain]
	if !ok {
		return nil, nil
	}
	p = clonePolicy(p)
	return &p, nil
}

func clonePolicy(p device.DomainPolicy) device.DomainPolicy {
	p.AllowedScopes = append([]device.Scope(nil), p.AllowedScopes...)
	p.DefaultAllowIPs = append([]netip.Prefix(nil), p.DefaultAllowIPs...)
	for _, d := range []*time.Duration{&p.MaxLifetime, &p.DefaultLifetime, &p.InactivityRevokeAfter, &p.InactivityWarnBefore, &p.ExpiryReminderBefore, &p.EnrollmentMaxValidity} {
		*d = d.Truncate(time.Millisecond)
	}
	p.UpdatedAt = rfcTime(p.UpdatedAt)
	return p
}

// PolicyDomains implements device.PolicyStore, in domain order.
func (s *MemStore) PolicyDomains(ctx context.Context) (_ []string, err error) {
	after, err := s.lockedCall(ctx, "PolicyDomains")
	if err != nil {
		return nil, err
	}
	defer s.unlock(&err, after)
	out := make([]string, 0, len(s.policies))
	for d := range s.policies {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// DomainDevices implements device.PolicyStore: live devices in mailbox and
// id order, with the adapter's cursor format.
func (s *MemStore) DomainDevices(ctx context.Context, domain, cursor string, limit int) (_ []device.Device, _ string, err error) {
	after, err := s.call(ctx, "DomainDevices")
	if err != nil {
		return nil, "", err
	}
	defer settle(&err, after)
	startMailbox, startID := "", ""
	if cursor != "" {
		b, derr := base64.RawURLEncoding.DecodeString(cursor)
		rest, ok := strings.CutPrefix(string(b), "p1:")
		m, id, ok2 := strings.Cut(rest, "\x00")
		if derr != nil || !ok || !ok2 || device.DomainOf(m) != domain {
			return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
		}
		startMailbox, startID = m, id
	}
	s.mu.Lock()
	var mailboxes []string
	for m := range s.devices {
		if device.DomainOf(m) == domain {
			mailboxes = append(mailboxes, m)
		}
	}
	sort.Strings(mailboxes)
	var out []device.Device
	for _, m := range mailboxes {
		for _, d := range s.sorted(m) {
			if !d.Status.Live() || m+"#"+d.ID <= startMailbox+"#"+startID {
				continue
			}
			out = append(out, d)
		}
	}
	s.mu.Unlock()
	if len(out) > limit {
		last := out[limit-1]
		return out[:limit], base64.RawURLEncoding.EncodeToString([]byte("p1:" + last.Mailbox + "\x00" + last.ID)), nil
	}
	return out, "", nil
}

var _ device.HygieneStore = (*MemStore)(nil)

// MarkInactivityWarning implements device.HygieneStore, with DynamoDB's
// precision (milliseconds).
func (s *MemStore) MarkInactivityWarning(ctx context.Context, mailbox, id string, activity, revokeAt, now time.Time) (err error) {
	after, err := s.lockedCall(ctx, "MarkInactivityWarning")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	if d == nil || !d.Status.Live() || !d.InactivityWarnedFor.IsZero() && !d.InactivityWarnedFor.Before(msTime(activity)) {
		return apperr.New(apperr.Conflict, "device %s is not live or was warned already", id)
	}
	d.InactivityWarnedAt, d.InactivityWarnedFor, d.InactivityRevokeAt = msTime(now), msTime(activity), msTime(revokeAt)
	d.LastActor = device.ActorFrom(ctx)
	return nil
}

// MarkExpiryReminder implements device.HygieneStore.
func (s *MemStore) MarkExpiryReminder(ctx context.Context, mailbox, id string, expiresAt, now time.Time) (err error) {
	after, err := s.lockedCall(ctx, "MarkExpiryReminder")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	if d == nil || !d.Status.Live() || !d.ExpiryRemindedAt.IsZero() || !d.ExpiresAt.Equal(expiresAt) {
		return apperr.New(apperr.Conflict, "device %s is not live or was reminded already", id)
	}
	d.ExpiryRemindedAt = msTime(now)
	d.LastActor = device.ActorFrom(ctx)
	return nil
}

// SetPolicyExpiry implements device.HygieneStore.
func (s *MemStore) SetPolicyExpiry(ctx context.Context, mailbox, id string, expiresAt, now time.Time) (err error) {
	after, err := s.lockedCall(ctx, "SetPolicyExpiry")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	if d == nil || !d.Status.Live() || !d.ExpiresAt.IsZero() {
		return apperr.New(apperr.Conflict, "device %s is not live or has an expiry", id)
	}
	d.ExpiresAt, d.PolicyExpirySetAt, d.UpdatedAt = rfcTime(expiresAt), msTime(now), rfcTime(now)
	d.LastActor = device.ActorFrom(ctx)
	return nil
}

var _ device.NetworkNoter = (*MemStore)(nil)

// NoteNetwork implements device.NetworkNoter, with DynamoDB's conditions.
func (s *MemStore) NoteNetwork(ctx context.Context, mailbox, id, network string, at time.Time, n device.NetworkNote) (err error) {
	after, err := s.lockedCall(ctx, "NoteNetwork")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	conflict := apperr.New(apperr.Conflict, "device %s is not active or the network was recorded already", id)
	if d == nil || d.Status != device.StatusActive {
		return conflict
	}
	if n.First {
		if d.Networks != nil {
			return conflict
		}
		d.Networks = map[string]time.Time{network: msTime(at)}
		return nil
	}
	if d.Networks == nil {
		return conflict
	}
	if seen, ok := d.Networks[network]; ok && !seen.Before(msTime(n.Before)) {
		return conflict
	}
	d.Networks[network] = msTime(at)
	if n.IsNew {
		d.NewNetwork, d.NewNetworkAt = network, msTime(at)
		d.LastActor = device.Actor{Kind: device.ActorSystem, Subject: "verify"}
	}
	if n.Evict != "" && n.Evict != network {
		delete(d.Networks, n.Evict)
	}
	return nil
}

var _ device.RotationFailureStore = (*MemStore)(nil)

// RecordRotationFailure implements device.RotationFailureStore.
func (s *MemStore) RecordRotationFailure(ctx context.Context, mailbox, id string, f device.RotationFailure) (err error) {
	after, err := s.lockedCall(ctx, "RecordRotationFailure")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	at := msTime(f.At)
	if d == nil || !d.Status.Live() || d.RotationErrorID == f.ID ||
		!d.RotationErrorAt.IsZero() && d.RotationErrorAt.After(at) ||
		!d.RotatedAt.IsZero() && !d.RotatedAt.Before(at.Add(time.Second)) {
		return apperr.New(apperr.Conflict, "device %s is not live, holds this failure already, or has news since", id)
	}
	d.RotationError, d.RotationErrorKind, d.RotationErrorAt, d.RotationErrorID = f.Message, f.Kind, msTime(f.At), f.ID
	d.LastActor = device.ActorFrom(ctx)
	return nil
}

// clearRotationError forgets the last failed rotation, as a promotion
// does in the table.
func clearRotationError(d *device.Device) {
	d.RotationError, d.RotationErrorKind, d.RotationErrorAt, d.RotationErrorID = "", "", time.Time{}, ""
}
