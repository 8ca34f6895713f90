package wire_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFunctionsLinkOnlyWhatTheyUse checks each function's dependencies:
// only the api and verify functions link the HTTP handlers, only the
// stream function links the stream handler and its sinks (EventBridge,
// SNS), only the rotation function links the rotation handler, and only
// the rotation-events function links its CloudTrail handler. The
// stream function links neither the all-in-one composition (shared/devtools/app)
// nor the password generator: it never makes a password.
func TestFunctionsLinkOnlyWhatTheyUse(t *testing.T) {
	const mod = "github.com/devicepass/devicepass/"
	forbidden := map[string][]string{
		"rotation":   {mod + "shared/apigw", mod + "shared/stream", "service/eventbridge", "service/sns", mod + "shared/rotationevents"},
		"verify":     {mod + "shared/stream", "service/eventbridge", "service/sns", mod + "shared/rotation", mod + "shared/rotationevents"},
		"sweep":      {mod + "shared/apigw", mod + "shared/stream", "service/eventbridge", "service/sns", mod + "shared/rotation", mod + "shared/rotationevents"},
		"reconciler": {mod + "shared/apigw", mod + "shared/stream", "service/eventbridge", "service/sns", mod + "shared/rotation", mod + "shared/rotationevents"},
		"api":        {mod + "shared/stream", "service/eventbridge", "service/sns", mod + "shared/rotation", mod + "shared/rotationevents"},
		"stream":     {mod + "shared/apigw", mod + "shared/rotation", mod + "shared/devtools/app", mod + "shared/rotationevents"},
		// The rotation-events function only records failures on device
		// items: no handler but its own, and no sink.
		"rotationevents": {mod + "shared/apigw", mod + "shared/stream", mod + "shared/rotation$", "service/eventbridge", "service/sns", mod + "shared/wire/streamwire"},
	}
	for fn, bad := range forbidden {
		t.Run(fn, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+"functions/"+fn).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list answered %d packages; the check would prove nothing", len(deps))
			}
			for _, d := range deps {
				for _, b := range bad {
					if links(d, b) {
						t.Errorf("functions/%s links %s", fn, d)
					}
				}
			}
		})
	}
}

// links reports whether package path d is package b or inside it; b may
// also be an AWS SDK service ("service/sns"), matched at the path's end, or
// end in "$" to match that package alone.
func links(d, b string) bool {
	if p, ok := strings.CutSuffix(b, "$"); ok {
		return d == p
	}
	if strings.HasPrefix(b, "service/") {
		return strings.HasSuffix(d, "/"+b) || strings.Contains(d, "/"+b+"/")
	}
	return d == b || strings.HasPrefix(d, b+"/")
}
