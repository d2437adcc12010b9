import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `head` and `body` exactly as given over a fresh TCP connection and reads the answer:
 * for bodies that fetch would refuse to send (cut short, malformed, lying Content-Length).
 */
export function rawRequest(url: string, head: string, body: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${head.split('\r\n')[0]}`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return;
      const lines = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      const rest = Buffer.concat(chunks).subarray(Buffer.byteLength(text.slice(0, split + 4)));
      if (Number.isFinite(length) && rest.length < length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body: rest.toString('utf8') });
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(head);
    socket.write(body);
  });
}

/**
 * Sends `head` and the first bytes of a body, waits for `beforeAbort` (say, until the
 * server has started spooling), then drops the connection: a client going away mid-upload.
 */
export function abortedRequest(url: string, head: string, partialBody: Buffer, beforeAbort: () => Promise<void>): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => {
      socket.write(head);
      socket.write(partialBody, () => {
        beforeAbort().then(() => {
          socket.destroy();
          resolve();
        }, reject);
      });
    });
    socket.on('error', reject);
  });
}

/** The head of a POST with the given headers and Content-Length. */
export function postHead(path: string, headers: Record<string, string>, contentLength: number): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Content-Length: ${contentLength}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface MultipartPart {
  name: string;
  filename?: string | undefined;
  /** Extra part headers, each ending in CRLF. */
  headers?: string;
  value: Buffer | string;
}

/** A multipart/form-data body built byte by byte, so tests can cut it anywhere or send names fetch would not. */
export function multipartBody(boundary: string, parts: MultipartPart[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const quoted = (text: string): string => `"${text.replace(/["\r\n]/g, '')}"`;
    const disposition = `form-data; name=${quoted(part.name)}${part.filename === undefined ? '' : `; filename=${quoted(part.filename)}`}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.headers ?? ''}\r\n`));
    chunks.push(Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}
