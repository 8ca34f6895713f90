// Command rotation is the Secrets Manager rotation Lambda: it runs
// createSecret, setSecret, testSecret and finishSecret for device secrets.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/rotation"
	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	ctx := context.Background()
	env, err := wire.FromEnv(ctx)
	exitOn(env, err, "read environment")
	eng, err := wire.Rotation(ctx, env)
	exitOn(env, err, "wire the rotation engine")
	h, err := rotation.New(eng, env.Logger)
	exitOn(env, err, "build rotation handler")
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
