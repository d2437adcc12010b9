import { z } from 'zod';
import { CONVERSION_STATUSES, DELIVERY_STATUSES, JOB_STATUSES } from '../../db/schema.js';
import { EVENT_CATALOG, EVENT_TYPES, JOB_COUNTS, JOB_PROGRESS, type EventType as EventTypeName } from '../../model/event-catalog.js';
import { OUTPUT_FORMATS } from '../../model/formats.js';

/**
 * The shapes of Kiln's answers, as zod schemas. The OpenAPI document is generated from
 * these (and from the request schemas the routes validate with), and the code that builds
 * each answer is typed by the schema it must satisfy.
 */

const timestamp = z.string().describe('ISO-8601 date-time, UTC');
const nullableTimestamp = timestamp.nullable();

/** The one problem shape every error of Kiln's has; `codes` are every code the API answers. */
export function problemSchema(codes: readonly string[]) {
  return z
    .object({
      type: z.string(),
      title: z.string(),
      status: z.number().int(),
      code: z.enum(codes as [string, ...string[]]).describe('Stable; each operation lists the codes it may answer (x-problem-codes).'),
      detail: z.string().describe('For humans; may change.'),
      errors: z
        .array(z.object({ field: z.string(), message: z.string() }))
        .optional()
        .describe('One entry per invalid field.'),
    })
    .catchall(z.unknown())
    .meta({ id: 'Problem', description: 'An RFC 9457 problem; every error Kiln answers is one.' });
}

const fileFacts = {
  filename: z.string(),
  bytes: z.number().int(),
};

const flag = z.boolean().optional();
const number = z.number().optional();

const optionsOutShape = {
  output_format: z.enum(OUTPUT_FORMATS),
  quality: z.number().int().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  fit: z.enum(['cover', 'contain', 'fill', 'inside', 'outside']).optional(),
  position: z.string().optional(),
  enlarge: flag,
  crop: z.object({ left: z.number().int(), top: z.number().int(), width: z.number().int(), height: z.number().int() }).optional(),
  trim: number,
  rotate: number,
  background: z.string().optional(),
  flip: flag,
  flop: flag,
  extend: z.object({ top: z.number().int(), right: z.number().int(), bottom: z.number().int(), left: z.number().int() }).optional(),
  blur: number,
  sharpen: number,
  brightness: number,
  saturation: number,
  hue: number,
  grayscale: flag,
  normalize: flag,
  keep_metadata: flag,
  keep_icc: flag,
  lossless: flag,
  effort: number,
  progressive: flag,
  chroma_subsampling: z.enum(['4:2:0', '4:4:4']).optional(),
  palette: flag,
  mozjpeg: flag,
  max_bytes: number,
  first_frame: flag,
  page: number,
  density: number,
};

const ConversionOptionsOut = z
  .object({
    ...optionsOutShape,
    outputs: z.array(z.object(optionsOutShape)).optional().describe('Every output, when several were asked for; the options above are the first’s.'),
  })
  .meta({ id: 'ConversionOptions', description: 'The options as Kiln understood them (aliases resolved, presets applied).' });

