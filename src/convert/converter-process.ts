/**
 * One converter child process: converts the images its parent names, one at a time,
 * reading each original from the blob store and writing the output there itself, so no
 * file's bytes pass through the worker. Conversions run here rather than in the worker so
 * that a cancel, a time limit or a memory ceiling can stop one by killing its process:
 * sharp cannot abort an encode that has started, and libvips memory is invisible to V8's
 * limits.
 */
import sharp from 'sharp';
import { ConversionInputError, convertImage, type ConversionExtras, type ConversionFacts } from './pipeline.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import type { ConverterReply, ConverterRequest } from './converter-protocol.js';
import { releaseDroppedHeaps } from './wasm-instances.js';
import { openBlobStore } from '../storage/open-blob-store.js';
import { isStoreFull, isStoreUnavailable, type BlobLocation, type BlobStore } from '../storage/blob-store.js';

// Each image is new: libvips' operation cache would only hold memory.
sharp.cache(false);

function reply(message: ConverterReply): void {
  process.send?.(message);
}

const stores = new Map<string, BlobStore>();
function storeAt(location: BlobLocation): BlobStore {
  const key = JSON.stringify(location);
  let store = stores.get(key);
  if (!store) stores.set(key, (store = openBlobStore(location)));
  return store;
}

/**
 * The watermark assets the outputs name, read once from the keys the job gives (found
 * through the conversion's account); one without a key, or gone from the store, is left
 * out, and the conversion says so (watermark_not_found).
 */
async function extrasFor(blobs: BlobStore, outputs: ConversionOptions[], keys: Record<string, string>): Promise<Map<string, ConversionExtras>> {
  const extras = new Map<string, ConversionExtras>();
  for (const id of new Set(outputs.flatMap((output) => (output.watermark ? [output.watermark] : [])))) {
    const key = Object.hasOwn(keys, id) ? keys[id] : undefined;
    const bytes = key === undefined || (await blobs.size(key)) === undefined ? undefined : await blobs.read(key);
    extras.set(id, bytes ? { watermark: bytes } : {});
  }
  return extras;
}

async function convert({ job, options, limits }: ConverterRequest): Promise<ConversionFacts> {
  const blobs = storeAt(job.blobs);
  const input = await blobs.read(job.inputKey);
  const extras = await extrasFor(blobs, options.outputs ?? [options], job.watermarkKeys ?? {});
  const extrasOf = (output: ConversionOptions): ConversionExtras => (output.watermark ? (extras.get(output.watermark) ?? {}) : {});
  if (!options.outputs) {
    const { bytes, ...facts } = await convertImage(input, options, limits, extrasOf(options));
    await blobs.write(job.outputKey, bytes);
    return facts;
  }
  // Renditions: the original read once, each output made from it in turn.
  const made: ConversionFacts[] = [];
  for (const [index, output] of options.outputs.entries()) {
    const { bytes, ...facts } = await convertImage(input, output, limits, extrasOf(output));
    const key = index === 0 ? job.outputKey : job.renditionKeys?.[index - 1];
    if (!key) throw new Error(`no key for output ${index}`);
    await blobs.write(key, bytes);
    made.push(facts);
  }
  return { ...made[0]!, renditions: made.map((facts) => facts.output) };
}

process.on('message', (request: ConverterRequest) => {
  convert(request)
    .finally(releaseDroppedHeaps)
    .then(
      (facts) => reply({ id: request.id, ok: true, facts }),
      (error: unknown) =>
        reply({
          id: request.id,
          ok: false,
          inputError: error instanceof ConversionInputError ? { code: error.code, message: error.message } : undefined,
          storageUnavailable: isStoreUnavailable(error),
          storageFull: isStoreFull(error),
          message: error instanceof Error ? error.message : String(error),
        }),
    );
});

// The worker is gone (even killed outright): nothing is left to convert for.
process.on('disconnect', () => process.exit(0));
reply({ ready: true });
