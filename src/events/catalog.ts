/** Every event type Kiln publishes. Webhook delivery (a later layer) fans these out. */
export const EVENT_TYPES = {
  'file.uploaded': 'The original file of a conversion was stored.',
  'conversion.started': 'A conversion began its first attempt.',
  'conversion.completed': 'A conversion succeeded; its output is ready to download.',
  'conversion.failed': 'A conversion ended without output; `error` says why.',
  'conversion.cancelled': 'A conversion was cancelled before it finished.',
} as const;

export type EventType = keyof typeof EVENT_TYPES;
