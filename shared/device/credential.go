package device

import (
	"context"
	"fmt"
)

// CredentialChanged is what the mail platform or identity provider reports
// when a mailbox's main password changed: with the domain policy's
// revokeOnCredentialChange (the default), every live device of the
// mailbox is revoked, with reason credential-changed, as Google and Apple
// do with their app passwords. The caller is authorized before this runs
// (IAM deployed, the mail-server token locally), not by a mailbox's
// ownership. It returns how many devices it revoked, and false when the
// policy keeps them. Safe to retry: a revoked device is skipped, a
// half-finished one finished.
func (s *Devices) CredentialChanged(ctx context.Context, address string) (int, bool, error) {
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return 0, false, err
	}
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Subject: "credential-change"})
	lr, err := s.store.Lookup(ctx, LookupQuery{Mailbox: addr})
	if err != nil {
		return 0, false, fmt.Errorf("lookup mailbox: %w", err)
	}
	if lr.Mailbox == nil {
		return 0, false, nil // nothing to revoke; say nothing more to a caller about the mailbox
	}
	pol, err := effectivePolicy(ctx, s.policies, DomainOf(addr))
	if err != nil {
		return 0, false, err
	}
	if !pol.RevokeOnCredentialChange {
		return 0, false, nil
	}
	ctx = WithEndReason(ctx, ReasonCredentialChanged)
	revoked := 0
	for cursor := ""; ; {
		ds, next, err := s.store.ListDevices(ctx, addr, cursor, MaxPageSize)
		if err != nil {
			return revoked, true, fmt.Errorf("list devices: %w", err)
		}
		for _, d := range ds {
			if d.Status == StatusExpired || d.Status == StatusRevoked && d.SecretARN == "" {
				continue
			}
			wasLive := d.Status.Live()
			if _, err := endDevice(ctx, s.store, s.secrets, s.cfg.RecoveryWindowDays, d, StatusRevoked, "credential-change", s.clock()); err != nil {
				return revoked, true, fmt.Errorf("revoke device (%d revoked; retry to finish): %w", revoked, err)
			}
			if wasLive {
				revoked++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	s.log.InfoContext(ctx, "devices revoked after a credential change", "mailbox", addr, "revoked", revoked)
	return revoked, true, nil
}
