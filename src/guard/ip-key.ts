// The key every per-IP limit counts a client address under. An IPv6 host normally gets a whole /64 (one
// SLAAC subnet, the smallest block ISPs and clouds hand out), so counting each full address would give
// anyone with a /64 2^64 fresh "IPs": IPv6 addresses are counted by their /64. IPv4 addresses (and
// IPv4-mapped IPv6 ones, ::ffff:a.b.c.d) are counted as themselves. The audit log keeps full addresses.
import net from 'node:net';

/** The per-IP limit key of a client address: "a.b.c.d" for IPv4, "2001:db8:1:2::/64" for IPv6; anything else as given. */
export function limitKeyOfIp(ip: string): string {
  const address = ip.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) names an interface, not a host
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  const mapped = groups.slice(0, 6).every((g, i) => g === (i === 5 ? 0xffff : 0));
  if (mapped) return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (with "::" and a dotted IPv4 tail expanded). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16));
}
