package device_test

import (
	"strings"
	"testing"
	"time"

	"github.com/devicepass/devicepass/shared/device"
)

// The fuzz targets check that normalization never panics and is
// idempotent: normalizing a normalized value returns it unchanged, so what
// the store keeps reads back as valid. Their seeds run with every go test;
// `go test -fuzz FuzzX ./shared/device` explores further.

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"alice@example.com", "Alice@BÜCHER.example", "jörg@bücher.example", "a..b@x.y", "x@[1.2.3.4]", "a@b", "@", "a@xn--bcher-kva.example.", "a@ß.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := device.NormalizeAddress("a", in)
		if err != nil {
			return
		}
		again, err := device.NormalizeAddress("a", out)
		if err != nil || again != out {
			t.Fatalf("NormalizeAddress(%q) = %q, but normalizing that gives %q, %v", in, out, again, err)
		}
		if strings.Count(out, "@") != 1 || len(out) > 254 {
			t.Fatalf("NormalizeAddress(%q) = %q: not one @ or too long", in, out)
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"Phone", "  spaced  ", "👨\u200d👩\u200d👧", "a\x00b", "\u00a0x\u00a0", strings.Repeat("é", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := device.NormalizeName("n", in)
		if err != nil {
			return
		}
		again, err := device.NormalizeName("n", out)
		if err != nil || again != out {
			t.Fatalf("NormalizeName(%q) = %q, but normalizing that gives %q, %v", in, out, again, err)
		}
		if out == "" || len([]rune(out)) > device.MaxNameLen {
			t.Fatalf("NormalizeName(%q) = %q: empty or too long", in, out)
		}
	})
}

func FuzzNormalizeAllowIPs(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1,2001:db8::/32", "::ffff:192.0.2.0/120", "::ffff:0.0.0.0/90", "fe80::1%eth0", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := device.NormalizeAllowIPs("ips", strings.Split(in, ","))
		if err != nil {
			return
		}
		strs := make([]string, len(out))
		for i, p := range out {
			if !p.IsValid() {
				t.Fatalf("NormalizeAllowIPs(%q) gave an invalid prefix", in)
			}
			strs[i] = p.String()
		}
		again, err := device.NormalizeAllowIPs("ips", strs)
		if err != nil || len(again) != len(out) {
			t.Fatalf("NormalizeAllowIPs(%q) = %v, which normalizes to %v, %v", in, strs, again, err)
		}
		for i := range again {
			if again[i] != out[i] {
				t.Fatalf("NormalizeAllowIPs(%q) = %v, which normalizes to %v", in, out, again)
			}
		}
	})
}

func FuzzRotation(f *testing.F) {
	f.Add(30, "", "", "")
	f.Add(0, "rate(4 hours)", "2h", "30m")
	f.Add(0, "cron(0 16 1,15 * ? *)", "24h", "")
	f.Add(1, "rate(1 day)", "", "")
	f.Add(0, " rate(10 days) ", "", "168h")
	f.Fuzz(func(t *testing.T, days int, schedule, duration, grace string) {
		p, err := device.NormalizeRotation("r", &device.RotationInput{EveryDays: days, Schedule: schedule, Duration: duration, Grace: grace}, 2*time.Hour)
		if err != nil {
			return
		}
		if p.Grace < device.MinGrace || p.Grace > device.MaxGrace || (p.EveryDays == 0) == (p.Schedule == "") {
			t.Fatalf("policy %+v out of range", p)
		}
		again, err := device.NormalizeRotation("r", &device.RotationInput{EveryDays: p.EveryDays, Schedule: p.Schedule, Duration: p.Window, Grace: p.Grace.String()}, 2*time.Hour)
		if err != nil || *again != *p {
			t.Fatalf("policy %+v normalizes to %+v, %v", p, again, err)
		}
	})
}
