import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { apiOperations } from '../../src/api/app.js';
import type { ApiDependencies } from '../../src/api/context.js';
import { openApiDocument, PROBLEM_CODES_EXTENSION } from '../../src/api/contract/openapi.js';
import { loadConfig } from '../../src/config.js';
import { KILN_VERSION } from '../../src/version.js';

/**
 * Checks real answers against Kiln's OpenAPI document: every response that the tests'
 * request helper receives from a documented route must be a documented status, with a
 * body that validates against the documented schema (Ajv, JSON Schema 2020-12).
 */

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }>; [PROBLEM_CODES_EXTENSION]?: string[] }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
}

/**
 * The operations as the default configuration builds them (limits only change numbers inside
 * option schemas). Built, never run: no database or Temporal is behind these dependencies.
 */
export const contractOperations = apiOperations({
  config: loadConfig({}),
  delivery: { defaultRetrySchedule: [30], requestTimeoutSeconds: 10 },
  metrics: {},
} as unknown as ApiDependencies);

/** The document those operations make. */
export const contract = openApiDocument(contractOperations, KILN_VERSION) as Document;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(contract, 'kiln');

const pointer = (...parts: string[]): string => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
const validators = new Map<string, ValidateFunction>();
function validatorAt(path: string): ValidateFunction {
  let validate = validators.get(path);
  if (!validate) {
    validate = ajv.compile({ $ref: `kiln#/${path}` });
    validators.set(path, validate);
  }
  return validate;
}

const templates = Object.keys(contract.paths).map((template) => ({
  template,
  pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

/** The documented template a concrete path falls under, if any. */
function routeOf(path: string): string | undefined {
  return templates.find((t) => t.pattern.test(path))?.template;
}

/** Throws unless this answer is one the document promises. Paths the document does not know (e.g. receivers) are skipped. */
export function checkAgainstContract(method: string, url: string, status: number, contentType: string, body: unknown): void {
  const { pathname } = new URL(url);
  const template = routeOf(pathname);
  const operation = template ? contract.paths[template]?.[method.toLowerCase()] : undefined;
  if (!template || !operation) return;
  const response = operation.responses[String(status)];
  if (!response)
    throw new Error(`${method} ${template} answered ${status}, which the OpenAPI document does not list (${Object.keys(operation.responses).join(', ')})`);
  if (!response.content || status === 204) return;
  const mediaType = Object.keys(response.content).find(
    (type) => contentType.startsWith(type) || (type.endsWith('/*') && contentType.startsWith(type.slice(0, -1))),
  );
  if (!mediaType) throw new Error(`${method} ${template} ${status} answered ${contentType}; the document says ${Object.keys(response.content).join(', ')}`);
  if (!mediaType.includes('json')) return;
  const codes = response[PROBLEM_CODES_EXTENSION];
  if (codes && !codes.includes((body as { code?: string }).code ?? '')) {
    throw new Error(`${method} ${template} answered ${status} ${(body as { code?: string }).code}, which it does not list (${codes.join(', ')})`);
  }
  const validate = validatorAt(pointer('paths', template, method.toLowerCase(), 'responses', String(status), 'content', mediaType, 'schema'));
  if (!validate(body)) {
    throw new Error(
      `${method} ${pathname} ${status} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
    );
  }
}

/** Throws unless `body` is what the document's `webhooks` section says a receiver gets for its type. */
export function checkWebhookBody(body: unknown): void {
  const type = (body as { type?: string }).type ?? '';
  if (!contract.webhooks[type]) throw new Error(`no webhook ${type} in the OpenAPI document`);
  const validate = validatorAt(pointer('webhooks', type, 'post', 'requestBody', 'content', 'application/json', 'schema'));
  if (!validate(body)) throw new Error(`a ${type} delivery does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}`);
}
