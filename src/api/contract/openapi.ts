import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { conversionOptionsSchema, type OptionLimits } from '../../convert/options.js';
import { CONVERSION_STATUSES, DELIVERY_STATUSES, JOB_STATUSES } from '../../db/schema.js';
import { EVENT_CATALOG, EVENT_TYPES } from '../../model/event-catalog.js';
import { accountBody } from '../routes/admin.js';
import { jobBody } from '../routes/jobs.js';
import { apiKeyBody } from '../routes/api-keys.js';
import { recoverBody } from '../routes/webhook-deliveries.js';
import { rotateBody } from '../webhook-fields.js';
import { endpointBody } from '../routes/webhook-endpoints.js';
import { requestWebhookSettingsBody } from '../routes/request-webhooks.js';
import { previewBody } from '../receiver-format.js';
import { presetBody, presetOptionsBody } from '../routes/presets.js';
import * as s from './schemas.js';

/**
 * Kiln's OpenAPI 3.1 document, generated from the zod schemas that validate requests and
 * describe answers (./schemas.ts) and from the event catalog (the `webhooks` section).
 * Each route lists every problem `code` it can answer.
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** `api_key_or_link`: an API key, or a signed link's `expires` and `signature` in the query instead. */
type Auth = 'api_key' | 'admin' | 'none' | 'api_key_or_link';

interface Route {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  auth?: Auth;
  idempotent?: boolean;
  request?: RouteConfig['request'];
  success: { status: number; description: string; schema?: z.ZodType; contentType?: string; headers?: Record<string, string> };
  /** Other answers that are not problems, by status: their descriptions (no body). */
  otherAnswers?: Record<number, string>;
  /** Problem codes by status, beyond those every route of its kind answers. */
  problems?: Record<number, string[]>;
}

const id = (prefix: string, what: string) => z.object({ id: z.string().describe(`The ${what} (${prefix}_…)`) });
const pageQuery = {
  limit: z.string().optional().describe('1–100, default 20'),
  cursor: z.string().optional().describe('The next_cursor of the previous page'),
};
const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

