// Command verify is the password check for mail servers: POST /v1/verify,
// IAM-authorized, on the hot path of every IMAP, POP and SMTP login.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/app"
)

func main() {
	a := app.MustFromEnv(context.Background())
	h, err := app.VerifyHandler(a, nil)
	a.Must(err, "build verify handler")
	lambda.Start(h.Handle)
}
