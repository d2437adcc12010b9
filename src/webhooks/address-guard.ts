import net from 'node:net';

/**
 * Which outbound addresses a webhook may reach. Everything that is not the public
 * internet is refused unless an operator allows it by CIDR (KILN_WEBHOOK_ALLOWED_CIDRS):
 * loopback, private, link-local, CGNAT, multicast, unspecified/reserved and IPv6
 * unique-local ranges, with IPv4-mapped and -translated IPv6 forms judged as the IPv4
 * address they carry. Checked on the address actually connected to (after DNS), since
 * a name can resolve anywhere.
 */

const REFUSED_V4: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const REFUSED_V6: Array<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
  ['2001:db8::', 32, 'documentation'],
  ['100::', 64, 'discard'],
];

/** Each refused range as a ready BlockList, built once rather than on every check. */
const REFUSED_RANGES: Array<{ family: 4 | 6; range: net.BlockList; label: string }> = [
  ...REFUSED_V4.map(([base, prefix, label]) => ({ family: 4 as const, range: subnet(base, prefix, 'ipv4'), label })),
  ...REFUSED_V6.map(([base, prefix, label]) => ({ family: 6 as const, range: subnet(base, prefix, 'ipv6'), label })),
];

function subnet(base: string, prefix: number, type: 'ipv4' | 'ipv6'): net.BlockList {
  const list = new net.BlockList();
  list.addSubnet(base, prefix, type);
  return list;
}

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return undefined;
}

export class AddressGuard {
  private readonly allowed = new net.BlockList();
  private readonly allowList: string[];

  /** `allowedCidrs`: e.g. ["127.0.0.0/8", "::1/128"]; throws on a malformed entry. */
  constructor(allowedCidrs: string[] = []) {
    this.allowList = allowedCidrs;
    for (const cidr of allowedCidrs) {
      const [base, bits] = cidr.split('/');
      const family = base && net.isIP(base);
      const prefix = Number(bits);
      if (!base || !family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
        throw new Error(`not a CIDR range: "${cidr}"`);
      }
      this.allowed.addSubnet(base, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  get allowedCidrs(): readonly string[] {
    return this.allowList;
  }

  /** Judges one IP address (not a name). */
  check(address: string): AddressVerdict {
    const mapped = net.isIPv6(address) ? embeddedIpv4(address) : undefined;
    const ip = mapped ?? address;
    const family = net.isIP(ip);
    if (!family) return { allowed: false, reason: `"${address}" is not an IP address` };
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(ip, type)) return { allowed: true };
    for (const { range, label } of REFUSED_RANGES.filter((r) => r.family === family)) {
      if (range.check(ip, type)) return { allowed: false, reason: `${address} is a ${label} address` };
    }
    return { allowed: true };
  }

  /**
   * Judges a URL's host when it is an IP literal in any spelling the URL parser accepts
   * (`127.1`, `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`); undefined for a DNS name,
   * which is judged after resolution.
   */
  checkUrlLiteral(url: URL): AddressVerdict | undefined {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return net.isIP(host) ? this.check(host) : undefined;
  }
}
