// Command stream is the DynamoDB stream's Lambda (F10): lifecycle events
// to the audit trail, the EventBridge bus and the owners' notice topic,
// and TTL removals of temporary devices recorded as expired. It reports
// batch item failures.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/app"
)

func main() {
	_, h := app.MustStreamFromEnv(context.Background())
	lambda.Start(h.Handle)
}
