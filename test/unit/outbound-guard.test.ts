import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AddressGuard } from '../../src/net/address-guard.js';
import { postWebhook } from '../../src/webhooks/http-post.js';
import { startReceiver, type Receiver } from '../support/receiver.js';

// Real sockets on loopback: a receiver on 127.0.0.1 and one on ::1, counting every TCP connection.
let v4: Receiver;
let v6: Receiver;

before(async () => {
  v4 = await startReceiver([{ status: 200, body: 'ok' }]);
  v6 = await startReceiver([{ status: 200, body: 'ok' }], { host: '::1' });
});

after(async () => {
  await v4.close();
  await v6.close();
});

const post = (url: string, guard: AddressGuard) => postWebhook(url, { 'content-type': 'application/json' }, '{}', { guard, timeoutMs: 5000 });

test('loopback in every spelling, literal or resolved, is refused before any packet is sent', async () => {
  const guard = new AddressGuard();
  const spellings = [
    `http://127.0.0.1:${v4.port}/`,
    `http://127.1:${v4.port}/`,
    `http://2130706433:${v4.port}/`,
    `http://0x7f000001:${v4.port}/`,
    `http://0177.0.0.1:${v4.port}/`,
    `http://[::ffff:127.0.0.1]:${v4.port}/`,
    `http://[::1]:${v6.port}/`,
    `http://localhost:${v4.port}/`,
    `http://localhost:${v6.port}/`,
  ];
  for (const url of spellings) {
    const outcome = await post(url, guard);
    assert.equal(outcome.error?.class, 'blocked_address', `${url} should be refused, got ${JSON.stringify(outcome)}`);
    assert.equal(outcome.statusCode, null);
  }
  assert.equal(v4.connections, 0, 'no connection reached the IPv4 receiver');
  assert.equal(v6.connections, 0, 'no connection reached the IPv6 receiver');
});

test('an allow-list lets exactly its ranges through, by name too', async () => {
  const guard = new AddressGuard(['127.0.0.0/8']);
  const allowed = await post(`http://localhost:${v4.port}/`, new AddressGuard(['127.0.0.0/8', '::1/128']));
  assert.equal(allowed.statusCode, 200);
  assert.equal(allowed.bodyPreview, 'ok');
  const literal = await post(`http://127.0.0.1:${v4.port}/`, guard);
  assert.equal(literal.statusCode, 200);
  const v6Refused = await post(`http://[::1]:${v6.port}/`, guard);
  assert.equal(v6Refused.error?.class, 'blocked_address');
  assert.equal(v6.connections, 0);
});

test('a connection kept alive for a lenient guard is never reused under a strict one', async () => {
  const lenient = new AddressGuard(['127.0.0.0/8', '::1/128']);
  // The same name and port both times, so a shared pool would hand the open socket over.
  assert.equal((await post(`http://localhost:${v4.port}/`, lenient)).statusCode, 200);
  const requestsBefore = v4.requests.length;
  const strict = await post(`http://localhost:${v4.port}/`, new AddressGuard());
  assert.equal(strict.error?.class, 'blocked_address');
  assert.equal(v4.requests.length, requestsBefore, 'the strict request never arrived');
});

test('redirects are reported, never followed; slow receivers time out', async () => {
  const guard = new AddressGuard(['127.0.0.0/8']);
  const target = await startReceiver([{ status: 200 }]);
  const redirecting = await startReceiver([{ status: 302, headers: { location: target.url } }]);
  const outcome = await post(redirecting.url, guard);
  assert.equal(outcome.statusCode, 302);
  assert.equal(target.requests.length, 0);

  const { createServer } = await import('node:net');
  const silent = createServer((socket) => socket.resume()); // reads, never answers
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const timedOut = await postWebhook(`http://127.0.0.1:${port}/`, {}, '{}', { guard, timeoutMs: 300 });
  assert.equal(timedOut.error?.class, 'timeout');
  await new Promise((r) => silent.close(r));
  await target.close();
  await redirecting.close();
});

test('the response preview keeps the first 8 KiB as text, without NUL bytes', async () => {
  const guard = new AddressGuard(['127.0.0.0/8']);
  const binary = await startReceiver([{ status: 500, body: `a\u0000b${'x'.repeat(20_000)}` }]);
  const outcome = await post(binary.url, guard);
  assert.equal(outcome.statusCode, 500);
  assert.ok(outcome.bodyPreview!.startsWith('a\ufffdb'));
  assert.ok(!outcome.bodyPreview!.includes('\u0000'));
  assert.ok(Buffer.byteLength(outcome.bodyPreview!) <= 8 * 1024 + 2);
  await binary.close();
});

test('a kept-alive socket the receiver closed as the next delivery went out: sent again on a fresh connection', async () => {
  // A receiver that answers once per connection and keeps it open, then drops the connection when a second request
  // arrives on it, unanswered: the race between a receiver's idle timeout and a reused socket, made certain.
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    let requests = 0;
    socket.on('data', (chunk) => {
      if (!chunk.toString().startsWith('POST')) return;
      if (++requests > 1) return socket.destroy();
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
  const guard = new AddressGuard(['127.0.0.0/8']);
  try {
    const first = await postWebhook(url, {}, '{}', { guard, timeoutMs: 5000 });
    const second = await postWebhook(url, {}, '{}', { guard, timeoutMs: 5000 });
    assert.deepEqual([first.statusCode, second.statusCode, second.error], [200, 200, null]);
    assert.equal(connections, 2, 'the second went out on the kept socket, then on a new one');
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
