// Command reconciler repairs what a crash between two AWS calls leaves
// behind (invariant 2): secrets without a device, devices without a
// secret, rotations stopped half-way. EventBridge runs it every 15 minutes;
// it logs a report and emits its counts as CloudWatch metrics (EMF).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/app"
)

func main() {
	a := app.MustFromEnv(context.Background())
	r, err := a.NewReconciler(os.Stdout, app.ReconcileMinAge)
	a.Must(err, "build reconciler")
	lambda.Start(r.Handle)
}