export const Conversion = z
  .object({
    id: z.string(),
    object: z.literal('conversion'),
    status: z.enum(CONVERSION_STATUSES),
    options: ConversionOptionsOut,
    input: z.object({
      ...fileFacts,
      content_type: z.string().nullable(),
      format: z.string().nullable(),
      width: z.number().int().nullable().describe('Of the page or frame converted, as decoded (a PDF page at the density asked for)'),
      height: z.number().int().nullable(),
      pages: z
        .number()
        .int()
        .optional()
        .describe(
          'Pages of a multi-page original once read: a PDF’s pages (even one), a HEIC collection’s images, an animation’s frames. Absent for a single image',
        ),
    }),
    source_url: z.string().nullable().describe('Where the original was fetched from, for a conversion made from a URL; null for an upload'),
    output: z
      .object({
        ...fileFacts,
        format: z.string(),
        width: z.number().int().describe('Of one frame, for an animation'),
        height: z.number().int(),
        frames: z.number().int().optional().describe('Frames of an animated output (absent for a still)'),
      })
      .nullable(),
    outputs: z
      .array(
        z.object({
          index: z.number().int(),
          ...fileFacts,
          format: z.string(),
          width: z.number().int(),
          height: z.number().int(),
          frames: z.number().int().optional(),
          download_url: z.string().optional(),
          download_expires_at: timestamp.optional(),
        }),
      )
      .optional()
      .describe('Once succeeded, every output of a conversion that asked for several, each with its own signed link (output 0 is `output`).'),
    error: z.object({ code: z.string(), message: z.string().nullable() }).nullable(),
    attempts: z.number().int(),
    webhook_url: z.string().nullable(),
    webhook_events: z.array(z.enum(EVENT_TYPES)).nullable().describe('The event types webhook_url gets; null: all of them.'),
    webhook_metadata: z.record(z.string(), z.unknown()).nullable(),
    tag: z.string().nullable(),
    workflow_id: z
      .string()
      .describe("The Temporal run its work is done in: conversion-<id> for a single upload, the job's own (job-<job_id>) for a job's file."),
    job_id: z.string().nullable().describe('The job this conversion is a file of (job_…); null for a single upload.'),
    job_index: z.number().int().nullable().describe("The file's place in its job, from 0; null for a single upload."),
    created_at: timestamp,
    updated_at: timestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    download_url: z.string().optional().describe('On success: a signed link, signed afresh on every read (absent once the outputs are purged).'),
    original_purged_at: timestamp.optional().describe('When retention deleted the original (KILN_RETENTION_ORIGINALS); absent while it is kept.'),
    output_purged_at: timestamp
      .optional()
      .describe(
        'When retention deleted the outputs (KILN_RETENTION_OUTPUTS): the download is expired, its links answer 410 output_expired; absent while kept.',
      ),
    stream_url: z
      .string()
      .optional()
      .describe(
        "A short-lived signed link (KILN_STREAM_LINK_TTL_SECONDS) to this object's Server-Sent Events stream, for an EventSource, which cannot send an API key.",
      ),
    download_expires_at: timestamp.optional(),
  })
  .meta({ id: 'Conversion' });

export const Job = z
  .object({
    id: z.string(),
    object: z.literal('job'),
    status: z.enum(JOB_STATUSES),
    counts: JOB_COUNTS,
    progress: JOB_PROGRESS,
    concurrency: z.number().int().describe('Files converting at once at most.'),
    options: ConversionOptionsOut.describe("The options the job's files share (a file may override some; its conversion shows its own)."),
    webhook_url: z.string().nullable(),
    webhook_events: z.array(z.enum(EVENT_TYPES)).nullable().describe('The event types webhook_url gets; null: all of them.'),
    webhook_metadata: z.record(z.string(), z.unknown()).nullable(),
    tag: z.string().nullable(),
    workflow_id: z.string(),
    created_at: timestamp,
    updated_at: timestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    stream_url: z
      .string()
      .optional()
      .describe(
        "A short-lived signed link (KILN_STREAM_LINK_TTL_SECONDS) to this object's Server-Sent Events stream, for an EventSource, which cannot send an API key.",
      ),
    archive_url: z
      .string()
      .optional()
      .describe('Once the job has ended with any file succeeded: a signed link to the zip of its outputs, signed afresh on every read.'),
    archive_expires_at: timestamp.optional(),
    archive_expired: z
      .literal(true)
      .optional()
      .describe('Present once the job ended longer ago than KILN_RETENTION_ARCHIVES: its archive is no longer served (410 archive_expired).'),
  })
  .meta({ id: 'Job' });

export const Asset = z
  .object({
    object: z.literal('asset'),
    id: z.string(),
    filename: z.string(),
    format: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
    created_at: timestamp,
  })
  .meta({ id: 'Asset' });

