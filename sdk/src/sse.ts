/** One Server-Sent Event as Kiln sends it. */
export interface StreamedEvent {
  id: string;
  type: string;
  data: string;
}

/** The events of a text/event-stream body, as they arrive; comments (keep-alives) are skipped. */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamedEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  // A read that ends in CR: its LF may open the next read, and the pair is one line end.
  let heldCr = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      let text = done ? '' : decoder.decode(value, { stream: true });
      if (heldCr) text = `\r${text}`;
      heldCr = !done && text.endsWith('\r');
      if (heldCr) text = text.slice(0, -1);
      buffer += text.replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: StreamedEvent = { id: '', type: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon === 0) continue;
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') event.id = value;
          else if (field === 'event') event.type = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length > 0) yield { ...event, data: data.join('\n') };
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
