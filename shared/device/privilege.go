package device

import (
	"net/netip"
	"slices"
)

// Raises lists the fields in which after grants more than before: each is
// a change that demands a fresh login (step-up), as docs/security.md
// tabulates. It is a pure function of the stored device and the device
// the change would store, so the decision is made where both are known
// and is tested on its own. Changes that only lower privilege (disabling,
// narrowing scopes or the allow-list, an earlier expiry, a rename, a note,
// a new or changed rotation policy) raise nothing.
func Raises(before, after Device) []string {
	var out []string
	if after.Status == StatusActive && before.Status != StatusActive {
		out = append(out, "status")
	}
	for _, s := range after.Scopes {
		if !before.HasScope(s) {
			out = append(out, "scopes")
			break
		}
	}
	if widensAllowList(before.AllowIPs, after.AllowIPs) {
		out = append(out, "allowIps")
	}
	if !before.ExpiresAt.IsZero() && (after.ExpiresAt.IsZero() || after.ExpiresAt.After(before.ExpiresAt)) {
		out = append(out, "expiresAt")
	}
	if before.Rotation != nil && after.Rotation == nil {
		out = append(out, "rotation")
	}
	if before.User != after.User && before.User != "" {
		out = append(out, "user")
	}
	return out
}

// widensAllowList reports whether the allow-list after admits an address
// that before did not. An empty list admits every address, so clearing a
// list widens it; a list is narrower only when each of its blocks lies
// inside a block of before.
func widensAllowList(before, after []netip.Prefix) bool {
	if len(before) == 0 {
		return false
	}
	if len(after) == 0 {
		return true
	}
	for _, p := range after {
		inside := slices.ContainsFunc(before, func(q netip.Prefix) bool {
			return q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr())
		})
		if !inside {
			return true
		}
	}
	return false
}
