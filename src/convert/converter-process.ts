/**
 * One converter child process: converts the images its parent sends, one at a time.
 * Conversions run here rather than in the worker so that a cancel, a time limit or a
 * memory ceiling can stop one by killing its process: sharp cannot abort an encode that
 * has started, and libvips memory is invisible to V8's limits.
 */
import sharp from 'sharp';
import { ConversionInputError, convertImage } from './pipeline.js';
import type { ConverterReply, ConverterRequest } from './converter-protocol.js';

// Each image is new: libvips' operation cache would only hold memory.
sharp.cache(false);

function reply(message: ConverterReply): void {
  process.send?.(message);
}

process.on('message', (request: ConverterRequest) => {
  const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
  convertImage(input, request.options, request.limits).then(
    (output) => reply({ id: request.id, ok: true, output }),
    (error: unknown) =>
      reply({
        id: request.id,
        ok: false,
        inputError: error instanceof ConversionInputError ? { code: error.code, message: error.message } : undefined,
        message: error instanceof Error ? error.message : String(error),
      }),
  );
});

// The worker is gone (even killed outright): nothing is left to convert for.
process.on('disconnect', () => process.exit(0));
reply({ ready: true });
