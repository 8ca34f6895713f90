package app

import (
	"log/slog"

	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/wire"
)

// APIDeps hands the management use cases to the API handler: the device
// use cases serve both the mailbox and the device routes. The API function
// builds the same value in its main; the local runner and the benchmark
// use this one.
func APIDeps(m wire.Management) apigw.Deps {
	return apigw.Deps{Mailboxes: m.Devices, Devices: m.Devices, Enrollments: m.Enrollments, Audit: m.Audit,
		Directory: m.Directory, OpenLinks: m.OpenLinks, Policies: m.Policies, StepUpMaxAge: m.Devices.Config().Policy.StepUpMaxAge}
}

// VerifyHandler builds the verify route's handler on v.
func VerifyHandler(v *device.Verification, logger *slog.Logger) (*apigw.VerifyHandler, error) {
	return apigw.NewVerify(apigw.VerifyDeps{Verifier: v, Window: v.Config().Verify.Window}, logger)
}
