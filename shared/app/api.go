package app

import (
	"github.com/devicepass/devicepass/shared/apigw"
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
	opts.GroupsClaim, opts.Audit = a.Config.GroupsClaim, audit
	if opts.Logger == nil {
		opts.Logger = a.Logger
	}
	return apigw.New(a.Service, opts)
}
