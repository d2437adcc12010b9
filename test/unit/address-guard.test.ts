import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressGuard, ipv6Bytes } from '../../src/net/address-guard.js';

const guard = new AddressGuard();

test('refuses loopback, private, link-local, CGNAT, multicast, unspecified and unique-local addresses', () => {
  for (const address of [
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '::1',
    '::',
    'fd00::1',
    'fc12::3',
    'fe80::1',
    'ff02::1',
  ]) {
    assert.equal(guard.check(address).allowed, false, address);
  }
});

test('allows public addresses', () => {
  for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111']) {
    assert.deepEqual(guard.check(address), { allowed: true }, address);
  }
});

test('judges IPv4-mapped IPv6 addresses as the IPv4 address a socket reaches', () => {
  for (const address of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:10.0.0.1', '0:0:0:0:0:ffff:a9fe:a9fe']) {
    assert.equal(guard.check(address).allowed, false, address);
  }
  assert.equal(guard.check('::ffff:8.8.8.8').allowed, true);
});

test('every IPv6 form that carries a non-public IPv4 address is refused', () => {
  const carried = [
    '::127.0.0.1',
    '::7f00:1', // IPv4-compatible
    '::ffff:0:127.0.0.1',
    '::ffff:0:7f00:1', // IPv4-translated (SIIT)
    '64:ff9b::127.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::10.0.0.1', // NAT64 well-known prefix
    '64:ff9b:1::7f00:1',
    '64:ff9b:1:7f00:0:100::',
    '64:ff9b:1:c0a8:1:100::', // NAT64 local-use /48 (RFC 6052 layout)
    '2002:7f00:1::',
    '2002:a00:1::1',
    '2002:c0a8:101::', // 6to4
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo, client 127.0.0.1 (stored inverted)
    '2001:0:7f00:1::1', // Teredo, server 127.0.0.1
  ];
  for (const address of carried) assert.equal(guard.check(address).allowed, false, address);
  // The same forms carrying public IPv4 addresses are ordinary public IPv6 addresses.
  for (const address of ['64:ff9b::8.8.8.8', '2002:808:808::1', '2001:0:4136:e378:8000:63bf:f7f7:f7f7']) {
    assert.deepEqual(guard.check(address), { allowed: true }, address);
  }
});

test('allowing loopback IPv4 does not open translated forms of it', () => {
  const local = new AddressGuard(['127.0.0.0/8', '::1/128']);
  for (const address of ['64:ff9b::127.0.0.1', '::127.0.0.1', '::ffff:0:127.0.0.1', '64:ff9b:1::7f00:1', '2002:7f00:1::']) {
    assert.equal(local.check(address).allowed, false, address);
  }
  assert.equal(local.check('::ffff:127.0.0.1').allowed, true, 'mapped is a real loopback connection');
  // Only an entry that covers the IPv6 address itself opens it.
  assert.equal(new AddressGuard(['64:ff9b::/96']).check('64:ff9b::127.0.0.1').allowed, true);
});

test('URL literals of carried forms are judged after the parser normalises them', () => {
  const local = new AddressGuard(['127.0.0.0/8', '::1/128']);
  for (const literal of [
    'http://[64:ff9b::127.0.0.1]/',
    'http://[::127.0.0.1]/',
    'http://[::ffff:0:127.0.0.1]/',
    'http://[64:ff9b:1::7f00:1]/',
    'http://[2002:7f00:1::]/',
  ]) {
    assert.equal(local.checkUrlLiteral(new URL(literal))?.allowed, false, literal);
  }
});

test('parses every textual IPv6 form to the same bytes', () => {
  const expected = Array.from(ipv6Bytes('0:0:0:0:0:ffff:7f00:1'));
  for (const form of ['::ffff:7f00:1', '::ffff:127.0.0.1', '0::ffff:127.0.0.1', '::FFFF:7F00:0001']) {
    assert.deepEqual(Array.from(ipv6Bytes(form)), expected, form);
  }
  assert.deepEqual(Array.from(ipv6Bytes('1::')), [0, 1, ...new Array(14).fill(0)]);
  assert.deepEqual(Array.from(ipv6Bytes('fe80::1%eth0')), [0xfe, 0x80, ...new Array(13).fill(0), 1]);
});

test('URL literals in every spelling are judged; names are left to resolution', () => {
  for (const literal of [
    'http://127.1/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0177.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://localhost./',
  ]) {
    const verdict = guard.checkUrlLiteral(new URL(literal));
    if (literal.includes('localhost')) assert.equal(verdict, undefined);
    else assert.equal(verdict?.allowed, false, literal);
  }
  assert.equal(guard.checkUrlLiteral(new URL('https://example.com/hook')), undefined);
});

test('an allow-list opens exactly its ranges', () => {
  const local = new AddressGuard(['127.0.0.0/8', '::1/128']);
  assert.equal(local.check('127.0.0.1').allowed, true);
  assert.equal(local.check('::ffff:127.0.0.1').allowed, true);
  assert.equal(local.check('::1').allowed, true);
  assert.equal(local.check('10.0.0.1').allowed, false);
  assert.throws(() => new AddressGuard(['127.0.0.1']), /not a CIDR/);
  assert.throws(() => new AddressGuard(['10.0.0.0/33']), /not a CIDR/);
});
