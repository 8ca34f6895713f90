package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// EnrollmentIndex lists a mailbox's open enrollment links with one Query
// of an index, soonest to expire first, one page at a time, with the
// cursor of the next page ("" at the end). Invalid for a bad cursor.
type EnrollmentIndex interface {
	OpenEnrollments(ctx context.Context, mailbox string, now time.Time, cursor string, limit int) ([]Enrollment, string, error)
}

// EnrollmentLister is the use case behind GET
// /v1/mailboxes/{address}/enrollments: a domain's administrators see the
// links still open, to cancel the ones no longer needed. It is separate
// from Service because it needs only the index, the policy and a clock.
type EnrollmentLister struct {
	index  EnrollmentIndex
	policy Policy
	now    func() time.Time
}

// NewEnrollmentLister returns an EnrollmentLister; clock nil means
// time.Now.
func NewEnrollmentLister(index EnrollmentIndex, policy Policy, clock func() time.Time) (*EnrollmentLister, error) {
	if index == nil {
		return nil, errors.New("device: NewEnrollmentLister needs an enrollment index")
	}
	if clock == nil {
		clock = time.Now
	}
	return &EnrollmentLister{index: index, policy: policy, now: clock}, nil
}

// EnrollmentPage is one page of enrollment links and the next cursor.
type EnrollmentPage struct {
	Enrollments []Enrollment
	Next        string
}

// ListOpenEnrollments lists the open links of a mailbox, for its domain's
// administrators only.
func (l *EnrollmentLister) ListOpenEnrollments(ctx context.Context, c Caller, address, cursor string, limit int) (EnrollmentPage, error) {
	addr, err := NormalizeAddress("address", address)
	if err != nil {
		return EnrollmentPage{}, err
	}
	if c.Subject == "" {
		return EnrollmentPage{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	if !l.policy.IsAdmin(c, DomainOf(addr)) {
		return EnrollmentPage{}, apperr.New(apperr.Forbidden, "only an administrator of %s may list enrollment links", DomainOf(addr))
	}
	if limit, err = pageLimit(limit); err != nil {
		return EnrollmentPage{}, err
	}
	es, next, err := l.index.OpenEnrollments(ctx, addr, l.now().UTC(), cursor, limit)
	if err != nil {
		return EnrollmentPage{}, fmt.Errorf("list enrollments: %w", err)
	}
	return EnrollmentPage{Enrollments: es, Next: next}, nil
}
