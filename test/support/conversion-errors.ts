import assert from 'node:assert/strict';
import { ConversionInputError } from '../../src/convert/pipeline.js';

/** Asserts that a conversion fails as the input's fault, with `code`. */
export async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConversionInputError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });
}
