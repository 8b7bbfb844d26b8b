// Per-IP limits count an IPv6 client by its /64 (anyone holding one has 2^64 addresses), IPv4 as itself.
import { describe, it, expect } from 'vitest';
import { limitKeyOfIp } from '../../src/guard/ip-key.ts';

describe('limitKeyOfIp', () => {
  it('keys IPv4 addresses as themselves', () => {
    expect(limitKeyOfIp('203.0.113.7')).toBe('203.0.113.7');
  });

  it('keys IPv4-mapped IPv6 addresses as the IPv4 address', () => {
    expect(limitKeyOfIp('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(limitKeyOfIp('::FFFF:cb00:7107')).toBe('203.0.113.7');
  });

  it('keys every address of one IPv6 /64 alike, whatever its spelling', () => {
    const key = '2001:db8:1:2::/64';
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::19', '2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:0:0:0:0', '2001:db8:1:2::1.2.3.4', '2001:db8:1:2::1%eth0'])
      expect(limitKeyOfIp(a), a).toBe(key);
  });

  it('keeps different /64s apart', () => {
    expect(limitKeyOfIp('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(limitKeyOfIp('::1')).toBe('0:0:0:0::/64');
    expect(limitKeyOfIp('fe80::1')).toBe('fe80:0:0:0::/64');
  });

  it('leaves anything that is not an address as it is', () => {
    expect(limitKeyOfIp('unknown')).toBe('unknown');
  });
});
