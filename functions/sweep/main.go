// Command sweep is the scheduled expiry sweep, the backstop of DynamoDB's
// TTL: it ends every temporary device past its expiry, batch by batch,
// until none is left or the invocation's deadline nears, and logs a
// summary.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	repair, err := wire.Sweep(ctx, env)
	exitOn(env, err, "wire the sweep")
	lambda.Start(func(ctx context.Context) (lifecycle.SweepReport, error) {
		rep, err := lifecycle.Sweep(ctx, repair, env.Logger)
		env.Logger.InfoContext(ctx, "sweep summary", "expired", rep.Expired, "batches", rep.Batches, "truncated", rep.Truncated, "failed", rep.Failed)
		return rep, err
	})
}

// exitOn logs why the function cannot start and exits, so the Lambda
// service reports an init failure instead of serving half-wired.
func exitOn(env wire.Env, err error, what string) {
	if err != nil {
		env.Logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
