import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEventStream, type StreamedEvent } from '../../sdk/src/sse.js';

/** The events read from `chunks`, each a separate read of the body as the network split it. */
async function eventsOf(chunks: string[]): Promise<StreamedEvent[]> {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  const events: StreamedEvent[] = [];
  for await (const event of readEventStream(body)) events.push(event);
  return events;
}

const STREAM =
  'id: evt_1\r\nevent: conversion.started\r\ndata: {"a":1}\r\n\r\n: keep-alive\r\n\r\nid: evt_2\r\nevent: conversion.completed\r\ndata: {"b":2}\r\n\r\n';
const EXPECTED = [
  { id: 'evt_1', type: 'conversion.started', data: '{"a":1}' },
  { id: 'evt_2', type: 'conversion.completed', data: '{"b":2}' },
];

test('an event stream with CRLF line ends reads the same however the network splits it', async () => {
  assert.deepEqual(await eventsOf([STREAM]), EXPECTED);
  // Every split point, a CR and its LF in different reads among them: one read's CR must not end a line twice.
  for (let at = 1; at < STREAM.length; at++) {
    assert.deepEqual(await eventsOf([STREAM.slice(0, at), STREAM.slice(at)]), EXPECTED, `split at ${at}: ${JSON.stringify(STREAM.slice(at - 1, at + 1))}`);
  }
});

test('lone CR and LF line ends are line ends too', async () => {
  assert.deepEqual(await eventsOf([STREAM.replace(/\r\n/g, '\r')]), EXPECTED);
  assert.deepEqual(await eventsOf([STREAM.replace(/\r\n/g, '\n')]), EXPECTED);
});
