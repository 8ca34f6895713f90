// Command rotationevents is the target of the EventBridge rule on Secrets
// Manager's CloudTrail events for a failed rotation of a device secret
// (RotationFailed, RotationAbandoned, TestRotationFailed): it records the
// failure on the device, from which the table's stream makes the
// rotation.failed event and the administrators' notice. It is apart from
// the stream function so that each keeps one event shape and its own
// least privilege: this one may only update device items.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/rotationevents"
	"github.com/devicepass/devicepass/shared/wire"
)

func main() {
	env, err := wire.FromEnv(context.Background())
	exitOn(env, err, "read environment")
	rf, err := wire.RotationEvents(env)
	exitOn(env, err, "wire rotation failures")
	h, err := rotationevents.New(rf, env.Logger)
	exitOn(env, err, "build the handler")
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
