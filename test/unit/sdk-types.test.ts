import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SDK_TYPES_PATH, sdkTypes } from '../../scripts/generate-sdk-types.js';

test("the SDK's generated types are what the API's document makes now (npm run sdk:types)", async () => {
  assert.ok(readFileSync(SDK_TYPES_PATH, 'utf8') === (await sdkTypes()), 'sdk/src/kiln-api.ts is stale: run npm run sdk:types');
});
