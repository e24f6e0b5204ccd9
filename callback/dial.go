package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Addresses the sender never calls beyond whole ranges: AWS's IPv6
// instance metadata service, and IPv4 through NAT64.
var (
	awsMetadataIPv6 = netip.MustParseAddr("fd00:ec2::254")
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	broadcast       = netip.MustParseAddr("255.255.255.255")
)

// addressPolicy decides which addresses the sender may connect to.
type addressPolicy struct {
	allowLoopback bool
}

// check returns an error wrapping ErrForbiddenAddress for an address the
// sender must not call: link-local (169.254.169.254, the metadata service,
// lives there), metadata, unspecified, broadcast, multicast, and loopback
// unless allowed (the Lambda runtime API listens on loopback).
func (p addressPolicy) check(a netip.Addr) error {
	a = a.Unmap()
	if nat64Prefix.Contains(a) {
		b := a.As16()
		if err := p.check(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return err
		}
	}
	var why string
	switch {
	case !a.IsValid():
		why = "invalid"
	case a.IsUnspecified():
		why = "unspecified"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		why = "link-local (instance metadata)"
	case a == awsMetadataIPv6:
		why = "instance metadata"
	case a == broadcast, a.IsMulticast(), a.IsInterfaceLocalMulticast():
		why = "broadcast or multicast"
	case a.IsLoopback() && !p.allowLoopback:
		why = "loopback"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, a, why)
}

// safeDialer resolves the host itself, refuses the whole host if any of
// its addresses is forbidden, and dials the checked addresses, never the
// name: a DNS answer that changes between check and connect (rebinding)
// cannot reach the connection. Control checks each socket's address once
// more before it connects.
type safeDialer struct {
	policy   addressPolicy
	resolver Resolver
	dialer   *net.Dialer
}

func newSafeDialer(policy addressPolicy, resolver Resolver) *safeDialer {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	d := &safeDialer{policy: policy, resolver: resolver}
	d.dialer = &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   d.control,
	}
	return d
}

func (d *safeDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		conn, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// resolve returns host's addresses, all of them allowed.
func (d *safeDialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if err := d.policy.check(a); err != nil {
			return nil, err
		}
		return []netip.Addr{a}, nil
	}
	addrs, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if err := d.policy.check(a); err != nil {
			return nil, fmt.Errorf("%s: %w", host, err)
		}
	}
	return addrs, nil
}

// control runs just before each socket connects.
func (d *safeDialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read %q", ErrForbiddenAddress, address)
	}
	return d.policy.check(ap.Addr())
}
