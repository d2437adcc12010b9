import { setTimeout as sleep } from 'node:timers/promises';
import type { SearchAttributeType } from '@temporalio/common';
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../search-attributes.js';
import { GRPC_STATUS, grpcStatusOf } from './grpc-status.js';

const { IndexedValueType } = proto.temporal.api.enums.v1;

const INDEXED_TYPES: Record<SearchAttributeType, proto.temporal.api.enums.v1.IndexedValueType> = {
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Temporal's default `system.namespaceCacheRefreshInterval`. On SQL visibility a namespace's
 * search attributes live in its record, which each Temporal service reads again on this
 * interval unless `system.forceSearchAttributesCacheRefreshOnRead` makes it read on every use.
 */
const NAMESPACE_REFRESH_MS = 10_000;

/** How long a new attribute may take to reach the frontend before registration gives up. */
const FRONTEND_DEADLINE_MS = 60_000;

type SearchAttributeConnection = Pick<Connection, 'operatorService' | 'workflowService'>;

/**
 * Adds Kiln's search attributes the namespace lacks and returns once every Temporal service
 * accepts them; safe to call from every worker at every start. A process that finds them
 * registered by another a moment ago waits for them the same way.
 */
export async function registerSearchAttributes(connection: SearchAttributeConnection, namespace: string): Promise<void> {
  const known = await registeredNames(connection, namespace);
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((key) => !known?.has(key.name));
  if (missing.length > 0) {
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPES[key.type]])),
      });
    } catch (error) {
      // Two workers starting together: the other one registered them first.
      if (grpcStatusOf(error) !== GRPC_STATUS.ALREADY_EXISTS) throw error;
    }
  }
  // Temporal's time-skipping test server keeps no visibility to ask.
  if (known !== undefined) await untilServed(connection, namespace);
}

/**
 * Waits until the frontend takes a query naming every attribute, and then, if it had to wait
 * for it, one refresh interval more: the history service, which checks the attributes a
 * workflow upserts, reads the namespace on the same interval, at a moment of its own.
 */
async function untilServed(connection: SearchAttributeConnection, namespace: string): Promise<void> {
  const query = Object.values(SEARCH_ATTRIBUTES)
    .map((key) => `${key.name} = ${PROBE_VALUES[key.type]}`)
    .join(' AND ');
  const deadline = Date.now() + FRONTEND_DEADLINE_MS;
  let waited = false;
  for (;;) {
    try {
      await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1, query });
      break;
    } catch (error) {
      if (grpcStatusOf(error) !== GRPC_STATUS.INVALID_ARGUMENT || Date.now() > deadline) throw error;
      waited = true;
      await sleep(250);
    }
  }
  // A refresh that had begun before the attributes were added may end a moment after them.
  if (waited) await sleep(NAMESPACE_REFRESH_MS + 1_000);
}

/** A value of each type for a query that matches nothing but must name the attribute. */
const PROBE_VALUES: Record<SearchAttributeType, string> = {
  TEXT: '"kiln-probe"',
  KEYWORD: '"kiln-probe"',
  KEYWORD_LIST: '"kiln-probe"',
  INT: '0',
  DOUBLE: '0',
  BOOL: 'false',
  DATETIME: '"1970-01-01T00:00:00Z"',
};

/** The attributes the namespace has, or undefined where the server cannot list them. */
async function registeredNames(connection: SearchAttributeConnection, namespace: string): Promise<Set<string> | undefined> {
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    return new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  } catch (error) {
    // Temporal's time-skipping test server can add search attributes but not list them.
    if (grpcStatusOf(error) === GRPC_STATUS.UNIMPLEMENTED) return undefined;
    throw error;
  }
}
