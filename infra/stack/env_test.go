package stack

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/config"
)

// TestSynthRefusesWhatAFunctionRefuses drives every context key that
// becomes a function variable through PropsFromContext and the stack's
// validation, and the environment the stack would set through the
// functions' validator: for every value, both accept or both refuse, and a
// refusal names the context key (synth) and the variable (function).
func TestSynthRefusesWhatAFunctionRefuses(t *testing.T) {
	t.Parallel()
	dir := buildDir(t)
	// Values per context key, as `cdk synth -c key=value` passes them.
	// refused lists those that must fail, so the test cannot pass by
	// accepting everything.
	tests := map[string]struct{ accepted, refused []string }{
		"secretPrefix":       {[]string{"acme", "acme/dp", "a_b+c=d.e-f"}, []string{"devicepass/", "/dp", "a//b", "dev pass", "dev@pass", "acme/x@y"}},
		"adminGroupClaim":    {[]string{"groups", "cognito:groups"}, nil},
		"adminGroupPattern":  {[]string{"{domain}-admins"}, []string{"admins", "{DOMAIN}"}},
		"stepUpMaxAge":       {[]string{"1m", "24h", "90s"}, []string{"59s", "25h", "-5m"}},
		"maxLiveDevices":     {[]string{"1", "1000"}, []string{"1001", "5000", "-1"}},
		"recoveryWindowDays": {[]string{"7", "30"}, []string{"6", "31", "-7"}},
		"rotationGrace":      {[]string{"5m", "168h"}, []string{"4m", "169h", "-2h"}},
		"auditRetentionDays": {[]string{"1", "3653"}, []string{"3654", "-1"}},
		"logLevel":           {[]string{"debug", "info", "warn", "error"}, []string{"verbose", "trace"}},
	}
	for envKey, ctxKey := range EnvContextKeys {
		if _, ok := tests[ctxKey]; !ok {
			t.Errorf("context key %s (%s): no cases in this test", ctxKey, envKey)
		}
	}
	for ctxKey, tt := range tests {
		envKey := ""
		for e, c := range EnvContextKeys {
			if c == ctxKey {
				envKey = e
			}
		}
		if envKey == "" {
			t.Errorf("%s is not in EnvContextKeys", ctxKey)
			continue
		}
		for _, v := range append(append([]string{}, tt.accepted...), tt.refused...) {
			mustRefuse := slices.Contains(tt.refused, v)
			p, err := PropsFromContext(func(k string) any {
				if k == ctxKey {
					return v
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s=%q: %v", ctxKey, v, err)
				continue
			}
			p.BuildDir = dir
			p = p.withDefaults()
			synthErr := p.validate()

			env := p.contextEnv()
			env["TABLE_NAME"], env["VERIFIER_KEY_SECRET_ID"] = "t", "k"
			_, fnErr := config.Load(func(k string) string { return env[k] })

			switch {
			case (synthErr == nil) != (fnErr == nil):
				t.Errorf("%s=%q: synth says %v, the function says %v", ctxKey, v, synthErr, fnErr)
			case mustRefuse && synthErr == nil:
				t.Errorf("%s=%q accepted, want refused", ctxKey, v)
			case !mustRefuse && synthErr != nil:
				t.Errorf("%s=%q refused: %v", ctxKey, v, synthErr)
			case synthErr != nil:
				if !strings.Contains(synthErr.Error(), "context "+ctxKey+" ") {
					t.Errorf("%s=%q: synth error %q does not name the context key", ctxKey, v, synthErr)
				}
				var ce *config.Error
				if !errors.As(fnErr, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != envKey {
					t.Errorf("%s=%q: function error %v, want one naming %s", ctxKey, v, fnErr, envKey)
				}
			}
		}
	}
}

// TestEveryFunctionVariableIsAccountedFor keeps the stack in step with the
// validator: each variable it reads is set from context, set from a
// resource of the stack, or deliberately left to its default.
func TestEveryFunctionVariableIsAccountedFor(t *testing.T) {
	t.Parallel()
	// POLICY_MIN_DURATION: deployed, the floor of policy durations stays
	// at its 1h default; only the local runner lowers it.
	defaultsOnly := []string{"VERIFY_MAX_FAILURES", "VERIFY_WINDOW", "POLICY_MIN_DURATION"}
	for _, k := range config.Keys() {
		_, fromContext := EnvContextKeys[k]
		if !fromContext && !slices.Contains(StackEnvKeys, k) && !slices.Contains(defaultsOnly, k) {
			t.Errorf("%s: neither set from context, nor from a stack resource, nor left to its default on purpose", k)
		}
	}
	for k := range EnvContextKeys {
		if !slices.Contains(config.Keys(), k) {
			t.Errorf("%s: set by the stack but not read by any function", k)
		}
	}
	for _, k := range StackEnvKeys {
		if !slices.Contains(config.Keys(), k) {
			t.Errorf("%s: set by the stack but not read by any function", k)
		}
	}
}

// TestStackDefaultsAreTheFunctionDefaults: a stack deployed with no context
// sets the values a function would take by itself.
func TestStackDefaultsAreTheFunctionDefaults(t *testing.T) {
	t.Parallel()
	env := DevicepassStackProps{}.withDefaults().contextEnv()
	for k, v := range env {
		if d := config.Default(k); d != v {
			t.Errorf("%s: stack default %q, function default %q", k, v, d)
		}
	}
}
