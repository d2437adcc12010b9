import type { Conversion } from '../db/schema.js';
import type { DownloadSigner } from '../signing/download-url.js';
import type { ConversionEventType, StoredEventData } from '../model/event-catalog.js';

type Rendition = NonNullable<StoredEventData<'conversion.completed'>['outputs']>[number];

/** Each output of a succeeded conversion that asked for several, as the API and conversion.completed describe it (links apart). */
export function renditionsOf(row: Conversion): Rendition[] | undefined {
  if (row.status !== 'succeeded' || !row.outputs) return undefined;
  return row.outputs.map(({ filename, format, width, height, bytes, frames }, index) => ({
    index,
    filename,
    format,
    width,
    height,
    bytes,
    ...(frames ? { frames } : {}),
  }));
}

/** The outputs with a signed link each, signed at `now` (each read, each webhook attempt). */
export function signRenditions<T extends { index: number }>(outputs: T[], conversionId: string, signer: DownloadSigner, now: Date) {
  return outputs.map((output) => {
    const { url, expiresAt } = signer.signOutput(conversionId, output.index, now);
    return { ...output, download_url: url, download_expires_at: expiresAt.toISOString() };
  });
}

/** The original file as the API and every conversion event describe it. */
export function inputOf(row: Conversion): EventInput {
  return {
    filename: row.input_filename,
    bytes: row.input_bytes,
    content_type: row.input_content_type,
    format: row.input_format,
    width: row.input_width,
    height: row.input_height,
    ...(row.input_pages !== null ? { pages: row.input_pages } : {}),
  };
}

/** The output facts of a succeeded conversion (all recorded in the same write), else null. */
export function outputOf(row: Conversion): StoredEventData<'conversion.completed'>['output'] | null {
  const {
    status,
    output_filename: filename,
    output_format: format,
    output_bytes: bytes,
    output_width: width,
    output_height: height,
    output_frames: frames,
  } = row;
  if (status !== 'succeeded' || filename === null || format === null || bytes === null || width === null || height === null) return null;
  return { filename, format, bytes, width, height, ...(frames ? { frames } : {}) };
}

type EventInput = StoredEventData<'file.uploaded'>['input'];

/** What every conversion event carries. */
function eventBase(row: Conversion): { conversion_id: string; input: EventInput; metadata: Record<string, unknown> | null; tag: string | null } {
  return {
    conversion_id: row.id,
    input: inputOf(row),
    metadata: row.webhook_metadata,
    tag: row.tag,
  };
}

/** The conversion's recorded error; events that report one are published only after it is written. */
function recordedError(row: Conversion): { code: string; message: string } {
  if (!row.error_code) throw new Error(`conversion ${row.id} is ${row.status} without a recorded error`);
  return { code: row.error_code, message: row.error_message ?? '' };
}

/**
 * Builds each conversion event's `data` from the row, typed by the catalog schema the
 * event must satisfy (download links are added per delivery attempt, not stored).
 */
const EVENT_DATA: { [T in ConversionEventType]: (row: Conversion) => StoredEventData<T> } = {
  'file.uploaded': (row) => ({ ...eventBase(row), status: 'queued' }),
  'conversion.started': (row) => ({ ...eventBase(row), status: 'running' }),
  'conversion.completed': (row) => {
    const output = outputOf(row);
    if (!output) throw new Error(`conversion ${row.id} is ${row.status} without recorded output`);
    const outputs = renditionsOf(row);
    return { ...eventBase(row), status: 'succeeded', output, ...(outputs ? { outputs } : {}) };
  },
  'conversion.failed': (row) => ({ ...eventBase(row), status: 'failed', error: recordedError(row) }),
  'conversion.cancelled': (row) => ({ ...eventBase(row), status: 'cancelled', error: recordedError(row) }),
};

export function conversionEventData<T extends ConversionEventType>(row: Conversion, type: T): StoredEventData<T> {
  return EVENT_DATA[type](row);
}
