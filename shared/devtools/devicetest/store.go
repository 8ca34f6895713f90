package devicetest

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/verifier"
)

// MemStore is every store port in memory, with the semantics of the DynamoDB
// adapter (shared/dynamo): the same conditions on every write, the same
// error codes, the same values answered (the item after the write, or the
// item as it is when a condition fails), and the same loss of precision
// (last use and grace ends in milliseconds, idempotency expiry in seconds).
// Each method is atomic, as each DynamoDB request is. It is safe for
// concurrent use.
type MemStore struct {
	// Faults, when set, makes chosen calls fail (shared with MemSecrets to
	// count calls across both).
	Faults *Faults

	counts counter

	mu        sync.Mutex
	mailboxes map[string]*device.Mailbox
	devices   map[string]map[string]*device.Device         // mailbox, id
	fails     map[string]map[string]device.NetworkFailures // mailbox, network: failure counter
	idem      map[verifier.Hash]device.IdempotencyRecord

	enrollments map[string]*device.Enrollment
	policies    map[string]device.DomainPolicy // by domain
}

// Store is every store port at once, as the DynamoDB adapter and MemStore
// implement them: what the shared store suite needs to set up and check
// each port's contract. The domain itself never asks for all of them.
type Store interface {
	device.DeviceStore
	device.EnrollmentStore
	device.RotationStore
	device.VerifyStore
	device.RepairStore
	device.PolicyStore
	device.RotationFailureStore
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		mailboxes: map[string]*device.Mailbox{},
		devices:   map[string]map[string]*device.Device{},
		fails:     map[string]map[string]device.NetworkFailures{},
		idem:      map[verifier.Hash]device.IdempotencyRecord{},
	}
}

// Count returns how many times method (such as "CreateDevice") was called.
func (s *MemStore) Count(method string) int { return s.counts.get(method) }

// Counts returns the calls per method.
func (s *MemStore) Counts() map[string]int { return s.counts.all() }

// ResetCounts sets every call counter to zero.
func (s *MemStore) ResetCounts() { s.counts.reset() }

// Devices returns every device of mailbox in id order, as stored.
func (s *MemStore) Devices(mailbox string) []device.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorted(mailbox)
}

// AllDevices returns every device of every mailbox.
func (s *MemStore) AllDevices() []device.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []device.Device
	for m := range s.devices {
		out = append(out, s.sorted(m)...)
	}
	return out
}

// call counts a call and consults the fault hook: err is a fault that
// strikes before the call does anything, after one that strikes once it is
// done (pass it to settle or unlock).
func (s *MemStore) call(ctx context.Context, method string) (after, err error) {
	s.counts.inc(method)
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "%s: timed out", method)
	}
	before, after := s.Faults.call("Store." + method)
	return after, before
}

// lockedCall is call, then takes the lock unless the call fails at once;
// defer unlock when it returns no error.
func (s *MemStore) lockedCall(ctx context.Context, method string) (after, err error) {
	after, err = s.call(ctx, method)
	if err == nil {
		s.mu.Lock()
	}
	return after, err
}

// unlock releases the lock taken by lockedCall and applies its after-fault.
func (s *MemStore) unlock(err *error, after error) {
	s.mu.Unlock()
	settle(err, after)
}

// SaveMailbox implements device.DeviceStore.
func (s *MemStore) SaveMailbox(ctx context.Context, address, owner, by string, now time.Time) (_ device.Mailbox, _ bool, err error) {
	after, err := s.lockedCall(ctx, "SaveMailbox")
	if err != nil {
		return device.Mailbox{}, false, err
	}
	defer s.unlock(&err, after)
	now = rfcTime(now)
	m, ok := s.mailboxes[address]
	if !ok {
		m = &device.Mailbox{Address: address, CreatedAt: now, CreatedBy: by}
		s.mailboxes[address] = m
	}
	m.Owner, m.UpdatedAt = owner, now
	m.Version++
	return *m, m.Version == 1, nil
}

// Lookup implements device.MailboxReader.
func (s *MemStore) Lookup(ctx context.Context, q device.LookupQuery) (_ device.LookupResult, err error) {
	after, err := s.lockedCall(ctx, "Lookup")
	if err != nil {
		return device.LookupResult{}, err
	}
	defer s.unlock(&err, after)
	var res device.LookupResult
	if m, ok := s.mailboxes[q.Mailbox]; ok {
		c := *m
		res.Mailbox = &c
	}
	if q.DeviceID != "" {
		if d := s.devices[q.Mailbox][q.DeviceID]; d != nil {
			c := clone(*d)
			res.Device = &c
		}
	}
	if q.Idempotency != "" {
		// Like DynamoDB's TTL, expiry does not hide a record: it is deleted
		// some time later, or (DynamoDB Local) never.
		if r, ok := s.idem[q.Idempotency]; ok {
			res.Idempotency = &r
		}
	}
	if p, ok := s.policies[q.PolicyDomain]; ok && q.PolicyDomain != "" {
		p = clonePolicy(p)
		res.Policy = &p
	}
	return res, nil
}

