// Command rotation is the Secrets Manager rotation Lambda: it runs
// createSecret, setSecret, testSecret and finishSecret for device secrets.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicepass/devicepass/shared/app"
	"github.com/devicepass/devicepass/shared/rotation"
)

func main() {
	a := app.MustFromEnv(context.Background())
	h, err := rotation.New(a.Service.Engine(), a.Logger)
	a.Must(err, "build rotation handler")
	lambda.Start(h.Handle)
}
