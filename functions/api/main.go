// Command api is the management API's Lambda: every JWT-authorized route
// of the HTTP API (mailboxes and their devices).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/app"
)

func main() {
	a := app.MustFromEnv(context.Background())
	h, err := apigw.New(a.Service, apigw.Options{GroupsClaim: a.Config.GroupsClaim, Logger: a.Logger})
	a.Must(err, "build API handler")
	lambda.Start(h.Handle)
}