// CreateDevice implements device.DeviceStore. The conditions are checked in the
// order of the adapter's transaction items (device, mailbox, idempotency
// record) and the first that fails decides the error; nothing is written
// unless all hold.
func (s *MemStore) CreateDevice(ctx context.Context, d device.Device, owner string, maxLive int, idem *device.IdempotencyRecord) (err error) {
	after, err := s.lockedCall(ctx, "CreateDevice")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	if err := s.checkPut(d, owner, maxLive); err != nil {
		return err
	}
	if idem != nil {
		if _, ok := s.idem[idem.Key]; ok {
			return apperr.New(apperr.Conflict, "the device exists already")
		}
	}
	s.put(ctx, d)
	if idem != nil {
		r := *idem
		r.Expires = time.Unix(r.Expires.Unix(), 0).UTC()
		s.idem[idem.Key] = r
	}
	return nil
}

// checkPut checks the conditions the adapter's transaction puts on a new
// device and its mailbox, in the adapter's order. The caller holds s.mu.
func (s *MemStore) checkPut(d device.Device, owner string, maxLive int) error {
	if s.devices[d.Mailbox][d.ID] != nil {
		return apperr.New(apperr.Conflict, "the device exists already")
	}
	m := s.mailboxes[d.Mailbox]
	if m == nil || m.Owner != owner {
		return apperr.New(apperr.NotFound, "mailbox is gone or its owner changed")
	}
	if m.Live >= maxLive {
		return apperr.New(apperr.LimitReached, "this mailbox has %d devices, the most allowed; revoke one first", maxLive)
	}
	return nil
}

// put stores a new device, with the actor of ctx, and counts it in its
// mailbox. The caller holds s.mu and has called checkPut.
func (s *MemStore) put(ctx context.Context, d device.Device) {
	stored := encoded(d)
	stored.LastActor = device.ActorFrom(ctx)
	if s.devices[d.Mailbox] == nil {
		s.devices[d.Mailbox] = map[string]*device.Device{}
	}
	s.devices[d.Mailbox][d.ID] = &stored
	m := s.mailboxes[d.Mailbox]
	m.Live++
	m.Version++
}

// GetDevice implements device.MailboxReader.
func (s *MemStore) GetDevice(ctx context.Context, mailbox, id string) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "GetDevice")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	d := s.devices[mailbox][id]
	if d == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "no device %s in mailbox %s", id, mailbox)
	}
	return clone(*d), nil
}

// ListDevices implements device.DeviceStore, with the adapter's cursor format.
func (s *MemStore) ListDevices(ctx context.Context, mailbox, cursor string, limit int) (_ []device.Device, _ string, err error) {
	after, err := s.call(ctx, "ListDevices")
	if err != nil {
		return nil, "", err
	}
	defer settle(&err, after)
	// The adapter's order: live devices by id, then ended ones by id; a
	// cursor names the range ("d1:" live, "e1:" ended) and the id.
	rank := func(d device.Device) string {
		if d.Status.Live() {
			return "d1:" + d.ID
		}
		return "e1:" + d.ID
	}
	start := ""
	if cursor != "" {
		b, derr := base64.RawURLEncoding.DecodeString(cursor)
		if derr != nil || len(b) != 3+26 || (string(b[:3]) != "d1:" && string(b[:3]) != "e1:") {
			return nil, "", apperr.Field("cursor", "is not a cursor this API returned")
		}
		start = string(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.sorted(mailbox)
	sort.SliceStable(all, func(i, j int) bool { return rank(all[i]) < rank(all[j]) })
	var out []device.Device
	for _, d := range all {
		if rank(d) > start {
			out = append(out, d)
		}
	}
	if len(out) > limit {
		return out[:limit], base64.RawURLEncoding.EncodeToString([]byte(rank(out[limit-1]))), nil
	}
	return out, "", nil
}

// UpdateDevice implements device.DeviceStore with device.CheckUpdate.
func (s *MemStore) UpdateDevice(ctx context.Context, d device.Device) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "UpdateDevice")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[d.Mailbox][d.ID]
	if cur == nil {
		return device.Device{}, apperr.New(apperr.Conflict, "device %s changed meanwhile; read it again and retry", d.ID)
	}
	if err := device.CheckUpdate(*cur, d.Version); err != nil {
		return device.Device{}, err
	}
	e := encoded(d)
	cur.Name, cur.Note, cur.User = e.Name, e.Note, e.User
	cur.Scopes, cur.AllowIPs, cur.Rotation = e.Scopes, e.AllowIPs, e.Rotation
	cur.Status, cur.UpdatedAt, cur.Grace = e.Status, e.UpdatedAt, e.Grace
	cur.Version++
	return clone(*cur), nil
}

