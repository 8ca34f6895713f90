// Command verify is the password check for mail servers: POST /v1/verify,
// IAM-authorized, on the hot path of every IMAP, POP and SMTP login.
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
	v, err := wire.Verify(ctx, env)
	exitOn(env, err, "wire verification")
	h, err := apigw.NewVerify(apigw.VerifyDeps{Verifier: v, Window: v.Config().Verify.Window}, env.Logger)
	exitOn(env, err, "build verify handler")
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
