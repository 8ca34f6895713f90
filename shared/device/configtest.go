package device

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/devicepass/devicepass/shared/verifier"
)

// Secrets Manager's rotation configuration test.
//
// When a secret gets a rotation schedule without rotating at once
// (RotateSecret with RotateImmediately=false), Secrets Manager puts a version
// of its own under a token this function never saw, holding a copy of the
// current value and labelled AWSPENDING, invokes testSecret alone with that
// token, and removes the label. testSecret must pass it when the copy holds
// the device's current password, and change nothing; no other step may ever
// take such a version for a rotation's new password, since promoting it
// would "rotate" to the password the device already has and reset its
// schedule without changing anything.

// pendingVerdict is what testSecret found.
type pendingVerdict int

const (
	// pendingVerifies: the token is the device's pending version and its
	// password verifies as such (a rotation's own testSecret).
	pendingVerifies pendingVerdict = iota
	// pendingMismatch: the token is the device's pending version, with a
	// verifier, and the password does not match it.
	pendingMismatch
	// configTestPasses: the token is not a pending version setSecret saw,
	// and its password is the device's current one (the configuration test).
	configTestPasses
	// configTestFails: neither.
	configTestFails
	// pendingSuperseded: neither, and the token is not the device's pending
	// version: a rotation a regenerate took over after its setSecret ran.
	// Its AWSPENDING label must go, or the next rotation would find a
	// previous one incomplete.
	pendingSuperseded
)

// testPending reads the mailbox's devices once, through the verify path's
// read, and says how the password of version token of device id compares
// with what the table holds. It writes nothing.
func (e *Engine) testPending(ctx context.Context, mailbox, id, token, password string) (pendingVerdict, error) {
	c, err := e.candidates.Candidates(ctx, mailbox)
	if err != nil {
		return configTestFails, fmt.Errorf("read candidates: %w", err)
	}
	h := e.keyed.Password(password)
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.ID != id {
			continue
		}
		if d.Pending != nil && d.Pending.Version == token && d.Pending.Hash != "" {
			if match(c.Devices, h, e.clock(), admit{pendingDevice: id, pendingVersion: token}) >= 0 {
				return pendingVerifies, nil
			}
			return pendingMismatch, nil
		}
		if d.Current != nil && subtle.ConstantTimeCompare([]byte(h), []byte(d.Current.Hash)) == 1 {
			return configTestPasses, nil
		}
		if d.Pending == nil || d.Pending.Version != token {
			return pendingSuperseded, nil
		}
		return configTestFails, nil
	}
	return configTestFails, nil
}

// holdsCurrent reports whether a stored version's password is the device's
// current password: a copy made by the configuration test, never a new
// password made by createSecret.
func (e *Engine) holdsCurrent(d Device, password string) bool {
	return d.Current != nil && verifier.Equal(e.keyed.Password(password), d.Current.Hash)
}

// checkStoredPending runs when createSecret's PutSecretValue finds the
// version stored already. That is an earlier run of this step, whose value
// it accepts; or a version this function never made (the configuration
// test's copy of the current password, or another device's value), which it
// refuses. d is the device as BeginRotation answered it. The read happens
// only on this path, so a rotation's createSecret keeps its call count.
func (e *Engine) checkStoredPending(ctx context.Context, t target, token string, d Device) error {
	sv, err := e.secrets.Read(ctx, t.secretID, token)
	if err != nil {
		return fmt.Errorf("read stored version: %w", err)
	}
	if sv.Value.Device != t.id || sv.Value.Username != t.mailbox {
		return e.refuse(ctx, t, StepCreate, token, "the version's value names another device")
	}
	if e.holdsCurrent(d, sv.Value.Password) {
		return e.refuse(ctx, t, StepCreate, token, "%s", errCopyOfCurrent)
	}
	return nil
}

// errCopyOfCurrent says why a step refuses the configuration test's version.
const errCopyOfCurrent = "the version holds the device's current password (a rotation configuration test's copy, not a new password); only testSecret accepts it"

// refuseCopy answers setSecret when the store refused a pending verifier
// equal to the current one.
func (e *Engine) refuseCopy(ctx context.Context, t target, step Step, token string) error {
	return e.refuse(ctx, t, step, token, "%s", errCopyOfCurrent)
}

// configTestResult logs testSecret's verdict on a version and returns the
// step's answer.
func (e *Engine) configTestResult(ctx context.Context, t target, token string, v pendingVerdict) error {
	switch v {
	case pendingVerifies:
		e.log.InfoContext(ctx, "rotation step done", "step", string(StepTest), "mailbox", t.mailbox, "device", t.id, "version", token)
		return nil
	case configTestPasses:
		e.log.InfoContext(ctx, "rotation configuration test passed: the version holds the device's current password", "step", string(StepTest), "mailbox", t.mailbox, "device", t.id, "version", token)
		return nil
	case pendingMismatch:
		return e.refuse(ctx, t, StepTest, token, "the pending password does not verify")
	case pendingSuperseded:
		// Secrets Manager removes the label of its own failed
		// configuration test anyway; a superseded rotation's label would
		// otherwise block the next rotation until the reconciler runs.
		e.dropPending(ctx, t, token)
		return e.refuse(ctx, t, StepTest, token, "the version's password is neither the device's pending password nor its current one (a failed configuration test, or a rotation a regenerate superseded); AWSPENDING removed from it")
	}
	return e.refuse(ctx, t, StepTest, token, "the version's password is neither the device's pending password nor its current one")
}