// EndDevice implements device.DeviceEnder with device.CheckEnd. Like the adapter, it answers d as
// given with the ended status, now, the next version and no verifiers.
func (s *MemStore) EndDevice(ctx context.Context, d device.Device, status device.Status, by string, now time.Time) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "EndDevice")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[d.Mailbox][d.ID]
	m := s.mailboxes[d.Mailbox]
	if cur == nil || m == nil || m.Live <= 0 {
		return device.Device{}, apperr.New(apperr.Conflict, "device %s is no longer live", d.ID)
	}
	if err := device.CheckEnd(*cur); err != nil {
		return device.Device{}, err
	}
	cur.Status, cur.UpdatedAt = status, rfcTime(now)
	if r := device.EndReasonFrom(ctx); r != "" {
		cur.EndReason, d.EndReason = r, r
	}
	cur.Version++
	clearVerifiers(cur)
	cur.PendingManual, cur.PendingAt = false, time.Time{}
	m.Live--
	m.Version++
	d.Status, d.UpdatedAt, d.Version = status, now, d.Version+1
	clearVerifiers(&d)
	return d, nil
}

func clearVerifiers(d *device.Device) {
	d.Current, d.Previous, d.Pending, d.PreviousUntil, d.PendingBase = nil, nil, nil, time.Time{}, ""
}

// BeginRotation implements device.RotationStore with the adapter's guard,
// device.CheckBeginRotation.
func (s *MemStore) BeginRotation(ctx context.Context, mailbox, id, version, base string, manual bool, now time.Time) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "BeginRotation")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[mailbox][id]
	if cur == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "no device %s in mailbox %s", id, mailbox)
	}
	switch err := device.CheckBeginRotation(*cur, version, base, manual, now); {
	case errors.Is(err, device.ErrAlreadyPending):
		return clone(*cur), nil
	case err != nil:
		return clone(*cur), err
	}
	cur.Pending = &device.Verifier{Version: version}
	cur.PendingBase, cur.PendingManual, cur.PendingAt = base, manual, msTime(now)
	return clone(*cur), nil
}

// SetPending implements device.RotationStore with device.CheckSetPending.
func (s *MemStore) SetPending(ctx context.Context, mailbox, id, version string, hash verifier.Hash) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "SetPending")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[mailbox][id]
	if cur == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "set pending verifier: no such device")
	}
	if err := device.CheckSetPending(*cur, version, hash); err != nil {
		return clone(*cur), err
	}
	cur.Pending.Hash = hash
	return clone(*cur), nil
}

// Promote implements device.RotationStore with device.CheckPromote.
func (s *MemStore) Promote(ctx context.Context, mailbox, id, version string, now, fixedUntil time.Time) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "Promote")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[mailbox][id]
	if cur == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "promote verifier: no such device")
	}
	if err := device.CheckPromote(*cur, version); err != nil {
		return clone(*cur), err
	}
	old := clone(*cur)
	until := time.UnixMilli(now.UnixMilli() + cur.Grace.Milliseconds()).UTC()
	if !fixedUntil.IsZero() {
		until = msTime(fixedUntil)
	}
	cur.Previous, cur.PreviousUntil = cur.Current, until
	cur.Current = cur.Pending
	cur.Pending, cur.PendingBase, cur.PendingManual, cur.PendingAt = nil, "", false, time.Time{}
	cur.RotatedAt = rfcTime(now)
	clearRotationError(cur)
	return old, nil
}

// Replace implements device.RotationStore with device.CheckReplace.
func (s *MemStore) Replace(ctx context.Context, mailbox, id, version string, hash verifier.Hash, base string, now, until time.Time) (_ device.Device, err error) {
	after, err := s.lockedCall(ctx, "Replace")
	if err != nil {
		return device.Device{}, err
	}
	defer s.unlock(&err, after)
	cur := s.devices[mailbox][id]
	if cur == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "replace verifier: no such device")
	}
	if err := device.CheckReplace(*cur, version, hash, base, now); err != nil {
		return clone(*cur), err
	}
	cur.Previous, cur.PreviousUntil = cur.Current, msTime(until)
	cur.Current = &device.Verifier{Version: version, Hash: hash}
	cur.Pending, cur.PendingBase, cur.PendingManual, cur.PendingAt = nil, "", false, time.Time{}
	cur.RotatedAt, cur.LastActor = rfcTime(now), device.ActorFrom(ctx)
	clearRotationError(cur)
	return clone(*cur), nil
}

