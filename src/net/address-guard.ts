import net from 'node:net';

/**
 * Which outbound addresses a webhook may reach. Everything that is not the public
 * internet is refused unless an operator allows it by CIDR (KILN_WEBHOOK_ALLOWED_CIDRS):
 * loopback, private, link-local, CGNAT, multicast, unspecified/reserved and IPv6
 * unique-local ranges. Checked on the address actually connected to (after DNS), since
 * a name can resolve anywhere.
 *
 * IPv6 forms that carry an IPv4 address are judged by what a connection to them reaches:
 * - IPv4-mapped (`::ffff:a.b.c.d`): the kernel connects to the IPv4 address itself, so it
 *   is judged exactly as that address, allow-list included.
 * - Translated or tunnelled forms (IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`,
 *   NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`): the
 *   packet goes to the IPv6 address and some gateway hands it on to the IPv4 one. A
 *   non-public IPv4 inside is refused whatever the allow-list says of IPv4 (allowing
 *   127.0.0.0/8 allows this machine, not a translator's view of it); only an allow-list
 *   entry covering the IPv6 address itself lets such an address through. The local-use
 *   NAT64 prefix `64:ff9b:1::/48` is refused whole: it is not public by definition.
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
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['::ffff:0:0:0', 96, 'IPv4-translated'],
  // Not globally routable (RFC 8215), and the IPv4 address may sit at any RFC 6052 offset inside it.
  ['64:ff9b:1::', 48, 'local-use NAT64'],
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

/** The 16 bytes of an IPv6 address in any textual form `net.isIPv6` accepts (zone ids dropped). */
export function ipv6Bytes(address: string): Uint8Array {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const bytes = new Uint8Array(16);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (dotted) {
    tail = dotted[1]!.split('.').map(Number);
    text = text.slice(0, -dotted[1]!.length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined): number[] =>
    part
      ? part
          .split(':')
          .filter(Boolean)
          .map((g) => parseInt(g, 16))
      : [];
  const front = groups(head);
  const back = groups(rest);
  const all = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 255;
  });
  if (dotted) bytes.set(tail, 12);
  return bytes;
}

const v4At = (bytes: Uint8Array, offset: number, xor = 0): string => Array.from(bytes.subarray(offset, offset + 4), (b) => b ^ xor).join('.');

/** The IPv4 address a kernel connects to for an IPv4-mapped IPv6 address (::ffff:0:0/96). */
function mappedIpv4(bytes: Uint8Array): string | undefined {
  const isMapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return isMapped ? v4At(bytes, 12) : undefined;
}

/** IPv4 addresses carried by translation and tunnelling forms, which a gateway hands packets on to. */
function carriedIpv4(bytes: Uint8Array): Array<{ ipv4: string; form: string }> {
  const startsWith = (...prefix: number[]): boolean => prefix.every((b, i) => bytes[i] === b);
  const zeros = (from: number, to: number): boolean => bytes.subarray(from, to).every((b) => b === 0);
  const found: Array<{ ipv4: string; form: string }> = [];
  // ::/96 minus :: and ::1, which are judged as themselves.
  if (zeros(0, 12) && !zeros(12, 15)) found.push({ ipv4: v4At(bytes, 12), form: 'IPv4-compatible' });
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) found.push({ ipv4: v4At(bytes, 12), form: 'IPv4-translated' });
  if (startsWith(0x00, 0x64, 0xff, 0x9b) && zeros(4, 12)) found.push({ ipv4: v4At(bytes, 12), form: 'NAT64' });
  if (startsWith(0x20, 0x02)) found.push({ ipv4: v4At(bytes, 2), form: '6to4' });
  if (startsWith(0x20, 0x01, 0x00, 0x00)) {
    found.push({ ipv4: v4At(bytes, 4), form: 'Teredo server' });
    found.push({ ipv4: v4At(bytes, 12, 0xff), form: 'Teredo client' });
  }
  return found;
}

function refusedLabel(ip: string, family: 4 | 6): string | undefined {
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return REFUSED_RANGES.find((r) => r.family === family && r.range.check(ip, type))?.label;
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
      if (!base || !family || !/^\d+$/.test(bits ?? '') || prefix > (family === 4 ? 32 : 128)) {
        throw new Error(`not a CIDR range: "${cidr}"`);
      }
      this.allowed.addSubnet(base, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  get allowedCidrs(): readonly string[] {
    return this.allowList;
  }

  /** Judges one IP address (not a name) as the address a socket would connect to. */
  check(address: string): AddressVerdict {
    const family = net.isIP(address);
    if (!family) return { allowed: false, reason: `"${address}" is not an IP address` };
    if (family === 4) return this.judge(address, 4, address);

    const bytes = ipv6Bytes(address);
    const mapped = mappedIpv4(bytes);
    if (mapped) return this.judge(mapped, 4, address);
    if (this.allowed.check(address, 'ipv6')) return { allowed: true };
    for (const { ipv4, form } of carriedIpv4(bytes)) {
      const label = refusedLabel(ipv4, 4);
      if (label) return { allowed: false, reason: `${address} is a ${form} address carrying ${ipv4}, a ${label} address` };
    }
    return this.judge(address, 6, address);
  }

  private judge(ip: string, family: 4 | 6, shown: string): AddressVerdict {
    if (this.allowed.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return { allowed: true };
    const label = refusedLabel(ip, family);
    return label ? { allowed: false, reason: `${shown} is a ${label} address` } : { allowed: true };
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
