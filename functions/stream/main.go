// Command stream is the DynamoDB stream's Lambda (F10): lifecycle events
// to the audit trail, the EventBridge bus and the owners' notice topic,
// and TTL removals of temporary devices recorded as expired. It reports
// batch item failures.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/wire"
	"github.com/devicepass/devicepass/shared/wire/streamwire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	h, err := streamwire.Function(ctx, env)
	exitOn(env, err, "build stream handler")
	lambda.Start(h.Handle)
}

// exitOn logs why the function cannot start and exits, so the Lambda
// service reports an init failure instead of serving half-wired.
func exitOn(env wire.Env, err error, what string) {
	if err != nil {
		env.Logger.Error(what, "error", err.Error())
		os.Exit(1)
	}
}
