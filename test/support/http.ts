import assert from 'node:assert/strict';
import { checkAgainstContract } from './contract.js';

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
}

export async function request(url: string, init: RequestInit & { key?: string } = {}): Promise<JsonResponse> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  let body: unknown = text;
  const contentType = response.headers.get('content-type') ?? '';
  if (contentType.includes('json')) body = JSON.parse(text);
  // Every answer a test reads from Kiln is also checked against the OpenAPI document.
  checkAgainstContract(init.method ?? 'GET', url, response.status, contentType, body);
  return { status: response.status, headers: response.headers, body };
}

export function assertProblem(response: JsonResponse, status: number, code: string): void {
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status}: ${JSON.stringify(response.body)}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(response.body.code, code);
  assert.equal(response.body.status, status);
}

export async function createAccount(baseUrl: string, adminToken: string, name: string): Promise<{ id: string; key: string; webhookSecret: string }> {
  const response = await request(`${baseUrl}/v1/admin/accounts`, {
    method: 'POST',
    key: adminToken,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return { id: response.body.id, key: response.body.api_key.key, webhookSecret: response.body.webhook_secret };
}

export function uploadForm(file: Buffer, filename: string, fields: Record<string, string>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set('file', new Blob([file]), filename);
  return form;
}

/** Polls a conversion until it leaves queued/running, for at most `timeoutMs`. */
export async function waitForConversion(baseUrl: string, key: string, id: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await request(`${baseUrl}/v1/conversions/${id}`, { key });
    assert.equal(response.status, 200);
    if (!['queued', 'running'].includes(response.body.status)) return response.body;
    if (Date.now() > deadline) assert.fail(`conversion ${id} still ${response.body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** JSON request helper for the API's JSON routes. */
export function jsonRequest(url: string, key: string, method: string, body?: unknown): Promise<JsonResponse> {
  return request(url, {
    method,
    key,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