function problemResponse(status: number, codes: string[]) {
  return {
    description: `Problem codes: ${codes.map((c) => `\`${c}\``).join(', ')}`,
    content: { 'application/problem+json': { schema: s.Problem.extend({ code: z.enum(codes as [string, ...string[]]) }) } },
  };
}

function mergeProblems(...sets: Array<Record<number, string[]> | undefined>): Record<number, string[]> {
  const merged: Record<number, string[]> = {};
  for (const set of sets)
    for (const [status, codes] of Object.entries(set ?? {})) merged[Number(status)] = [...new Set([...(merged[Number(status)] ?? []), ...codes])];
  return merged;
}

/** An object's live event stream (Server-Sent Events), by API key or its signed stream_url. */
function eventStreamRoute(path: string, tag: string, params: z.ZodObject, notFound: Record<number, string[]>): Route {
  return {
    method: 'get',
    path,
    summary: `The ${tag === 'Jobs' ? "job's" : "conversion's"} events as Server-Sent Events, live, until its final event`,
    tag,
    auth: 'api_key_or_link',
    request: {
      params,
      query: z.object({
        expires: z.string().optional().describe('From stream_url: with signature, it replaces the API key'),
        signature: z.string().optional(),
        last_event_id: z.string().optional().describe('Resume after this event, as the Last-Event-ID header does'),
      }),
      headers: [
        z
          .string()
          .optional()
          .meta({ param: { name: 'Last-Event-ID', in: 'header', description: 'Resume after this event (an EventSource sends it when it reconnects)' } }),
      ],
    },
    success: {
      status: 200,
      description:
        'text/event-stream: each event as `id:` (the event id), `event:` (its type) and `data:` (the body a webhook gets), in the order stored; `: keep-alive` comments every KILN_STREAM_KEEPALIVE_SECONDS while idle; the stream ends after the final event',
      schema: z.string(),
      contentType: 'text/event-stream',
    },
    otherAnswers: { 204: 'Last-Event-ID was the final event: nothing more will come (an EventSource stops reconnecting)' },
    problems: { ...notFound, 400: ['invalid_last_event_id', 'invalid_parameter'], 403: ['invalid_signature'], 410: ['link_expired'] },
  };
}

function routes(limits: OptionLimits): Route[] {
  const uploadFields = conversionOptionsSchema(limits);
  const conversionNotFound = { 404: ['conversion_not_found'] };
  const jobNotFound = { 404: ['job_not_found'] };
  const endpointNotFound = { 404: ['endpoint_not_found'] };
  const previewProblems = {
    400: ['invalid_json', 'invalid_body', 'unknown_event_type'],
    404: ['event_not_found'],
    413: ['body_too_large'],
    415: ['unsupported_media_type'],
    422: ['template_failed'],
  };
  const deliveryNotFound = { 404: ['delivery_not_found'] };
  return [
    {
      method: 'get',
      path: '/livez',
      summary: 'Liveness: the process answers (restart it when this fails)',
      tag: 'Health',
      auth: 'none',
      success: { status: 200, description: 'The process is alive', schema: s.Liveness },
    },
    {
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: Postgres and Temporal both answer (send traffic only when this succeeds)',
      tag: 'Health',
      auth: 'none',
      success: { status: 200, description: 'Ready (503 with the same body when not)', schema: s.Health },
    },
    {
      method: 'get',
      path: '/healthz',
      summary: 'Health of Kiln, Postgres and Temporal (the same as /readyz)',
      tag: 'Health',
      auth: 'none',
      success: { status: 200, description: 'All is well (503 with the same body when not)', schema: s.Health },
    },
    {
      method: 'post',
      path: '/v1/admin/accounts',
      summary: 'Create an account and its first API key',
      tag: 'Admin',
      auth: 'admin',
      request: { body: json(accountBody) },
      success: { status: 201, description: 'The account, its first key (shown once) and its webhook secret', schema: s.AccountCreated },
      problems: {
        400: ['invalid_json', 'invalid_body'],
        409: ['account_exists'],
        413: ['body_too_large'],
        415: ['unsupported_media_type'],
        503: ['admin_disabled'],
      },
    },
    {
      method: 'post',
      path: '/v1/conversions',
      summary: 'Upload an image and start its conversion',
      tag: 'Conversions',
      idempotent: true,
      request: {
        body: {
          description:
            'Multipart with the image as `file` and options as fields; or the raw image as the body with the options in the query (then `filename` names it); or, instead of a file, `source_url` (a field, a query parameter, or a JSON body with the options), which the workflow fetches.',
          content: {
            'multipart/form-data': {
              schema: uploadFields.extend({
                preset: z.string().optional().describe('A preset of the account (GET /v1/presets): its options under the ones given here'),
                file: z.string().optional().describe('The image (binary); or source_url'),
                source_url: z.string().optional().describe('http(s) URL the original is fetched from instead of a file'),
                outputs: z
                  .string()
                  .optional()
                  .describe('Several outputs of one upload: a JSON array of option objects, each over the other fields (up to KILN_MAX_OUTPUTS)'),
                webhook_url: z.string().optional(),
                webhook_events: z.string().optional().describe('Event types webhook_url gets, separated by commas (default: all)'),
                webhook_metadata: z.string().optional().describe('A JSON object, at most 16 KiB'),
                tag: z.string().optional(),
              }),
            },
            'application/octet-stream': { schema: z.string().describe('The image itself (any image/* type too)') },
            'application/json': {
              schema: uploadFields.extend({
                source_url: z.string().describe('http(s) URL the original is fetched from'),
                preset: z.string().optional(),
                filename: z.string().optional(),
                webhook_url: z.string().optional(),
                webhook_events: z.array(z.string()).optional(),
                webhook_metadata: z.record(z.string(), z.unknown()).optional(),
                tag: z.string().optional(),
              }),
            },
          },
        },
      },
      success: { status: 202, description: 'Accepted: the conversion is queued', schema: s.Conversion, headers: { Location: 'The conversion' } },
      problems: {
        400: [
          'invalid_options',
          'file_required',
          'empty_file',
          'unexpected_file',
          'invalid_multipart',
          'upload_aborted',
          'invalid_url',
          'invalid_metadata',
          'invalid_tag',
          'unknown_event_type',
          'invalid_json',
          'invalid_body',
        ],
        413: ['file_too_large', 'body_too_large'],
        415: ['unsupported_input'],
        422: ['blocked_address'],
        503: ['storage_unavailable'],
      },
    },
    {
      method: 'get',
      path: '/v1/conversions',
      summary: 'List conversions, newest first',
      tag: 'Conversions',
      request: { query: z.object({ ...pageQuery, status: z.enum(CONVERSION_STATUSES).optional() }) },
      success: { status: 200, description: 'A page of conversions', schema: s.page(s.Conversion, 'ConversionPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/conversions/{id}',
      summary: 'One conversion',
      tag: 'Conversions',
      request: { params: id('cnv', 'conversion') },
      success: { status: 200, description: 'The conversion', schema: s.Conversion },
      problems: conversionNotFound,
    },
    {
      method: 'post',
      path: '/v1/conversions/{id}/cancel',
      summary: 'Cancel a conversion; its image work stops',
      tag: 'Conversions',
      idempotent: true,
      request: { params: id('cnv', 'conversion') },
      success: { status: 202, description: 'Cancelling', schema: s.Conversion },
      problems: { ...conversionNotFound, 409: ['conversion_finished'] },
    },
    {
      method: 'post',
      path: '/v1/jobs',
      summary: 'Start a job: many files converted with shared options, one workflow watching them',
      tag: 'Jobs',
      idempotent: true,
      request: {
        body: {
          description:
            'Multipart with each image as a `file` field (in order) and the shared options as fields; or JSON whose `inputs` name earlier uploads. `inputs[i].options` override the shared options for the i-th file.',
          content: {
            'multipart/form-data': {
              schema: uploadFields.extend({
                preset: z.string().optional().describe('A preset of the account (GET /v1/presets): its options under the ones given here'),
                file: z.array(z.string()).describe('The images (binary), one `file` field each'),
                inputs: z.string().optional().describe('A JSON array, one object per file in order: `{"options": {...}}` overrides for that file'),
                concurrency: z.string().optional().describe('Files converting at once: 1 to KILN_JOB_CONCURRENCY (its default)'),
                webhook_url: z.string().optional(),
                webhook_events: z.string().optional().describe('Event types webhook_url gets, separated by commas (default: all)'),
                webhook_metadata: z.string().optional().describe('A JSON object, at most 16 KiB'),
                tag: z.string().optional(),
              }),
            },
            'application/json': { schema: jobBody },
          },
        },
      },
      success: { status: 202, description: 'Accepted: the job and its files are queued', schema: s.Job, headers: { Location: 'The job' } },
      problems: {
        400: [
          'invalid_options',
          'invalid_body',
          'invalid_json',
          'file_required',
          'empty_file',
          'unexpected_file',
          'too_many_files',
          'invalid_multipart',
          'upload_aborted',
          'invalid_url',
          'invalid_metadata',
          'invalid_tag',
          'unknown_event_type',
        ],
        413: ['file_too_large', 'upload_too_large', 'body_too_large'],
        415: ['unsupported_media_type', 'unsupported_input'],
        422: ['blocked_address', 'source_not_found'],
        503: ['storage_unavailable'],
      },
    },
    {
      method: 'get',
      path: '/v1/jobs',
      summary: 'List jobs, newest first',
      tag: 'Jobs',
      request: { query: z.object({ ...pageQuery, status: z.enum(JOB_STATUSES).optional() }) },
      success: { status: 200, description: 'A page of jobs', schema: s.page(s.Job, 'JobPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}',
      summary: 'One job: its status, counts per file status and progress',
      tag: 'Jobs',
      request: { params: id('job', 'job') },
      success: { status: 200, description: 'The job', schema: s.Job },
      problems: jobNotFound,
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}/conversions',
      summary: "A job's files, in the job's order, each a conversion",
      tag: 'Jobs',
      request: { params: id('job', 'job'), query: z.object({ ...pageQuery, status: z.enum(CONVERSION_STATUSES).optional() }) },
      success: { status: 200, description: 'A page of conversions', schema: s.page(s.Conversion, 'ConversionPage') },
      problems: { ...jobNotFound, 400: ['invalid_parameter'] },
    },
    {
      method: 'post',
      path: '/v1/jobs/{id}/cancel',
      summary: 'Cancel a job: files not started never start, those under way are cancelled, finished ones stay',
      tag: 'Jobs',
      idempotent: true,
      request: { params: id('job', 'job') },
      success: { status: 202, description: 'Cancelling', schema: s.Job },
      problems: { ...jobNotFound, 409: ['job_finished'] },
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}/archive',
      summary: "A zip of an ended job's succeeded outputs, streamed",
      tag: 'Jobs',
      auth: 'api_key_or_link',
      request: {
        params: id('job', 'job'),
        query: z.object({
          expires: z.string().optional().describe("From the job's archive_url: with signature, it replaces the API key"),
          signature: z.string().optional(),
        }),
      },
      success: {
        status: 200,
        description: "One entry per succeeded file, in the job's order, named after its output (made safe and unique); stored, not recompressed",
        schema: z.string().describe('binary'),
        contentType: 'application/zip',
      },
      problems: { ...jobNotFound, 403: ['invalid_signature'], 409: ['job_not_finished'], 410: ['link_expired', 'output_expired', 'archive_expired'] },
    },
    eventStreamRoute('/v1/jobs/{id}/events', 'Jobs', id('job', 'job'), jobNotFound),
    eventStreamRoute('/v1/conversions/{id}/events', 'Conversions', id('cnv', 'conversion'), conversionNotFound),
    {
      method: 'get',
      path: '/v1/downloads/{id}',
      summary: 'Download an output by its signed link',
      tag: 'Conversions',
      auth: 'none',
      request: { params: id('cnv', 'conversion'), query: z.object({ expires: z.string(), signature: z.string() }) },
      success: { status: 200, description: 'The output image', schema: z.string().describe('binary'), contentType: 'image/*' },
      problems: { 403: ['invalid_signature'], 404: ['output_not_found'], 410: ['link_expired', 'output_expired'] },
    },
    {
      method: 'get',
      path: '/v1/events',
      summary: "The account's events, newest first",
      tag: 'Events',
      request: { query: z.object({ ...pageQuery, type: z.enum(EVENT_TYPES).optional(), subject_id: z.string().optional() }) },
      success: { status: 200, description: 'A page of events', schema: s.page(s.Event, 'EventPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/events/{id}',
      summary: 'One event',
      tag: 'Events',
      request: { params: id('evt', 'event') },
      success: { status: 200, description: 'The event', schema: s.Event },
      problems: { 404: ['event_not_found'] },
    },
    {
      method: 'post',
      path: '/v1/assets',
      summary: 'Upload an image to use in conversions (a watermark)',
      tag: 'Assets',
      request: {
        body: {
          description: 'Multipart with the image as `file`, or the raw image as the body (then `filename` in the query names it).',
          content: {
            'multipart/form-data': { schema: z.object({ file: z.string().describe('The image (binary): PNG, JPEG, WebP, GIF, AVIF or TIFF') }) },
            'application/octet-stream': { schema: z.string() },
          },
        },
      },
      success: { status: 201, description: 'The asset', schema: s.Asset, headers: { Location: 'The asset' } },
      problems: {
        400: ['invalid_options', 'file_required', 'empty_file', 'unexpected_file', 'invalid_multipart', 'upload_aborted'],
        409: ['asset_limit_reached'],
        413: ['file_too_large'],
        415: ['unsupported_input'],
        422: ['asset_too_large'],
        503: ['storage_unavailable'],
      },
    },
    {
      method: 'get',
      path: '/v1/assets',
      summary: "The account's assets",
      tag: 'Assets',
      request: { query: z.object(pageQuery) },
      success: { status: 200, description: 'A page of assets', schema: s.page(s.Asset, 'AssetPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/assets/{id}',
      summary: 'One asset',
      tag: 'Assets',
      request: { params: id('ast', 'asset') },
      success: { status: 200, description: 'The asset', schema: s.Asset },
      problems: { 404: ['asset_not_found'] },
    },
    {
      method: 'delete',
      path: '/v1/assets/{id}',
      summary: 'Delete an asset (conversions still naming it fail with watermark_not_found)',
      tag: 'Assets',
      request: { params: id('ast', 'asset') },
      success: { status: 204, description: 'Deleted' },
      problems: { 404: ['asset_not_found'] },
    },
    {
      method: 'post',
      path: '/v1/presets',
      summary: 'Keep a named set of conversion options (use it as preset=<name>)',
      tag: 'Presets',
      idempotent: true,
      request: { body: json(presetBody) },
      success: { status: 201, description: 'The preset', schema: s.Preset, headers: { Location: 'The preset' } },
      problems: { 400: ['invalid_body', 'invalid_options'], 409: ['preset_exists', 'preset_limit_reached'] },
    },
    {
      method: 'get',
      path: '/v1/presets',
      summary: "The account's presets",
      tag: 'Presets',
      request: { query: z.object(pageQuery) },
      success: { status: 200, description: 'A page of presets', schema: s.page(s.Preset, 'PresetPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/presets/{name}',
      summary: 'One preset',
      tag: 'Presets',
      request: { params: z.object({ name: z.string() }) },
      success: { status: 200, description: 'The preset', schema: s.Preset },
      problems: { 404: ['preset_not_found'] },
    },
    {
      method: 'put',
      path: '/v1/presets/{name}',
      summary: "Replace a preset's options",
      tag: 'Presets',
      request: { params: z.object({ name: z.string() }), body: json(presetOptionsBody) },
      success: { status: 200, description: 'The preset', schema: s.Preset },
      problems: { 400: ['invalid_options'], 404: ['preset_not_found'] },
    },
    {
      method: 'delete',
      path: '/v1/presets/{name}',
      summary: 'Delete a preset (conversions made with it keep their options)',
      tag: 'Presets',
      request: { params: z.object({ name: z.string() }) },
      success: { status: 204, description: 'Deleted' },
      problems: { 404: ['preset_not_found'] },
    },
    {
      method: 'get',
      path: '/v1/webhooks/event-types',
      summary: 'Every event type with the JSON Schema of its data',
      tag: 'Webhooks',
      success: { status: 200, description: 'The catalog', schema: s.page(s.EventType, 'EventTypePage') },
    },
    {
      method: 'get',
      path: '/v1/webhooks/secret',
      summary: "The account's signing secret (for webhook_url targets)",
      tag: 'Webhooks',
      success: { status: 200, description: 'The secret', schema: s.Secret },
    },
    {
      method: 'post',
      path: '/v1/webhooks/secret/rotate',
      summary: "Rotate the account's signing secret (optionally to one you bring)",
      tag: 'Webhooks',
      idempotent: true,
      request: { body: { ...json(rotateBody), required: false } },
      success: { status: 200, description: 'The new secret', schema: s.Secret },
      problems: { 400: ['invalid_body', 'invalid_secret'] },
    },
    {
      method: 'get',
      path: '/v1/webhooks/settings',
      summary: 'How deliveries to a per-request webhook_url are formed (extra signature header, template, headers)',
      tag: 'Webhooks',
      success: { status: 200, description: 'The settings', schema: s.RequestWebhookSettings },
    },
    {
      method: 'patch',
      path: '/v1/webhooks/settings',
      summary: 'Change how deliveries to a per-request webhook_url are formed',
      tag: 'Webhooks',
      request: { body: json(requestWebhookSettingsBody) },
      success: { status: 200, description: 'The settings', schema: s.RequestWebhookSettings },
      problems: {
        400: ['invalid_json', 'invalid_body', 'invalid_headers', 'invalid_signature', 'invalid_template'],
        413: ['body_too_large'],
        415: ['unsupported_media_type'],
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/settings/preview',
      summary: 'Render a sample or stored event as a webhook_url delivery would send it, without sending it',
      tag: 'Webhooks',
      request: { body: json(previewBody) },
      success: { status: 200, description: 'The request', schema: s.DeliveryPreview },
      problems: previewProblems,
    },
    {
      method: 'post',
      path: '/v1/webhooks/endpoints',
      summary: 'Register a webhook endpoint',
      tag: 'Webhook endpoints',
      idempotent: true,
      request: { body: json(endpointBody.partial().required({ url: true })) },
      success: { status: 201, description: 'The endpoint with its secret', schema: s.EndpointWithSecret, headers: { Location: 'The endpoint' } },
      problems: {
        400: [
          'invalid_body',
          'invalid_url',
          'unknown_event_type',
          'invalid_retry_schedule',
          'invalid_headers',
          'invalid_secret',
          'invalid_signature',
          'invalid_template',
        ],
        422: ['blocked_address'],
      },
    },
    {
      method: 'get',
      path: '/v1/webhooks/endpoints',
      summary: 'List endpoints',
      tag: 'Webhook endpoints',
      request: { query: z.object(pageQuery) },
      success: { status: 200, description: 'A page of endpoints', schema: s.page(s.Endpoint, 'WebhookEndpointPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'One endpoint',
      tag: 'Webhook endpoints',
      request: { params: id('ep', 'endpoint') },
      success: { status: 200, description: 'The endpoint', schema: s.Endpoint },
      problems: endpointNotFound,
    },
    {
      method: 'patch',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'Change an endpoint',
      tag: 'Webhook endpoints',
      request: { params: id('ep', 'endpoint'), body: json(endpointBody.partial()) },
      success: { status: 200, description: 'The endpoint', schema: s.Endpoint },
      problems: {
        ...endpointNotFound,
        400: [
          'invalid_json',
          'invalid_body',
          'invalid_url',
          'unknown_event_type',
          'invalid_retry_schedule',
          'invalid_headers',
          'invalid_signature',
          'invalid_template',
        ],
        413: ['body_too_large'],
        415: ['unsupported_media_type'],
        422: ['blocked_address'],
      },
    },
    {
      method: 'delete',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'Delete an endpoint (its delivery log stays)',
      tag: 'Webhook endpoints',
      request: { params: id('ep', 'endpoint') },
      success: { status: 204, description: 'Deleted' },
      problems: endpointNotFound,
    },
    {
      method: 'get',
      path: '/v1/webhooks/endpoints/{id}/secret',
      summary: "An endpoint's signing secret",
      tag: 'Webhook endpoints',
      request: { params: id('ep', 'endpoint') },
      success: { status: 200, description: 'The secret', schema: s.Secret },
      problems: endpointNotFound,
    },
    {
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/rotate-secret',
      summary: "Rotate an endpoint's secret (optionally to one you bring)",
      tag: 'Webhook endpoints',
      idempotent: true,
      request: { params: id('ep', 'endpoint'), body: { ...json(rotateBody), required: false } },
      success: { status: 200, description: 'The new secret', schema: s.Secret },
      problems: { ...endpointNotFound, 400: ['invalid_body', 'invalid_secret'] },
    },
    {
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/preview',
      summary: 'Render a sample or stored event as a delivery to this endpoint would send it, without sending it',
      tag: 'Webhook endpoints',
      request: { params: id('ep', 'endpoint'), body: json(previewBody) },
      success: { status: 200, description: 'The request', schema: s.DeliveryPreview },
      problems: { ...previewProblems, 404: ['endpoint_not_found', 'event_not_found'] },
    },
    {
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/test',
      summary: 'Send a webhook.test event to this endpoint alone',
      tag: 'Webhook endpoints',
      idempotent: true,
      request: { params: id('ep', 'endpoint') },
      success: { status: 202, description: 'Sent', schema: s.TestSent },
      problems: { ...endpointNotFound, 409: ['endpoint_disabled'] },
    },
    {
      method: 'get',
      path: '/v1/webhooks/deliveries',
      summary: 'The delivery log, newest first',
      tag: 'Webhook deliveries',
      request: {
        query: z.object({
          ...pageQuery,
          endpoint_id: z.string().optional(),
          event_type: z.enum(EVENT_TYPES).optional(),
          status: z.enum(DELIVERY_STATUSES).optional(),
          event_id: z.string().optional(),
        }),
      },
      success: { status: 200, description: 'A page of deliveries', schema: s.page(s.Delivery, 'WebhookDeliveryPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'get',
      path: '/v1/webhooks/deliveries/{id}',
      summary: 'One delivery with its payload and every attempt',
      tag: 'Webhook deliveries',
      request: { params: id('dlv', 'delivery') },
      success: { status: 200, description: 'The delivery', schema: s.DeliveryDetail },
      problems: deliveryNotFound,
    },
    {
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      summary: 'An immediate manual attempt, same webhook-id',
      tag: 'Webhook deliveries',
      idempotent: true,
      request: { params: id('dlv', 'delivery') },
      success: { status: 202, description: 'Retrying', schema: s.Delivery },
      problems: { ...deliveryNotFound, 409: ['endpoint_disabled', 'endpoint_deleted', 'event_purged'] },
    },
    {
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/cancel',
      summary: "Drop a delivery's pending retries",
      tag: 'Webhook deliveries',
      idempotent: true,
      request: { params: id('dlv', 'delivery') },
      success: { status: 202, description: 'Cancelling', schema: s.Delivery },
      problems: { ...deliveryNotFound, 409: ['delivery_finished'] },
    },
    {
      method: 'post',
      path: '/v1/webhooks/recover',
      summary: "Re-deliver an endpoint's failed deliveries since a time",
      tag: 'Webhook deliveries',
      idempotent: true,
      request: { body: json(recoverBody) },
      success: { status: 202, description: 'Re-delivering', schema: s.Recovered },
      problems: { 400: ['invalid_body'], ...endpointNotFound, 409: ['endpoint_disabled'] },
    },
    {
      method: 'get',
      path: '/v1/api-keys',
      summary: "The account's live API keys",
      tag: 'API keys',
      request: { query: z.object(pageQuery) },
      success: { status: 200, description: 'A page of keys (never the keys themselves)', schema: s.page(s.ApiKey, 'ApiKeyPage') },
      problems: { 400: ['invalid_parameter'] },
    },
    {
      method: 'post',
      path: '/v1/api-keys',
      summary: 'Create an API key (shown once)',
      tag: 'API keys',
      request: { body: json(apiKeyBody) },
      success: { status: 201, description: 'The key, with its secret this once', schema: s.ApiKeyCreated, headers: { Location: 'The key' } },
      problems: { 400: ['invalid_json', 'invalid_body', 'idempotency_not_supported'], 413: ['body_too_large'], 415: ['unsupported_media_type'] },
    },
    {
      method: 'delete',
      path: '/v1/api-keys/{id}',
      summary: 'Revoke an API key at once',
      tag: 'API keys',
      request: { params: id('key', 'API key') },
      success: { status: 204, description: 'Revoked' },
      problems: { 404: ['api_key_not_found'] },
    },
  ];
}

const IDEMPOTENCY_PROBLEMS = { 400: ['invalid_idempotency_key'], 409: ['idempotency_key_in_flight'], 422: ['idempotency_key_reused'] };
const JSON_BODY_PROBLEMS = { 400: ['invalid_json', 'invalid_body'], 413: ['body_too_large'], 415: ['unsupported_media_type'] };

function register(registry: OpenAPIRegistry, route: Route): void {
  const auth = route.auth ?? 'api_key';
  const takesJson = route.request?.body?.content['application/json'] !== undefined;
  const problems = mergeProblems(
    route.problems,
    auth === 'api_key' || auth === 'api_key_or_link'
      ? { 401: ['unauthorized', 'invalid_api_key'] }
      : auth === 'admin'
        ? { 401: ['unauthorized', 'invalid_admin_token'] }
        : undefined,
    route.idempotent ? IDEMPOTENCY_PROBLEMS : undefined,
    takesJson ? JSON_BODY_PROBLEMS : undefined,
    { 405: ['method_not_allowed'], 431: ['headers_too_large'] },
  );
  const { success } = route;
  const responses: RouteConfig['responses'] = {
    [success.status]: {
      description: success.description,
      ...(success.schema ? { content: { [success.contentType ?? 'application/json']: { schema: success.schema } } } : {}),
      ...(success.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(success.headers).map(([name, description]) => [name, { description, schema: { type: 'string' as const } }]),
            ),
          }
        : {}),
    },
  };
  for (const [status, description] of Object.entries(route.otherAnswers ?? {})) responses[status] = { description };
  for (const [status, codes] of Object.entries(problems)) responses[status] = problemResponse(Number(status), codes);
  const headers = route.idempotent
    ? [
        z
          .string()
          .optional()
          .meta({ param: { name: 'Idempotency-Key', in: 'header', description: '1–255 printable characters; see the README' } }),
      ]
    : undefined;
  registry.registerPath({
    method: route.method,
    path: route.path,
    summary: route.summary,
    tags: [route.tag],
    operationId: `${route.method}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    security: auth === 'none' ? [] : auth === 'api_key_or_link' ? [{ apiKey: [] }, {}] : [{ [auth === 'admin' ? 'adminToken' : 'apiKey']: [] }],
    request: { ...route.request, ...(headers ? { headers } : {}) },
    responses,
  });
}

