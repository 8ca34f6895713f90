package device

import (
	"errors"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/verifier"
)

// The guards of the conditional writes, each written once, here. A store
// applies a write only if its guard answers nil: the in-memory fake calls
// the guard itself; the DynamoDB adapter writes the same rule as its
// condition expression (one conditional write per step, no read first)
// and, when DynamoDB refuses the condition, calls the guard on the item
// DynamoDB returns to say why. Instants are compared in milliseconds, the
// precision at which the adapter stores them.

// ErrAlreadyPending is CheckBeginRotation's answer when version is pending
// already: an earlier run of the same step began the rotation, so the step
// succeeds without writing.
var ErrAlreadyPending = errors.New("the version is pending already")

// CheckBeginRotation decides whether a rotation to version, from base,
// may begin on d at now. A scheduled rotation (manual false) needs an
// active device; a manual one also accepts a disabled one. Either needs
// an unexpired device whose current version is base, and a version the
// device never held. A scheduled rotation yields to a manual regenerate's pending
// version begun less than RegenerateHold ago; a regenerate takes over any
// pending version. It answers ErrAlreadyPending if version is pending
// already, else a Conflict saying why, or nil.
func CheckBeginRotation(d Device, version, base string, manual bool, now time.Time) error {
	switch {
	case d.Pending != nil && d.Pending.Version == version:
		return ErrAlreadyPending
	case d.Status == StatusDisabled && !manual:
		return apperr.New(apperr.Conflict, "the device is disabled")
	case !d.Status.Live():
		return apperr.New(apperr.Conflict, "the device is %s", d.Status)
	case !d.ExpiresAt.IsZero() && d.ExpiresAt.UnixMilli() <= now.UnixMilli():
		return apperr.New(apperr.Conflict, "the device expired at %s", d.ExpiresAt.Format(time.RFC3339))
	case !manual && d.PendingManual && d.PendingAt.UnixMilli() >= now.Add(-RegenerateHold).UnixMilli():
		return apperr.New(apperr.Conflict, "a manual regenerate is in progress")
	case d.Current == nil:
		return apperr.New(apperr.Conflict, "the device has no current version")
	case d.Current.Version != base:
		// Secrets Manager's AWSCURRENT (base) is not the table's current
		// version: a regenerate is between its two writes, or a crash left
		// them apart for the reconciler. A rotation begun now would promote
		// over a version Secrets Manager never published.
		return apperr.New(apperr.Conflict, "the device's current version is not %s, the secret's AWSCURRENT", base)
	case d.Current.Version == version || d.Previous != nil && d.Previous.Version == version:
		return apperr.New(apperr.Conflict, "version %s was used before on this device", version)
	}
	return nil
}

// CheckSetPending decides whether hash may become the pending version's
// verifier: only while version is the pending version, and only when hash
// is not the current version's. A copy of the current password (Secrets
// Manager's rotation configuration test makes one) is never a rotation's
// new password.
func CheckSetPending(d Device, version string, hash verifier.Hash) error {
	switch {
	case d.Pending == nil || d.Pending.Version != version:
		return apperr.New(apperr.Conflict, "set pending verifier: the version is not pending")
	case d.Current != nil && d.Current.Hash == hash:
		return apperr.New(apperr.Conflict, "set pending verifier: the hash is the current version's")
	}
	return nil
}

// CheckPromote decides whether version may become current: only while it
// is pending, its hash is set (setSecret ran) and the device has a current
// version to keep as previous.
func CheckPromote(d Device, version string) error {
	switch {
	case d.Pending == nil || d.Pending.Version != version:
		return apperr.New(apperr.Conflict, "promote verifier: the version is not pending")
	case d.Pending.Hash == "":
		return apperr.New(apperr.Conflict, "promote verifier: the pending version has no verifier yet")
	case d.Current == nil:
		return apperr.New(apperr.Conflict, "promote verifier: the device has no current version")
	}
	return nil
}

// CheckReplace decides whether a regenerate may make version, with hash,
// current in place of base at now: only on a live, unexpired device whose
// current version is still base (the one the regenerate read), with a
// version the device never held and a hash that is not the current one.
// A pending version does not stop it: the regenerate supersedes it.
func CheckReplace(d Device, version string, hash verifier.Hash, base string, now time.Time) error {
	switch {
	case !d.Status.Live():
		return apperr.New(apperr.Conflict, "replace verifier: the device is %s", d.Status)
	case !d.ExpiresAt.IsZero() && d.ExpiresAt.UnixMilli() <= now.UnixMilli():
		return apperr.New(apperr.Conflict, "replace verifier: the device expired at %s", d.ExpiresAt.Format(time.RFC3339))
	case d.Current == nil || d.Current.Version != base:
		return apperr.New(apperr.Conflict, "replace verifier: the current version is no longer %s", base)
	case version == base || d.Previous != nil && d.Previous.Version == version || d.Pending != nil && d.Pending.Version == version:
		return apperr.New(apperr.Conflict, "replace verifier: version %s was used before on this device", version)
	case d.Current.Hash == hash:
		return apperr.New(apperr.Conflict, "replace verifier: the hash is the current version's")
	}
	return nil
}

// CheckUpdate decides whether metadata read at version may be written
// over the stored device: only while it is live and unchanged since that
// read.
func CheckUpdate(stored Device, version int64) error {
	if !stored.Status.Live() || stored.Version != version {
		return apperr.New(apperr.Conflict, "device %s changed meanwhile; read it again and retry", stored.ID)
	}
	return nil
}

// CheckEnd decides whether d may be ended (revoked or expired): only while
// it is live.
func CheckEnd(d Device) error {
	if !d.Status.Live() {
		return apperr.New(apperr.Conflict, "device %s is no longer live", d.ID)
	}
	return nil
}

// CheckTouchLastUsed decides whether a use may be recorded: only on an
// active device whose stored last use is older than notAfter, so that
// concurrent logins write once.
func CheckTouchLastUsed(d Device, notAfter time.Time) error {
	if d.Status != StatusActive || !d.LastUsedAt.IsZero() && d.LastUsedAt.UnixMilli() >= notAfter.UnixMilli() {
		return apperr.New(apperr.Conflict, "touch last used: the device is not active or was used recently")
	}
	return nil
}