export const Preset = z
  .object({
    object: z.literal('preset'),
    id: z.string(),
    name: z.string(),
    options: z.record(z.string(), z.string()).describe('As forms send them: text'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Preset' });

export const SignatureScheme = z
  .object({
    header: z.string().describe('Lower-case.'),
    algorithm: z.enum(['sha256', 'sha512', 'sha1']),
    signed_content: z.enum(['body', 'timestamp.body']),
    encoding: z.enum(['hex', 'base64']),
    prefix: z.string(),
    form: z.enum(['plain', 'timestamped']),
    timestamp_header: z.string().nullable(),
  })
  .describe('The extra signature header sent beside the Standard Webhooks ones; null: none.')
  .meta({ id: 'SignatureScheme' });

/** A receiver's throttle. */
export const MAX_RATE_LIMIT = 10_000;
const rateLimitField = z
  .number()
  .int()
  .min(1)
  .max(MAX_RATE_LIMIT)
  .nullable()
  .describe('Deliveries per second it takes at most (over it they wait their turn, in order, without failing); null: as fast as they come');

export const RequestWebhookSettings = z
  .object({
    signature: SignatureScheme.nullable(),
    template: z.string().nullable(),
    headers: z.record(z.string(), z.string()),
    rate_limit: rateLimitField.describe('Deliveries per second to each webhook_url; null: as fast as they come'),
  })
  .describe('How deliveries to a conversion’s or job’s own webhook_url are formed; signed with the account secret.')
  .meta({ id: 'RequestWebhookSettings' });

export const DeliveryPreview = z
  .object({
    event_id: z.string().describe('The stored event rendered, or a sample’s made-up id (evt_sample…).'),
    event_type: z.string(),
    url: z.string().nullable().describe('Where it would go; null for webhook_url settings (each conversion or job has its own).'),
    headers: z.record(z.string(), z.string()).describe('As an attempt made now would send them, signatures included.'),
    body: z.string().describe('The exact body an attempt made now would send.'),
  })
  .meta({ id: 'DeliveryPreview' });

export const Endpoint = z
  .object({
    id: z.string(),
    object: z.literal('webhook_endpoint'),
    url: z.string(),
    description: z.string(),
    event_types: z.array(z.enum(EVENT_TYPES)),
    tags: z.array(z.string()),
    headers: z.record(z.string(), z.string()).describe("Sent with every delivery to this endpoint, beside Kiln's own."),
    signature: SignatureScheme.nullable(),
    template: z.string().nullable().describe('The JSONata template deliveries are rendered with; null: Kiln’s envelope as it is.'),
    retry_schedule: z.array(z.string()),
    retry_schedule_is_default: z.boolean(),
    rate_limit: rateLimitField,
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    failing_since: nullableTimestamp,
    previous_secret_expires_at: nullableTimestamp,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });

export const EndpointWithSecret = Endpoint.extend({ secret: z.string().describe('whsec_…, shown here and at /secret only') }).meta({
  id: 'WebhookEndpointWithSecret',
});

export const Secret = z.object({ secret: z.string(), previous_secret_expires_at: nullableTimestamp }).meta({ id: 'SigningSecret' });

export const Delivery = z
  .object({
    id: z.string(),
    object: z.literal('webhook_delivery'),
    event_id: z.string(),
    event_type: z.enum(EVENT_TYPES),
    endpoint_id: z.string().nullable(),
    url: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempt_count: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: nullableTimestamp,
    retry_schedule: z.array(z.string()),
    throttled_count: z.number().int().describe("Times its target's rate_limit gave an attempt a later turn than it was due (a wait, not a failure)"),
    throttled_until: nullableTimestamp.describe('The latest such turn; null: never throttled'),
    workflow_id: z.string().nullable().meta({
      description:
        'The Temporal workflow that carries the retries, re-deliveries or cancellation of this delivery; null while none was needed (most deliveries succeed, or fail for good, on the first attempt, which the worker makes without a workflow).',
    }),
    created_at: timestamp,
    updated_at: timestamp,
    completed_at: nullableTimestamp,
  })
  .meta({ id: 'WebhookDelivery' });

export const Attempt = z
  .object({
    attempt: z.number().int(),
    trigger: z.enum(['scheduled', 'manual']),
    url: z.string(),
    scheduled_at: timestamp,
    started_at: timestamp,
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable(),
    response_body_preview: z.string().nullable(),
    request: z
      .object({
        headers: z.record(z.string(), z.string()).meta({ description: 'Every header Kiln set, signatures included' }),
        body: z.string().meta({ description: 'The body, its first 64 KiB' }),
      })
      .nullable()
      .meta({
        description:
          'The request Kiln formed for this attempt, as signed at its time; sent unless `error.class` says it never left (blocked_address). Null when none was formed (a refused target, a failed template) or once retention emptied it with the response preview.',
      }),
    error: z.object({ class: z.string(), message: z.string().nullable() }).nullable(),
  })
  .meta({ id: 'DeliveryAttempt' });

const typeId = (type: EventTypeName): string => type.replace('.', '_');

/** Each event type's data, one component each, which its webhook body and its stored event both refer to. */
const eventData = Object.fromEntries(EVENT_TYPES.map((type) => [type, EVENT_CATALOG[type].data.meta({ id: `EventData_${typeId(type)}` })])) as unknown as {
  [T in EventTypeName]: z.ZodObject;
};

function envelopeShape(type: EventTypeName) {
  return { id: z.string().describe('evt_…; the webhook-id of every delivery of it'), type: z.literal(type), timestamp, data: eventData[type] };
}

/** Each event type's envelope: the body a webhook of that type carries. */
export const eventEnvelopes = Object.fromEntries(
  EVENT_TYPES.map((type) => [type, z.object(envelopeShape(type)).meta({ id: `Event_${typeId(type)}`, description: EVENT_CATALOG[type].description })]),
) as unknown as { [T in EventTypeName]: z.ZodObject };

/** An event as /v1/events answers it (and a delivery's payload): its envelope, and what it is about. */
export const Event = z
  .discriminatedUnion(
    'type',
    EVENT_TYPES.map((type) =>
      z
        .object({
          ...envelopeShape(type),
          data: eventData[type].nullable().describe('As an attempt made now sends it (links signed now); null once retention emptied it'),
          payload_purged_at: timestamp.optional().describe('When retention emptied it (KILN_RETENTION_EVENTS); absent while kept'),
          object: z.literal('event'),
          subject_id: z.string().describe('The conversion, job or endpoint it is about'),
        })
        .meta({ id: `StoredEvent_${typeId(type)}` }),
    ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  )
  .meta({ id: 'Event', description: 'An event as stored: its envelope, and what it is about.' });

export const DeliveryDetail = Delivery.extend({
  payload: Event.describe('The event it delivers, as an attempt made now sends it'),
  attempts: z.array(Attempt),
}).meta({ id: 'WebhookDeliveryDetail' });

export const ApiKey = z
  .object({
    id: z.string(),
    object: z.literal('api_key'),
    name: z.string(),
    prefix: z.string(),
    created_at: timestamp,
    last_used_at: nullableTimestamp,
    expires_at: nullableTimestamp.meta({ description: 'When it stops working: set on the keys sign-in links make; null for every other key' }),
  })
  .meta({ id: 'ApiKey' });

export const ApiKeyCreated = ApiKey.extend({ key: z.string().describe('The key itself, shown this once.') }).meta({ id: 'ApiKeyCreated' });

export const SignInLink = z
  .object({
    object: z.literal('sign_in_link'),
    account_id: z.string(),
    url: z.string().meta({ description: 'Opens the dashboard signed in as the account; its token is in the fragment, which no server or log sees' }),
    expires_at: timestamp,
  })
  .meta({ id: 'SignInLink' });

export const DashboardSession = z
  .object({
    object: z.literal('dashboard_session'),
    account: z.object({ id: z.string(), name: z.string() }),
    api_key: ApiKeyCreated,
  })
  .meta({ id: 'DashboardSession' });

export const EventType = z
  .object({
    type: z.enum(EVENT_TYPES),
    description: z.string(),
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the event data'),
    example: z
      .record(z.string(), z.unknown())
      .describe('A webhook body of this type as Kiln sends it (without a payload template), made up: its ids name nothing stored'),
  })
  .meta({ id: 'EventTypeDescription' });

export const Liveness = z.object({ status: z.literal('ok') }).meta({ id: 'Liveness' });

export const Health = z
  .object({
    status: z.enum(['ok', 'degraded']),
    postgres: z.object({ ok: z.boolean(), error: z.string().optional() }),
    temporal: z.object({ ok: z.boolean(), error: z.string().optional() }),
  })
  .meta({ id: 'Health' });

export const AccountCreated = z
  .object({
    id: z.string(),
    object: z.literal('account'),
    name: z.string(),
    created_at: timestamp,
    api_key: z.object({ id: z.string(), name: z.string(), key: z.string(), prefix: z.string() }),
    webhook_secret: z.string(),
  })
  .meta({ id: 'AccountCreated' });

const limitValue = z
  .number()
  .int()
  .min(1)
  .max(2 ** 50)
  .nullable();

/** An account's own limits, as the operator sets them: absent follows the configured default, null is none. */
export const AccountLimits = z
  .object({
    rate_work: limitValue.optional().describe('Requests per KILN_RATE_LIMIT_WORK window that create work'),
    rate_webhooks: limitValue.optional().describe('Requests per KILN_RATE_LIMIT_WEBHOOKS window that send webhooks on demand'),
    conversions_active: limitValue.optional().describe('Conversions queued or converting at once'),
    conversions_per_day: limitValue.optional().describe('Conversions started per UTC day'),
    stored_bytes: limitValue.optional().describe('Bytes of originals, outputs and assets kept'),
    endpoints: limitValue.optional().describe('Webhook endpoints'),
    job_files: limitValue.optional().describe('Files one job may have (never more than KILN_MAX_JOB_FILES)'),
  })
  .strict()
  .meta({ id: 'AccountLimits' });

export const AccountLimitsAnswer = z
  .object({
    object: z.literal('account_limits'),
    account_id: z.string(),
    own: AccountLimits.describe('What the operator set for this account'),
    effective: z.record(z.string(), z.number().int().nullable()).describe('Each limit as it applies: the own one, else the default; null: none'),
  })
  .meta({ id: 'AccountLimitsAnswer' });

export const AccountSummary = z
  .object({
    id: z.string(),
    object: z.literal('account'),
    name: z.string(),
    created_at: timestamp,
    conversions_active: z.number().int().describe('Queued or running now'),
    endpoints: z.number().int(),
    api_keys: z.number().int().describe('Live keys (neither revoked nor expired)'),
  })
  .meta({ id: 'AccountSummary' });

const probe = z.object({ ok: z.boolean(), error: z.string().optional() });

export const OperatorStatus = z
  .object({
    object: z.literal('status'),
    checked_at: timestamp,
    postgres: probe,
    temporal: probe,
    task_queues: z
      .array(
        z.object({
          name: z.string(),
          kind: z.enum(['workflow', 'activity']),
          pollers: z
            .array(z.object({ identity: z.string(), last_access_time: nullableTimestamp }))
            .describe('Workers polling it lately: none means nothing serves it'),
          backlog: z.number().int().nullable().describe('Tasks waiting for a worker'),
          backlog_age_seconds: z.number().nullable().describe('How long the oldest has waited'),
        }),
      )
      .nullable()
      .describe('Kiln’s task queues as the Temporal server describes them; null when it does not answer'),
    work: z
      .object({
        conversions_queued: z.number().int(),
        conversions_running: z.number().int(),
        jobs_running: z.number().int(),
        deliveries_pending: z.number().int(),
      })
      .describe('Work in flight across every account, as Kiln’s tables count it'),
    links: z.object({
      temporal_ui: z.string().nullable().describe('The Temporal Web UI (KILN_TEMPORAL_UI_URL); null when unset'),
      temporal_namespace: z.string(),
      metrics: z.string().describe('Prometheus’s text, behind the admin token'),
    }),
  })
  .meta({ id: 'OperatorStatus' });

export const Usage = z
  .object({
    object: z.literal('usage'),
    quotas: z
      .record(
        z.string(),
        z.object({
          used: z.number().int().nullable().describe('Counted as a request is admitted; null for job_files, a bound on each job'),
          limit: z.number().int().nullable().describe('null: no limit'),
          resets_at: timestamp.nullable().describe('When the count starts again (the daily quota); null: it frees as work ends or is deleted'),
        }),
      )
      .describe('By quota: conversions_active, conversions_per_day, stored_bytes, endpoints, job_files'),
    rates: z
      .record(
        z.string(),
        z
          .object({
            limit: z.number().int(),
            window_seconds: z.number().int(),
            remaining: z.number().int().describe('Requests that would pass now'),
            reset_seconds: z.number().int().describe('Seconds until the whole allowance is back'),
          })
          .nullable(),
      )
      .describe('By rate policy (work, webhooks); null: not limited'),
  })
  .meta({ id: 'Usage' });

export const AccountDetail = AccountSummary.extend({
  usage: Usage,
  limits: AccountLimitsAnswer,
}).meta({ id: 'AccountDetail' });

const counts = z.record(z.string(), z.number().int());

export const Overview = z
  .object({
    object: z.literal('overview'),
    since: timestamp.describe('The start of the window: what was created from then on counts'),
    hours: z.number().int(),
    conversions: z.object({
      by_status: counts.describe('Conversions created in the window, by status now'),
      by_format: counts.describe('By the output format asked for'),
      failure_codes: z
        .array(z.object({ code: z.string(), count: z.number().int() }))
        .describe('The commonest codes of failed ones, most frequent first (at most 10)'),
      completion_ms: z
        .object({ p50: z.number().int(), p95: z.number().int(), count: z.number().int() })
        .nullable()
        .describe('From upload to completion, over the ones that succeeded; null with none'),
    }),
    deliveries: z.object({ by_status: counts.describe('Deliveries created in the window, by status now') }),
    failing_endpoints: z
      .array(z.object({ id: z.string(), url: z.string(), failing_since: timestamp, enabled: z.boolean() }))
      .describe('Endpoints whose attempts have all failed since a time, now (at most 100)'),
  })
  .meta({ id: 'Overview' });

export const TestSent = z.object({ event_id: z.string(), delivery_id: z.string().nullable() }).meta({ id: 'TestEventSent' });

export const Recovered = z
  .object({
    endpoint_id: z.string(),
    since: timestamp,
    dry_run: z.boolean().describe('True when nothing was sent: `redelivered` and `delivery_ids` say what would have been'),
    redelivered: z.number().int(),
    delivery_ids: z.array(z.string()),
  })
  .meta({ id: 'RecoverResult' });

/** The list envelope every list route answers with. */
export function page<T extends z.ZodType>(item: T, id: string) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last.') }).meta({ id });
}
