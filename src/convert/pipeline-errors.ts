/** What a conversion may be given as limits, and how it says its input was at fault: shared by the pipeline and its decoders. */

export interface ConversionLimits {
  maxInputPixels: number;
  maxOutputPixels: number;
  avifEffort: number;
  /** Frames an animation may have (KILN_MAX_FRAMES); each also counts into the pixel limits. */
  maxFrames: number;
}

/** Error codes for input that no retry can fix (the last two are set by the converter pool, which measures the work). */
export const INPUT_ERROR_CODES = [
  'unsupported_input',
  'crop_outside_image',
  'cannot_meet_max_bytes',
  'page_not_found',
  'too_many_frames',
  'unsupported_for_animation',
  'watermark_not_found',
  'too_many_pixels',
  'output_too_large',
  'unsupported_svg_feature',
  'time_limit_exceeded',
  'memory_limit_exceeded',
] as const;
export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

export class ConversionInputError extends Error {
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ConversionInputError';
  }
}

/** An animation with more frames than KILN_MAX_FRAMES allows. */
export function tooManyFrames(frames: number, maxFrames: number): ConversionInputError {
  return new ConversionInputError(
    'too_many_frames',
    `the animation has ${frames} frames; the limit is ${maxFrames} (KILN_MAX_FRAMES); first_frame=true converts a still`,
  );
}
