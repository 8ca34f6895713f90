package devicetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// MemSecrets is device.Secrets and device.Scheduler in memory, with AWS
// Secrets Manager's documented behaviour as the Secrets Manager adapter
// (shared/secrets) translates it, where moto is laxer:
//
//   - Create with a name in use is Conflict (ResourceExistsException),
//     unless the token and value equal the existing version's (idempotent),
//     and always while the secret is scheduled for deletion.
//   - PutPending with a version id in use is ignored for the same value
//     and Conflict for another (moto accepts and overwrites); a new version
//     takes AWSPENDING from the version that had it.
//   - MoveCurrent is Conflict unless from holds AWSCURRENT, and moves
//     AWSPREVIOUS to from; RemovePending is Conflict unless the version holds
//     AWSPENDING.
//   - A secret scheduled for deletion still describes (Deleted set, like
//     DeletedDate) but every read and write of it is Conflict
//     (InvalidRequestException); scheduling it again succeeds, and so does a
//     forced deletion (moto refuses one).
//   - Describe lists only versions that have a staging label; versions
//     without one are deprecated, and still readable by id.
//
// It is safe for concurrent use.
type MemSecrets struct {
	// Faults, when set, makes chosen calls fail (shared with MemStore to
	// count calls across both).
	Faults *Faults

	counts counter

	mu      sync.Mutex
	secrets map[string]*memSecret // by name
}

type memSecret struct {
	name, arn string
	versions  map[string]*memVersion
	tags      map[string]string
	deleted   bool
	days      int
	schedule  *device.RotationPolicy
	desc      string
}

type memVersion struct {
	value  device.SecretValue
	stages []string
}

var (
	_ device.Secrets   = (*MemSecrets)(nil)
	_ device.Scheduler = (*MemSecrets)(nil)
)

// NewMemSecrets returns an empty Secrets Manager.
func NewMemSecrets() *MemSecrets {
	return &MemSecrets{secrets: map[string]*memSecret{}}
}

// ARNPrefix is what MemSecrets' ARNs start with: its account and Region.
const ARNPrefix = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"

// Count returns how many times method (such as "PutPending") was called.
func (m *MemSecrets) Count(method string) int { return m.counts.get(method) }

// Counts returns the calls per method.
func (m *MemSecrets) Counts() map[string]int { return m.counts.all() }

// ResetCounts sets every call counter to zero.
func (m *MemSecrets) ResetCounts() { m.counts.reset() }

// Writes returns the number of calls that count against Secrets Manager's
// write quota (every method but Read and Describe).
func (m *MemSecrets) Writes() int {
	n := 0
	for k, v := range m.counts.all() {
		if k != "Read" && k != "Describe" {
			n += v
		}
	}
	return n
}

// Names returns the names of the secrets that exist (scheduled for
// deletion or not), sorted.
func (m *MemSecrets) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.secrets))
	for n := range m.secrets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Live returns the names of the secrets not scheduled for deletion, sorted.
func (m *MemSecrets) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n, s := range m.secrets {
		if !s.deleted {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// State returns a secret's state as Describe would, without counting a
// call or consulting the fault hook, and whether the secret exists.
func (m *MemSecrets) State(secretID string) (device.SecretState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.find(secretID)
	if s == nil {
		return device.SecretState{}, false
	}
	return s.state(), true
}

// CurrentValue returns the AWSCURRENT value of a secret, and its version,
// whether or not it is scheduled for deletion.
func (m *MemSecrets) CurrentValue(secretID string) (device.SecretValue, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.find(secretID)
	if s == nil {
		return device.SecretValue{}, "", false
	}
	id := s.withStage(device.StageCurrent)
	if id == "" {
		return device.SecretValue{}, "", false
	}
	return s.versions[id].value, id, true
}

// RecoveryDays returns the recovery window a secret was scheduled for
// deletion with, or 0.
func (m *MemSecrets) RecoveryDays(secretID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.find(secretID); s != nil && s.deleted {
		return s.days
	}
	return 0
}

// Schedule returns a secret's rotation schedule as SetSchedule left it.
func (m *MemSecrets) Schedule(secretID string) *device.RotationPolicy {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.find(secretID); s != nil && s.schedule != nil {
		p := *s.schedule
		return &p
	}
	return nil
}

// call is MemStore.call for the secrets: counted, with the fault hook.
func (m *MemSecrets) call(ctx context.Context, method string) (after, err error) {
	m.counts.inc(method)
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "%s: timed out", method)
	}
	before, after := m.Faults.call("Secrets." + method)
	return after, before
}

