// Command reconciler repairs what a crash between two AWS calls leaves
// behind: secrets without a device, devices without a secret, rotations
// stopped half-way. EventBridge runs it every 15 minutes; it logs a report
// and emits its counts as CloudWatch metrics (EMF).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	r, err := wire.Reconciler(ctx, env, os.Stdout)
	exitOn(env, err, "build reconciler")
	lambda.Start(r.Handle)
}

// exitOn logs why the function cannot start and exits, so the Lambda
// service reports an init failure instead of serving half-wired.
func exitOn(env wire.Env, err error, what string) {
	if err != nil {
		env.Logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
