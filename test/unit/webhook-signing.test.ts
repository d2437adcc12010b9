import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signDelivery } from '../../src/webhooks/signing.js';

const body = JSON.stringify({ id: 'evt_1', type: 'conversion.completed', timestamp: '2026-11-22T00:00:00Z', data: { ok: true } });

test('secrets are whsec_ and base64 of 32 random bytes', () => {
  const secret = generateWebhookSecret();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
  assert.notEqual(secret, generateWebhookSecret());
});

test('the official standardwebhooks package verifies the signature', () => {
  const secret = generateWebhookSecret();
  const headers = signDelivery([secret], 'evt_1', new Date(), body);
  assert.deepEqual(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body));
});

test('during a rotation both secrets verify, and a third does not', () => {
  const [newer, older, stranger] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
  const headers = signDelivery([newer, older], 'evt_2', new Date(), body);
  assert.equal(headers['webhook-signature'].split(' ').length, 2);
  assert.ok(new Webhook(newer).verify(body, { ...headers }));
  assert.ok(new Webhook(older).verify(body, { ...headers }));
  assert.throws(() => new Webhook(stranger).verify(body, { ...headers }));
});

test('a changed body or an old timestamp fails verification', () => {
  const secret = generateWebhookSecret();
  const headers = signDelivery([secret], 'evt_3', new Date(), body);
  assert.throws(() => new Webhook(secret).verify(`${body} `, { ...headers }));
  const stale = signDelivery([secret], 'evt_3', new Date(Date.now() - 10 * 60 * 1000), body);
  assert.throws(() => new Webhook(secret).verify(body, { ...stale }));
});

test('X-Kiln-Signature is the hex HMAC of the raw body keyed with the secret string as shown', () => {
  const secret = generateWebhookSecret();
  const headers = signDelivery([secret], 'evt_4', new Date(), body);
  // Computed here the way a receiver following the common examples would.
  const expected = createHmac('sha256', secret).update(body, 'utf8').digest('hex');
  assert.equal(headers['x-kiln-signature'], `sha256=${expected}`);
});
