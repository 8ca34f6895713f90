package stream_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/lifecycle"
)

// TestNewNetworkNotice: the first use of a device from a network new to
// it is one device.new_network event (its first network is its baseline);
// the owner's notice follows the domain's newNetworkNotice, on the
// stand-ins.
func TestNewNetworkNotice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	on := true
	if _, err := e.app.Management.Policies.PutPolicy(ctx, e.admin(), e.domain, device.PolicyInput{NewNetworkNotice: &on}); err != nil {
		t.Fatal(err)
	}
	addr := "nn@" + e.domain
	if _, _, err := e.app.Service.RegisterMailbox(ctx, e.admin(), addr, "alice"); err != nil {
		t.Fatal(err)
	}
	c, err := e.app.Service.CreateDevice(ctx, user("alice"), addr, device.CreateInput{Name: "Phone"}, "")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(ip string) {
		t.Helper()
		ok, err := e.app.Service.Verify(ctx, device.VerifyRequest{Mailbox: addr, Password: c.Password, Protocol: "imap", ClientIP: ip})
		if err != nil || !ok {
			t.Fatalf("verify from %s: %v, %v", ip, ok, err)
		}
	}
	verify("192.0.2.10")   // the baseline
	verify("198.51.100.7") // new
	verify("198.51.100.9") // the same network
	verify("192.0.2.11")   // known
	e.flush(t)
	newNets := func() (events, notices []string) {
		for _, ev := range e.sinkEvents(t) {
			if ev.Type == lifecycle.DeviceNewNetwork && ev.DeviceID == c.Device.ID {
				events = append(events, ev.Network)
			}
		}
		for _, b := range e.sqs.receiveAll(t, e.noticeQ) {
			var n struct{ Message string }
			var ev lifecycle.Event
			if json.Unmarshal([]byte(b), &n) == nil && json.Unmarshal([]byte(n.Message), &ev) == nil && ev.Type == lifecycle.DeviceNewNetwork {
				notices = append(notices, ev.Network)
			}
		}
		return events, notices
	}
	evs, notices := newNets()
	if len(evs) != 1 || evs[0] != "198.51.100.0/24" || len(notices) != 1 || notices[0] != "198.51.100.0/24" {
		t.Fatalf("new-network events %v, notices %v; want one each for 198.51.100.0/24", evs, notices)
	}

	// With the rule off: the event, no notice.
	off := false
	if _, err := e.app.Management.Policies.PutPolicy(ctx, e.admin(), e.domain, device.PolicyInput{NewNetworkNotice: &off}); err != nil {
		t.Fatal(err)
	}
	verify("2001:db8:1:2::5")
	e.flush(t)
	evs, notices = newNets()
	if len(evs) != 2 || evs[1] != "2001:db8:1:2::/64" || len(notices) != 0 {
		t.Fatalf("with newNetworkNotice off: events %v, notices %v; want the /64's event and no notice", evs, notices)
	}
}
