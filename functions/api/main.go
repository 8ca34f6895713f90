// Command api is the management API's Lambda: every JWT-authorized route
// of the HTTP API (mailboxes, devices, enrollments, the audit trail).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	m, err := wire.API(ctx, env)
	exitOn(env, err, "wire the API's use cases")
	deps := apigw.Deps{Mailboxes: m.Devices, Devices: m.Devices, Enrollments: m.Enrollments, Audit: m.Audit,
		Directory: m.Directory, OpenLinks: m.OpenLinks, Policies: m.Policies, StepUpMaxAge: m.Devices.Config().Policy.StepUpMaxAge}
	h, err := apigw.New(deps, apigw.Options{GroupsClaim: env.Config.GroupsClaim, Logger: env.Logger})
	exitOn(env, err, "build API handler")
	// The IAM-authorized report of a changed main password revokes
	// devices, so it runs here, with the API's permissions.
	c, err := apigw.NewCredential(m.Devices, env.Logger)
	exitOn(env, err, "build credential handler")
	lambda.Start(apigw.WithCredential(h, c))
}

// exitOn logs why the function cannot start and exits, so the Lambda
// service reports an init failure instead of serving half-wired.
func exitOn(env wire.Env, err error, what string) {
	if err != nil {
		env.Logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