// lockedCall is call, then takes the lock unless the call fails at once.
func (m *MemSecrets) lockedCall(ctx context.Context, method string) (after, err error) {
	after, err = m.call(ctx, method)
	if err == nil {
		m.mu.Lock()
	}
	return after, err
}

// unlock releases the lock taken by lockedCall and applies its after-fault.
func (m *MemSecrets) unlock(err *error, after error) {
	m.mu.Unlock()
	settle(err, after)
}

// find resolves a name or full ARN; m.mu is held.
func (m *MemSecrets) find(secretID string) *memSecret {
	if s, ok := m.secrets[secretID]; ok {
		return s
	}
	if strings.HasPrefix(secretID, ARNPrefix) {
		for _, s := range m.secrets {
			if s.arn == secretID {
				return s
			}
		}
	}
	return nil
}

// get resolves secretID for an operation on a live secret.
func (m *MemSecrets) get(secretID, op string) (*memSecret, error) {
	s := m.find(secretID)
	if s == nil {
		return nil, apperr.New(apperr.NotFound, "%s: no such secret or version", op)
	}
	if s.deleted {
		return nil, apperr.New(apperr.Conflict, "%s: refused in the secret's state (it is marked for deletion)", op)
	}
	return s, nil
}

func (s *memSecret) withStage(stage string) string {
	for id, v := range s.versions {
		if hasStage(v.stages, stage) {
			return id
		}
	}
	return ""
}

func (s *memSecret) state() device.SecretState {
	st := device.SecretState{ARN: s.arn, Name: s.name, Versions: map[string][]string{}, Deleted: s.deleted, Tags: map[string]string{}}
	for id, v := range s.versions {
		if len(v.stages) > 0 {
			st.Versions[id] = append([]string(nil), v.stages...)
		}
	}
	for k, v := range s.tags {
		st.Tags[k] = v
	}
	return st
}

func hasStage(stages []string, stage string) bool {
	for _, s := range stages {
		if s == stage {
			return true
		}
	}
	return false
}

func without(stages []string, stage string) []string {
	out := stages[:0:0]
	for _, s := range stages {
		if s != stage {
			out = append(out, s)
		}
	}
	return out
}

// Create implements device.Secrets.
func (m *MemSecrets) Create(ctx context.Context, in device.SecretInput) (_ device.SecretRef, err error) {
	after, err := m.call(ctx, "Create")
	if err != nil {
		return device.SecretRef{}, err
	}
	defer settle(&err, after)
	if in.Name == "" || in.Token == "" {
		return device.SecretRef{}, apperr.New(apperr.Internal, "create secret failed: name and token are required")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.secrets[in.Name]; s != nil {
		if v := s.versions[in.Token]; v != nil && !s.deleted && v.value == in.Value {
			return device.SecretRef{ARN: s.arn, Version: in.Token}, nil
		}
		return device.SecretRef{}, apperr.New(apperr.Conflict, "create secret: exists already")
	}
	s := &memSecret{
		name:     in.Name,
		arn:      ARNPrefix + in.Name + "-" + randomSuffix(),
		versions: map[string]*memVersion{in.Token: {value: in.Value, stages: []string{device.StageCurrent}}},
		tags:     map[string]string{},
		desc:     in.Description,
	}
	for k, v := range in.Tags {
		s.tags[k] = v
	}
	m.secrets[in.Name] = s
	return device.SecretRef{ARN: s.arn, Version: in.Token}, nil
}

// Read implements device.Secrets.
func (m *MemSecrets) Read(ctx context.Context, secretID, version string) (_ device.SecretVersion, err error) {
	after, err := m.lockedCall(ctx, "Read")
	if err != nil {
		return device.SecretVersion{}, err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "read secret")
	if err != nil {
		return device.SecretVersion{}, err
	}
	if version == "" {
		version = s.withStage(device.StageCurrent)
	}
	v := s.versions[version]
	if v == nil {
		return device.SecretVersion{}, apperr.New(apperr.NotFound, "read secret: no such secret or version")
	}
	return device.SecretVersion{ARN: s.arn, Name: s.name, Version: version, Stages: append([]string(nil), v.stages...), Value: v.value}, nil
}

// Describe implements device.Secrets.
func (m *MemSecrets) Describe(ctx context.Context, secretID string) (_ device.SecretState, err error) {
	after, err := m.lockedCall(ctx, "Describe")
	if err != nil {
		return device.SecretState{}, err
	}
	defer m.unlock(&err, after)
	s := m.find(secretID)
	if s == nil {
		return device.SecretState{}, apperr.New(apperr.NotFound, "describe secret: no such secret or version")
	}
	return s.state(), nil
}

// PutPending implements device.Secrets.
func (m *MemSecrets) PutPending(ctx context.Context, secretID, token string, value device.SecretValue) (err error) {
	after, err := m.lockedCall(ctx, "PutPending")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "put pending version")
	if err != nil {
		return err
	}
	if v := s.versions[token]; v != nil {
		if v.value == value {
			return nil // AWS ignores a repeated request
		}
		return apperr.New(apperr.Conflict, "put pending version: exists already")
	}
	for _, v := range s.versions {
		v.stages = without(v.stages, device.StagePending)
	}
	s.versions[token] = &memVersion{value: value, stages: []string{device.StagePending}}
	return nil
}