// Candidates implements device.CandidateReader.
func (s *MemStore) Candidates(ctx context.Context, mailbox string) (_ device.Candidates, err error) {
	after, err := s.lockedCall(ctx, "Candidates")
	if err != nil {
		return device.Candidates{}, err
	}
	defer s.unlock(&err, after)
	c := device.Candidates{Devices: s.sorted(mailbox)}
	for _, n := range s.fails[mailbox] {
		c.Networks = append(c.Networks, n)
	}
	sort.Slice(c.Networks, func(i, j int) bool { return c.Networks[i].Network < c.Networks[j].Network })
	return c, nil
}

// Attempt implements device.VerifyStore with device.CheckAttempt; seen
// plays no part, as the adapter only uses it to pick its first write.
func (s *MemStore) Attempt(ctx context.Context, mailbox string, a device.Attempt, _ *device.NetworkFailures) (err error) {
	after, err := s.lockedCall(ctx, "Attempt")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	var cur *device.NetworkFailures
	if n, ok := s.fails[mailbox][a.Network]; ok {
		cur = &n
	}
	if err := device.CheckAttempt(cur, a); err != nil {
		return err
	}
	if !a.Failed {
		return nil
	}
	if s.fails[mailbox] == nil {
		s.fails[mailbox] = map[string]device.NetworkFailures{}
	}
	n := a.Apply(cur)
	n.First = msTime(n.First)
	s.fails[mailbox][a.Network] = n
	return nil
}

// TouchLastUsed implements device.VerifyStore with device.CheckTouchLastUsed.
func (s *MemStore) TouchLastUsed(ctx context.Context, mailbox, id string, at time.Time, protocol device.Scope, ip string, notAfter time.Time) (err error) {
	after, err := s.lockedCall(ctx, "TouchLastUsed")
	if err != nil {
		return err
	}
	defer s.unlock(&err, after)
	cur := s.devices[mailbox][id]
	if cur == nil {
		return apperr.New(apperr.Conflict, "touch last used: no such device")
	}
	if err := device.CheckTouchLastUsed(*cur, notAfter); err != nil {
		return err
	}
	cur.LastUsedAt, cur.LastUsedProtocol, cur.LastUsedIP = msTime(at), protocol, ip
	return nil
}

// sorted returns copies of mailbox's devices in id order; s.mu is held.
func (s *MemStore) sorted(mailbox string) []device.Device {
	ids := make([]string, 0, len(s.devices[mailbox]))
	for id := range s.devices[mailbox] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]device.Device, 0, len(ids))
	for _, id := range ids {
		out = append(out, clone(*s.devices[mailbox][id]))
	}
	return out
}

// encoded is what the adapter stores of a new device and reads back: the
// fields CreateDevice writes, at the precision it writes them.
func encoded(d device.Device) device.Device {
	e := device.Device{
		Mailbox: d.Mailbox, ID: d.ID, Name: d.Name, Note: d.Note, User: d.User,
		Scopes:    append([]device.Scope(nil), d.Scopes...),
		AllowIPs:  append([]netip.Prefix(nil), d.AllowIPs...),
		ExpiresAt: rfcTime(d.ExpiresAt),
		Grace:     d.Grace.Truncate(time.Millisecond),
		Status:    d.Status,
		CreatedAt: rfcTime(d.CreatedAt), CreatedBy: d.CreatedBy,
		UpdatedAt: rfcTime(d.UpdatedAt), RotatedAt: rfcTime(d.RotatedAt),
		SecretARN: d.SecretARN,
		Version:   d.Version,
	}
	if len(e.Scopes) == 0 {
		e.Scopes = nil
	}
	if len(e.AllowIPs) == 0 {
		e.AllowIPs = nil
	}
	if r := d.Rotation; r != nil {
		c := *r
		c.Grace = c.Grace.Truncate(time.Millisecond)
		e.Rotation = &c
	}
	if v := d.Current; v != nil && v.Version != "" {
		c := *v
		e.Current = &c
	}
	return e
}

// clone deep-copies a device.
func clone(d device.Device) device.Device {
	c := d
	c.Scopes = append([]device.Scope(nil), d.Scopes...)
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	c.AllowIPs = append([]netip.Prefix(nil), d.AllowIPs...)
	if len(c.AllowIPs) == 0 {
		c.AllowIPs = nil
	}
	if d.Rotation != nil {
		r := *d.Rotation
		c.Rotation = &r
	}
	for _, p := range []**device.Verifier{&c.Current, &c.Previous, &c.Pending} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	if d.Networks != nil {
		c.Networks = make(map[string]time.Time, len(d.Networks))
		for k, v := range d.Networks {
			c.Networks[k] = v
		}
	}
	return c
}

// rfcTime is t as the adapter stores RFC 3339 instants: UTC, without the
// monotonic reading.
func rfcTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// msTime is t as the adapter stores millisecond instants.
func msTime(t time.Time) time.Time {
	if t.IsZero() || t.UnixMilli() == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}
