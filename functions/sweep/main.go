// Command sweep is the scheduled expiry sweep, the backstop of DynamoDB's
// TTL: it ends every temporary device past its expiry, batch by batch,
// until none is left or the invocation's deadline nears, and logs a
// summary.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	repair, hygiene, err := wire.PolicySweep(ctx, env)
	exitOn(env, err, "wire the sweep")
	lambda.Start(func(ctx context.Context) (report, error) {
		rep, err := lifecycle.Sweep(ctx, repair, env.Logger)
		env.Logger.InfoContext(ctx, "sweep summary", "expired", rep.Expired, "batches", rep.Batches, "truncated", rep.Truncated, "failed", rep.Failed)
		// The policy part runs even after a failed expiry part: they touch
		// different devices, and each retries on the next sweep.
		pol, perr := lifecycle.PolicySweep(ctx, hygiene, env.Logger)
		return report{Expiry: rep, Policy: pol}, errors.Join(err, perr)
	})
}

// report is what one invocation did.
type report struct {
	Expiry lifecycle.SweepReport `json:"expiry"`
	Policy device.HygieneReport  `json:"policy"`
}

// exitOn logs why the function cannot start and exits, so the Lambda
// service reports an init failure instead of serving half-wired.
func exitOn(env wire.Env, err error, what string) {
	if err != nil {
		env.Logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
