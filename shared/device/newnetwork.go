package device

import (
	"context"
	"net/netip"
	"time"

	"github.com/devicepass/devicepass/shared/apperr"
)

// Networks a device was used from: the first successful use from a network
// (an IPv4 /24 or IPv6 /64) the device has not used in NetworkMemory is
// recorded as a new network, which the stream turns into a
// device.new_network event and, where the domain's policy has
// newNetworkNotice, a notice to the owner. The set kept per device is
// bounded (MaxNetworks, the least recently seen dropped first), and a
// network's last sighting is refreshed at most once per NetworkRefresh, so
// a device used all day from one network costs no extra write.
const (
	NetworkMemory  = 90 * 24 * time.Hour
	NetworkRefresh = 24 * time.Hour
	MaxNetworks    = 8
)

// NetworkNoter is the verify store's optional part that records networks.
type NetworkNoter interface {
	// NoteNetwork records that the active device was used from network at
	// at. With isNew it also marks network as new (the event's source);
	// evict, when set, is dropped from the set. first says the device has
	// no set yet. One conditional write: Conflict when a concurrent use
	// recorded the network already (only one of them is new).
	NoteNetwork(ctx context.Context, mailbox, id, network string, at time.Time, n NetworkNote) error
}

// NetworkNote is what NoteNetwork writes besides the sighting.
type NetworkNote struct {
	IsNew bool
	First bool
	Evict string
	// Before: the write happens only if the network's last sighting is
	// older than this (or absent).
	Before time.Time
}

// noteNetwork records a successful use of d from ip (the verify path's one
// extra step, after the match). Failures are logged: a sighting is never
// worth failing a login.
func (s *Verification) noteNetwork(ctx context.Context, d Device, ip netip.Addr, now time.Time) {
	noter, ok := s.store.(NetworkNoter)
	if !ok || !ip.IsValid() {
		return
	}
	network := NetworkOf(ip) // the rate limit's buckets: /24 and /64
	if network == NoNetwork {
		return
	}
	seen, known := d.Networks[network]
	if known && now.Sub(seen) < NetworkRefresh {
		return
	}
	// The first network of a device is its baseline, not news: the owner
	// has just set it up (or the device predates the record).
	n := NetworkNote{First: len(d.Networks) == 0, IsNew: len(d.Networks) > 0 && (!known || now.Sub(seen) >= NetworkMemory), Before: now.Add(-NetworkRefresh)}
	if n.IsNew {
		n.Before = now.Add(-NetworkMemory)
	}
	if !known && len(d.Networks) >= MaxNetworks {
		var oldest time.Time
		for k, t := range d.Networks {
			if n.Evict == "" || t.Before(oldest) {
				n.Evict, oldest = k, t
			}
		}
	}
	if err := noter.NoteNetwork(ctx, d.Mailbox, d.ID, network, now, n); err != nil && !apperr.Is(err, apperr.Conflict) {
		s.log.WarnContext(ctx, "could not record the network of a use", "mailbox", d.Mailbox, "device", d.ID, "error", err)
	}
}
