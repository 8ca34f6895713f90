// Command api is the management API's Lambda: every JWT-authorized route
// of the HTTP API (mailboxes, devices, enrollments, the audit trail).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/app"
)

func main() {
	a := app.MustFromEnv(context.Background())
	h, err := app.APIHandler(a, apigw.Options{})
	a.Must(err, "build API handler")
	lambda.Start(h.Handle)
}
