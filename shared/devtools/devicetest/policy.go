package devicetest

import (
	"context"
	"net/netip"
	"time"

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
