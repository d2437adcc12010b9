import http from 'node:http';
import sharp from 'sharp';
import { request } from '../test/support/http.js';
import { waitUntil } from '../test/support/processes.js';
import { mapLimit } from './photos.js';

/** What the job benches send and measure against: multipart jobs, their end, and the bare sharp loop. */

export interface NamedFile {
  name: string;
  bytes: Buffer;
}

/** One multipart body with every file as a `file` field after the shared fields, as a client sends a job. */
export function jobBody(files: NamedFile[], fields: Record<string, string>): { body: Buffer; contentType: string } {
  const boundary = `kiln-bench-${Math.random().toString(36).slice(2)}`;
  const parts: Buffer[] = Object.entries(fields).map(([name, value]) =>
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`),
  );
  for (const file of files) {
    parts.push(
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`),
    );
    parts.push(file.bytes, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function post(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The bare sharp loop: the same files to WebP at `width`, `concurrency` at once; images/s. */
export async function sharpLoopRate(files: NamedFile[], width: number, concurrency: number): Promise<number> {
  const started = performance.now();
  await mapLimit(files, concurrency, async (file) => {
    await sharp(file.bytes).rotate().resize({ width }).webp().toBuffer();
  });
  return files.length / ((performance.now() - started) / 1000);
}

export async function waitForJob(api: string, key: string, id: string): Promise<any> {
  let job: any;
  await waitUntil(
    async () => {
      job = (await request(`${api}/v1/jobs/${id}`, { key })).body;
      return !['queued', 'running'].includes(job.status);
    },
    3_600_000,
    `job ${id}`,
    1000,
  );
  return job;
}

/**
 * Reads a Server-Sent Events stream until an event whose type matches `until`; answers
 * that type and when it arrived.
 */
export function awaitStreamEvent(url: string, key: string, until: RegExp): Promise<{ type: string; at: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          const type = [...text.matchAll(/^event: (.+)$/gm)].map((match) => match[1]!).find((name) => until.test(name));
          if (type === undefined) return;
          const at = Date.now();
          res.destroy();
          resolve({ type, at });
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}
