import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';

/**
 * What every Kiln run carries so the Web UI's filter can find it, e.g.
 * `KilnAccountId = "acc_…" AND KilnStatus = "failed"`. Registered on the namespace by
 * `registerSearchAttributes` (register-search-attributes.ts) when an API or worker process starts.
 * Workflow code imports this module, so it imports nothing but `@temporalio/common`.
 */
export const SEARCH_ATTRIBUTES = {
  accountId: defineSearchAttributeKey('KilnAccountId', 'KEYWORD'),
  conversionId: defineSearchAttributeKey('KilnConversionId', 'KEYWORD'),
  deliveryId: defineSearchAttributeKey('KilnDeliveryId', 'KEYWORD'),
  /** An endpoint id, or `request` for a conversion's own webhook_url. */
  endpointId: defineSearchAttributeKey('KilnEndpointId', 'KEYWORD'),
  eventType: defineSearchAttributeKey('KilnEventType', 'KEYWORD'),
  /** The job (job_…) a run belongs to: the job's own run and every file's conversion. */
  jobId: defineSearchAttributeKey('KilnJobId', 'KEYWORD'),
  outputFormat: defineSearchAttributeKey('KilnOutputFormat', 'KEYWORD'),
  /** The conversion's or delivery's status as Kiln's API reports it, kept current by the workflow. */
  status: defineSearchAttributeKey('KilnStatus', 'KEYWORD'),
} as const;

/** What a conversion's run carries from its start, whoever starts it (the API, or its job's workflow). */
export function conversionStartAttributes(accountId: string, conversionId: string, outputFormat: string, jobId?: string): SearchAttributePair[] {
  return [
    { key: SEARCH_ATTRIBUTES.accountId, value: accountId },
    { key: SEARCH_ATTRIBUTES.conversionId, value: conversionId },
    { key: SEARCH_ATTRIBUTES.outputFormat, value: outputFormat },
    { key: SEARCH_ATTRIBUTES.status, value: 'queued' },
    ...(jobId ? [{ key: SEARCH_ATTRIBUTES.jobId, value: jobId }] : []),
  ];
}
