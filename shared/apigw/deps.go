package apigw

import (
	"context"
	"time"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// The use cases the handlers call, each declared here with only the
// methods its routes need, so a handler depends on what it uses and tests
// can stand in for one use case at a time. *device.Service satisfies
// Mailboxes, Devices, Enrollments and Verifier; *lifecycle.Audit satisfies
// AuditReader.

// Mailboxes registers and reads mailboxes.
type Mailboxes interface {
	RegisterMailbox(ctx context.Context, c device.Caller, address, owner string) (device.Mailbox, bool, error)
	GetMailbox(ctx context.Context, c device.Caller, address string) (device.Mailbox, error)
}

// Devices manages a mailbox's devices and their passwords.
type Devices interface {
	CreateDevice(ctx context.Context, c device.Caller, address string, in device.CreateInput, idemKey string) (device.Created, error)
	ListDevices(ctx context.Context, c device.Caller, address, cursor string, limit int) (device.Page, error)
	GetDevice(ctx context.Context, c device.Caller, address, id string) (device.Device, error)
	UpdateDevice(ctx context.Context, c device.Caller, address, id string, p device.Patch) (device.Device, error)
	Regenerate(ctx context.Context, c device.Caller, address, id string, grace time.Duration) (device.Created, error)
	Revoke(ctx context.Context, c device.Caller, address, id string) (device.Device, error)
	RevokeAll(ctx context.Context, c device.Caller, address string) (int, error)
}

// Enrollments makes, cancels and redeems enrollment links.
type Enrollments interface {
	CreateEnrollment(ctx context.Context, c device.Caller, address string, in device.EnrollmentInput) (device.Enrollment, string, error)
	CancelEnrollment(ctx context.Context, c device.Caller, address, id string) (device.Enrollment, error)
	RedeemEnrollment(ctx context.Context, c device.Caller, token string) (device.Created, error)
}

// Verifier checks a presented password.
type Verifier interface {
	Verify(ctx context.Context, req device.VerifyRequest) (bool, error)
}

// Directory tells callers who they are and which mailboxes they may open.
// *device.Directory satisfies it.
type Directory interface {
	Me(c device.Caller) (device.Me, error)
	MyMailboxes(ctx context.Context, c device.Caller, cursor string, limit int) (device.MailboxPage, error)
	DomainMailboxes(ctx context.Context, c device.Caller, domain, prefix, cursor string, limit int) (device.MailboxPage, error)
}

// EnrollmentLister lists a mailbox's open enrollment links.
// *device.EnrollmentLister satisfies it.
type EnrollmentLister interface {
	ListOpenEnrollments(ctx context.Context, c device.Caller, address, cursor string, limit int) (device.EnrollmentPage, error)
}

// AuditReader lists a mailbox's audit trail.
type AuditReader interface {
	List(ctx context.Context, c device.Caller, address, cursor string, limit int) (lifecycle.Page, error)
}

// Deps are what the management API's Handler serves.
type Deps struct {
	Mailboxes   Mailboxes
	Devices     Devices
	Enrollments Enrollments
	// Audit serves GET /v1/mailboxes/{address}/audit; without it that
	// route answers 503 (the deployment lacks the audit trail).
	Audit AuditReader
	// Directory serves GET /v1/me, /v1/me/mailboxes and
	// /v1/domains/{domain}/mailboxes; without it they answer 503.
	Directory Directory
	// OpenLinks serves GET /v1/mailboxes/{address}/enrollments; without it
	// that route answers 503.
	OpenLinks EnrollmentLister
	// Policies serves the domain policy routes and the limits a mailbox's
	// GET shows; without it those routes answer 503 and mailboxes show no
	// limits.
	Policies Policies
	// StepUpMaxAge is how recent a login the use cases demand for the
	// step-up routes; the RFC 9470 challenge advertises it as max_age, so
	// it must be the value they enforce.
	StepUpMaxAge time.Duration
}

// VerifyDeps are what VerifyHandler serves.
type VerifyDeps struct {
	Verifier Verifier
	// Window is the rate-limit window the verifier counts failures in;
	// Retry-After of a 429 is the time to its end. Zero: a fixed minute.
	Window time.Duration
}
