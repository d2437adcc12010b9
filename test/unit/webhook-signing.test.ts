import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { activeSecrets, generateWebhookSecret, rotateSecret, signDelivery, type SignatureScheme } from '../../src/signing/webhook-signature.js';

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

const extra = (overrides: Partial<SignatureScheme>): SignatureScheme => ({
  header: 'x-koalapic-signature',
  algorithm: 'sha256',
  signed_content: 'body',
  encoding: 'hex',
  prefix: '',
  form: 'plain',
  timestamp_header: null,
  ...overrides,
});

test('an extra header in each shape other services use, keyed with the secret string as it is', () => {
  const secret = 'whsec_your_webhook_secret';
  const at = new Date('2026-12-02T10:00:00Z');
  const seconds = String(at.getTime() / 1000);
  const hmac = (content: string, algorithm = 'sha256') => createHmac(algorithm, secret).update(content);
  // KoalaPic: bare hex of the body.
  assert.equal(signDelivery([secret], 'evt_5', at, body, extra({}))['x-koalapic-signature'], hmac(body).digest('hex'));
  // ChangeThisFile: sha256=<hex>.
  assert.equal(
    signDelivery([secret], 'evt_5', at, body, extra({ header: 'X-CTF-Signature', prefix: 'sha256=' }))['x-ctf-signature'],
    `sha256=${hmac(body).digest('hex')}`,
  );
  // Base64 of a SHA-512 HMAC over `<t>.<body>`.
  const b64 = signDelivery([secret], 'evt_5', at, body, extra({ algorithm: 'sha512', encoding: 'base64', signed_content: 'timestamp.body' }));
  assert.equal(b64['x-koalapic-signature'], hmac(`${seconds}.${body}`, 'sha512').digest('base64'));
  // Convertly and Stripe: t=<ts>,v1=<hex of t.body>, with the timestamp in its own header too.
  const stamped = signDelivery(
    [secret],
    'evt_5',
    at,
    body,
    extra({ header: 'convertly-signature', form: 'timestamped', signed_content: 'timestamp.body', timestamp_header: 'Convertly-Timestamp' }),
  );
  assert.equal(stamped['convertly-signature'], `t=${seconds},v1=${hmac(`${seconds}.${body}`).digest('hex')}`);
  assert.equal(stamped['convertly-timestamp'], seconds);
  // Standard Webhooks headers are always there; a plain-string secret keys them with its UTF-8 bytes.
  const fresh = signDelivery([secret], 'evt_5', new Date(), body, extra({}));
  assert.ok(new Webhook(Buffer.from(secret).toString('base64')).verify(body, { ...fresh }));
});

test('through a rotation a single-value header signs with the secret in force before it; the timestamped form carries both', () => {
  const [newer, older] = ['plain-secret-newer-0123456789', 'plain-secret-older-0123456789'];
  const at = new Date();
  const plain = signDelivery([newer, older], 'evt_6', at, body, extra({}));
  assert.equal(plain['x-koalapic-signature'], createHmac('sha256', older).update(body).digest('hex'));
  assert.equal(plain['x-kiln-signature'], `sha256=${createHmac('sha256', older).update(body).digest('hex')}`);
  const stamped = signDelivery([newer, older], 'evt_6', at, body, extra({ form: 'timestamped', signed_content: 'timestamp.body' }));
  const t = String(Math.floor(at.getTime() / 1000));
  assert.equal(
    stamped['x-koalapic-signature'],
    [`t=${t}`, ...[newer, older].map((s) => `v1=${createHmac('sha256', s).update(`${t}.${body}`).digest('hex')}`)].join(','),
  );
  // Once the overlap is over, the newer one alone.
  assert.equal(signDelivery([newer], 'evt_6', at, body, extra({}))['x-koalapic-signature'], createHmac('sha256', newer).update(body).digest('hex'));
});

test('activeSecrets keeps the previous secret until its overlap ends; rotating with no overlap retires it at once', () => {
  const now = new Date();
  const rotated = rotateSecret({ secret: 'a', previousSecret: null, previousExpiresAt: null }, now, 60, 'b');
  assert.deepEqual(activeSecrets(rotated, now), ['b', 'a']);
  assert.deepEqual(activeSecrets(rotated, new Date(now.getTime() + 61_000)), ['b']);
  assert.deepEqual(activeSecrets(rotateSecret(rotated, now, 0, 'c'), now), ['c']);
});
