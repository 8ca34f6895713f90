package app

import (
	"log/slog"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// APIHandler builds the management API's handler for a: the Lambda and
// the local runner serve the same one. Logger and Clock of opts are kept;
// the groups claim and the audit service come from a.
func APIHandler(a *App, opts apigw.Options) (*apigw.Handler, error) {
	audit, err := lifecycle.NewAudit(a.Store, a.Store, a.Service.Config().Policy)
	if err != nil {
		return nil, err
	}
	opts.GroupsClaim = a.Config.GroupsClaim
	if opts.Logger == nil {
		opts.Logger = a.Logger
	}
	deps := APIDeps(a)
	deps.Audit = audit
	// The handler's clock decides which links are still open, as it
	// decides the statuses the answers show.
	if deps.OpenLinks, err = device.NewEnrollmentLister(a.Store, a.Service.Config().Policy, opts.Clock); err != nil {
		return nil, err
	}
	return apigw.New(deps, opts)
}

// APIDeps are the management API's use cases of a, without the audit
// trail. The directory reads the mailbox indexes of a's store.
func APIDeps(a *App) apigw.Deps {
	deps := apigw.Deps{Mailboxes: a.Service, Devices: a.Service, Enrollments: a.Service,
		StepUpMaxAge: a.Service.Config().Policy.StepUpMaxAge}
	if dir, err := device.NewDirectory(a.Store, a.Service.Config().Policy); err == nil {
		deps.Directory = dir
	}
	return deps
}

// VerifyHandler builds the verify function's handler for a; logger nil
// means a's.
func VerifyHandler(a *App, logger *slog.Logger) (*apigw.VerifyHandler, error) {
	if logger == nil {
		logger = a.Logger
	}
	return apigw.NewVerify(apigw.VerifyDeps{Verifier: a.Service, Window: a.Service.Config().Verify.Window}, logger)
}
