import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressGuard } from '../../src/webhooks/address-guard.js';

const guard = new AddressGuard();

test('refuses loopback, private, link-local, CGNAT, multicast, unspecified and unique-local addresses', () => {
  for (const address of ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '224.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', 'fd00::1', 'fc12::3', 'fe80::1', 'ff02::1']) {
    assert.equal(guard.check(address).allowed, false, address);
  }
});

test('allows public addresses', () => {
  for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111']) {
    assert.deepEqual(guard.check(address), { allowed: true }, address);
  }
});

test('judges IPv4-mapped and NAT64 IPv6 addresses as the IPv4 address inside', () => {
  for (const address of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:10.0.0.1', '64:ff9b::a9fe:a9fe']) {
    assert.equal(guard.check(address).allowed, false, address);
  }
  assert.equal(guard.check('::ffff:8.8.8.8').allowed, true);
});

test('URL literals in every spelling are judged; names are left to resolution', () => {
  for (const literal of ['http://127.1/', 'http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://localhost./']) {
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