function registerWebhooks(registry: OpenAPIRegistry): void {
  for (const type of EVENT_TYPES) {
    const { description, data } = EVENT_CATALOG[type];
    registry.registerWebhook({
      method: 'post',
      path: type,
      summary: description,
      description: 'Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) and with X-Kiln-Signature: sha256=<hex>; see the README.',
      request: {
        headers: z.object({
          'webhook-id': z.string(),
          'webhook-timestamp': z.string(),
          'webhook-signature': z.string(),
          'x-kiln-signature': z.string(),
          'x-kiln-event': z.literal(type),
        }),
        body: json(s.EventEnvelope.extend({ type: z.literal(type), data }).meta({ id: `Event_${type.replace('.', '_')}` })),
      },
      responses: { 200: { description: 'Any 2xx acknowledges the delivery; anything else, or no answer within the timeout, is retried on the schedule.' } },
    });
  }
}

let cached: { key: string; document: unknown } | undefined;

/** The OpenAPI document for these limits (they appear in the option schemas); built once. */
export function openApiDocument(limits: OptionLimits, version: string): unknown {
  const key = JSON.stringify(limits);
  if (cached?.key === key) return cached.document;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'An API key: Authorization: Bearer kiln_…' });
  registry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'The admin token (KILN_ADMIN_TOKEN)' });
  for (const route of routes(limits)) register(registry, route);
  registerWebhooks(registry);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'Kiln', version, description: 'Self-hosted durable image conversion with signed webhooks.' },
    servers: [{ url: '/' }],
  });
  cached = { key, document };
  return document;
}
