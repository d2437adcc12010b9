import type { SearchAttributeType } from '@temporalio/common';
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../search-attributes.js';

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

/** Adds Kiln's search attributes the namespace lacks; safe to call from every worker at every start. */
export async function registerSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<void> {
  const known = new Set(await registeredNames(connection, namespace));
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((key) => !known.has(key.name));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPES[key.type]])),
    });
  } catch (error) {
    // Two workers starting together: the other one registered them first.
    if ((error as { code?: number }).code !== ALREADY_EXISTS) throw error;
  }
}

/** gRPC status codes. */
const ALREADY_EXISTS = 6;
const UNIMPLEMENTED = 12;

async function registeredNames(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<string[]> {
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    return [...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})];
  } catch (error) {
    // Temporal's time-skipping test server can add search attributes but not list them.
    if ((error as { code?: number }).code === UNIMPLEMENTED) return [];
    throw error;
  }
}
