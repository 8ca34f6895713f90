// Command sweep is the scheduled expiry sweep (F10), the backstop of
// DynamoDB's TTL: it ends every temporary device past its expiry, batch by
// batch, until none is left or the invocation's deadline nears, and logs a
// summary.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/app"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

func main() {
	a := app.MustFromEnv(context.Background())
	lambda.Start(func(ctx context.Context) (lifecycle.SweepReport, error) {
		rep, err := lifecycle.Sweep(ctx, a.Service, a.Logger)
		a.Logger.InfoContext(ctx, "sweep summary", "expired", rep.Expired, "batches", rep.Batches, "truncated", rep.Truncated, "failed", rep.Failed)
		return rep, err
	})
}
