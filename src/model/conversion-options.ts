import type { FitMode, OutputFormat, Position } from './formats.js';

/** A rectangle of the (upright) input, in pixels. */
export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Pixels added around the image. */
export interface Padding {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/**
 * What a conversion does, applied in this order (README "Conversion options"): orient,
 * crop, trim, resize, rotate, flip/flop, extend, blur/sharpen, colour (modulate, grayscale,
 * normalize), flatten, metadata, encode (with max_bytes searching the quality).
 */
export interface ConversionOptions {
  output_format: OutputFormat;
  quality?: number;
  width?: number;
  height?: number;
  fit?: FitMode;
  position?: Position;
  enlarge?: boolean;
  crop?: CropRect;
  trim?: number;
  rotate?: number;
  background?: string;
  flip?: boolean;
  flop?: boolean;
  extend?: Padding;
  blur?: number;
  sharpen?: number;
  brightness?: number;
  saturation?: number;
  hue?: number;
  grayscale?: boolean;
  normalize?: boolean;
  keep_metadata?: boolean;
  keep_icc?: boolean;
  lossless?: boolean;
  effort?: number;
  progressive?: boolean;
  chroma_subsampling?: '4:2:0' | '4:4:4';
  palette?: boolean;
  mozjpeg?: boolean;
  max_bytes?: number;
  first_frame?: boolean;
  page?: number;
  density?: number;
  watermark?: string;
  watermark_text?: string;
  watermark_color?: string;
  watermark_position?: Exclude<Position, 'attention' | 'entropy'>;
  watermark_margin?: number;
  watermark_opacity?: number;
  watermark_size?: number;
  watermark_tiled?: boolean;
  /**
   * Renditions: every output of the upload, each complete (the request's other fields under
   * each entry's); the conversion's own options are the first's. Absent: one output.
   */
  outputs?: ConversionOptions[];
}