// MoveCurrent implements device.Secrets.
func (m *MemSecrets) MoveCurrent(ctx context.Context, secretID, to, from string) (err error) {
	after, err := m.lockedCall(ctx, "MoveCurrent")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "move AWSCURRENT")
	if err != nil {
		return err
	}
	fv, tv := s.versions[from], s.versions[to]
	if fv == nil || tv == nil {
		return apperr.New(apperr.Conflict, "move AWSCURRENT: refused (not a valid version)")
	}
	if !hasStage(fv.stages, device.StageCurrent) {
		return apperr.New(apperr.Conflict, "move AWSCURRENT: refused (AWSCURRENT is not on version %s)", from)
	}
	if from == to {
		return nil
	}
	for _, v := range s.versions {
		v.stages = without(v.stages, device.StagePrevious)
	}
	fv.stages = append(without(fv.stages, device.StageCurrent), device.StagePrevious)
	tv.stages = append(tv.stages, device.StageCurrent)
	return nil
}

// RemovePending implements device.Secrets.
func (m *MemSecrets) RemovePending(ctx context.Context, secretID, version string) (err error) {
	after, err := m.lockedCall(ctx, "RemovePending")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "remove AWSPENDING")
	if err != nil {
		return err
	}
	v := s.versions[version]
	if v == nil || !hasStage(v.stages, device.StagePending) {
		return apperr.New(apperr.Conflict, "remove AWSPENDING: refused (AWSPENDING is not on version %s)", version)
	}
	v.stages = without(v.stages, device.StagePending)
	return nil
}

// ScheduleDeletion implements device.Secrets.
func (m *MemSecrets) ScheduleDeletion(ctx context.Context, secretID string, days int) (err error) {
	after, err := m.lockedCall(ctx, "ScheduleDeletion")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s := m.find(secretID)
	if s == nil {
		return apperr.New(apperr.NotFound, "schedule secret deletion: no such secret or version")
	}
	if s.deleted {
		return nil
	}
	if days < 7 || days > 30 {
		return apperr.New(apperr.Conflict, "schedule secret deletion: refused (the recovery window must be 7-30 days)")
	}
	s.deleted, s.days = true, days
	return nil
}

// ForceDelete implements device.Secrets.
func (m *MemSecrets) ForceDelete(ctx context.Context, secretID string) (err error) {
	after, err := m.lockedCall(ctx, "ForceDelete")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	if s := m.find(secretID); s != nil {
		delete(m.secrets, s.name)
	}
	return nil
}

// Description returns a secret's Description.
func (m *MemSecrets) Description(secretID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.find(secretID); s != nil {
		return s.desc
	}
	return ""
}

// SetDescription implements device.Secrets; like UpdateSecret, it is
// refused on a secret scheduled for deletion.
func (m *MemSecrets) SetDescription(ctx context.Context, secretID, description string) (err error) {
	after, err := m.lockedCall(ctx, "SetDescription")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "update secret description")
	if err != nil {
		return err
	}
	s.desc = description
	return nil
}

// SetSchedule implements device.Scheduler.
func (m *MemSecrets) SetSchedule(ctx context.Context, secretID string, p *device.RotationPolicy) (err error) {
	after, err := m.lockedCall(ctx, "SetSchedule")
	if err != nil {
		return err
	}
	defer m.unlock(&err, after)
	s, err := m.get(secretID, "set rotation schedule")
	if err != nil {
		return err
	}
	if p == nil {
		s.schedule = nil
		return nil
	}
	c := *p
	s.schedule = &c
	return nil
}

func randomSuffix() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
