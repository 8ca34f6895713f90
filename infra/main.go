// Command infra is the devicepass CDK app: `cdk synth` and `cdk deploy` run
// it (cdk.json: "go run ./infra"). Configuration comes from CDK context;
// see docs/deploy.md and stack.ContextKeys.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicepass/devicepass/infra/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	props, err := stack.PropsFromContext(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return err
	}
	if _, err := stack.NewDevicepassStack(app, "Devicepass", &props); err != nil {
		return err
	}
	// cdk-nag reports as errors; `cdk synth` fails on any unsuppressed one.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	return nil
}
