package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNotLoopback is returned by [New] when the target is not on the
// loopback network.
var ErrNotLoopback = errors.New("faultproxy: target is not a loopback address")

// resolveTimeout bounds the lookup of "localhost", which normally comes
// from /etc/hosts without any network traffic.
const resolveTimeout = 5 * time.Second

// resolveTarget checks that target is host:port with a loopback host and
// returns the addresses to dial, IPv4 first. The host must be an address in
// 127.0.0.0/8, ::1, or "localhost" whose every address is loopback.
func resolveTarget(target string) ([]string, error) {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: invalid target %q: %w", target, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("faultproxy: invalid target %q: port must be a number from 1 to 65535", target)
	}

	var ips []netip.Addr
	if strings.EqualFold(host, "localhost") {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("faultproxy: resolve target %q: %w", target, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("faultproxy: resolve target %q: no addresses", target)
		}
	} else {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("%w: %q (the host must be an IP address or localhost)", ErrNotLoopback, target)
		}
		ips = []netip.Addr{ip}
	}

	for i, ip := range ips {
		ip = ip.Unmap()
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("%w: %q resolves to %s", ErrNotLoopback, target, ip)
		}
		ips[i] = ip
	}
	slices.SortStableFunc(ips, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})

	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.AddrPortFrom(ip, uint16(port)).String()
	}
	return addrs, nil
}
