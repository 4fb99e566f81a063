// The Qwen2-VL / Qwen2.5-VL image processor, as HF transformers' (slow, PIL-based) Qwen2VLImageProcessor
// does it: smart_resize, PIL bicubic resize on uint8, rescale, CLIP normalisation, repetition to the
// temporal patch size, and patchify into `pixel_values` rows in merge-block order.

import { ImageProcessorError } from './errors.ts';

/** An 8-bit image, row-major, RGBA (4 bytes a pixel) or RGB (3 bytes a pixel). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export interface ImageProcessorOptions {
  minPixels: number;
  maxPixels: number;
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
  imageMean: readonly [number, number, number];
  imageStd: readonly [number, number, number];
}

/** What the processor gives for one still image. */
export interface ProcessedImage {
  /** rows x cols values, row-major; rows = t*h*w, cols = 3 * temporalPatchSize * patchSize^2. */
  pixelValues: Float32Array;
  rows: number;
  cols: number;
  /** [grid_t, grid_h, grid_w] on the patch grid (`image_grid_thw`). */
  gridThw: [number, number, number];
  /** The smart_resize output size the model sees (boxes of Qwen2.5-VL are in these pixels). */
  resizedHeight: number;
  resizedWidth: number;
}

/** The published Qwen2-VL / Qwen2.5-VL preprocessor_config.json values. */
export const QWEN_VL_IMAGE_DEFAULTS: ImageProcessorOptions = {
  minPixels: 3136,
  maxPixels: 12845056,
  patchSize: 14,
  temporalPatchSize: 2,
  mergeSize: 2,
  imageMean: [0.48145466, 0.4578275, 0.40821073],
  imageStd: [0.26862954, 0.26130258, 0.27577711],
};

const MAX_ASPECT_RATIO = 200;

function positiveInt(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ImageProcessorError(
      `preprocessor_config.json: ${field} must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function triple(value: unknown, field: string): [number, number, number] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number')) {
    throw new ImageProcessorError(
      `preprocessor_config.json: ${field} must be a list of 3 numbers, got ${JSON.stringify(value)}`,
    );
  }
  return [value[0], value[1], value[2]];
}

/**
 * Options from a parsed preprocessor_config.json. `min_pixels` / `max_pixels` win over the newer
 * `size: {shortest_edge, longest_edge}` form (as in transformers); missing fields take the defaults.
 */
export function imageOptionsFromConfig(config: Record<string, unknown>): ImageProcessorOptions {
  const d = QWEN_VL_IMAGE_DEFAULTS;
  const size = (typeof config.size === 'object' && config.size !== null ? config.size : {}) as Record<
    string,
    unknown
  >;
  const options: ImageProcessorOptions = {
    minPixels:
      positiveInt(config.min_pixels, 'min_pixels') ??
      positiveInt(size.shortest_edge, 'size.shortest_edge') ??
      d.minPixels,
    maxPixels:
      positiveInt(config.max_pixels, 'max_pixels') ??
      positiveInt(size.longest_edge, 'size.longest_edge') ??
      d.maxPixels,
    patchSize: positiveInt(config.patch_size, 'patch_size') ?? d.patchSize,
    temporalPatchSize: positiveInt(config.temporal_patch_size, 'temporal_patch_size') ?? d.temporalPatchSize,
    mergeSize: positiveInt(config.merge_size, 'merge_size') ?? d.mergeSize,
    imageMean: triple(config.image_mean, 'image_mean') ?? d.imageMean,
    imageStd: triple(config.image_std, 'image_std') ?? d.imageStd,
  };
  validateOptions(options);
  return options;
}

function validateOptions(o: ImageProcessorOptions): void {
  if (o.minPixels > o.maxPixels) {
    throw new ImageProcessorError(`min_pixels (${o.minPixels}) is larger than max_pixels (${o.maxPixels})`);
  }
  for (const [name, v] of [
    ['patch_size', o.patchSize],
    ['temporal_patch_size', o.temporalPatchSize],
    ['merge_size', o.mergeSize],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ImageProcessorError(`${name} must be a positive integer`);
  }
  if (o.imageStd.some((s) => s === 0)) throw new ImageProcessorError('image_std must not contain 0');
}

/** Python's round(): to the nearest integer, halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The model-input size [height, width] for an image: both multiples of `factor`, area within
 * [minPixels, maxPixels], aspect ratio kept as closely as possible (transformers' smart_resize).
 */
export function smartResize(
  height: number,
  width: number,
  factor = 28,
  minPixels = QWEN_VL_IMAGE_DEFAULTS.minPixels,
  maxPixels = QWEN_VL_IMAGE_DEFAULTS.maxPixels,
): [number, number] {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new ImageProcessorError(`image size must be positive integers, got ${width}x${height}`);
  }
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new ImageProcessorError(
      `aspect ratio ${ratio.toFixed(1)}:1 of a ${width}x${height} image is above ${MAX_ASPECT_RATIO}:1; ` +
        'crop or pad the image first',
    );
  }
  let h = roundHalfEven(height / factor) * factor;
  let w = roundHalfEven(width / factor) * factor;
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return [h, w];
}

/** The packed RGB bytes of an RGB or RGBA image (alpha dropped, as PIL's convert("RGB") does). */
export function toRgb(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageProcessorError(`image size must be positive integers, got ${width}x${height}`);
  }
  const n = width * height;
  if (data.length === n * 3)
    return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (data.length !== n * 4) {
    throw new ImageProcessorError(
      `a ${width}x${height} image needs ${n * 3} (RGB) or ${n * 4} (RGBA) bytes, got ${data.length}; ` +
        'pass decoded pixels, row-major',
    );
  }
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4]!;
    rgb[i * 3 + 1] = data[i * 4 + 1]!;
    rgb[i * 3 + 2] = data[i * 4 + 2]!;
  }
  return rgb;
}

// PIL's 8-bit resampling works in fixed point: coefficients scaled by 2^22, rounded to integers.
const PRECISION_BITS = 32 - 8 - 2;
const BICUBIC_SUPPORT = 2;

/** PIL's bicubic kernel, a = -0.5. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients {
  /** Per output index: first input index and count of taps. */
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `ksize` a output index. */
  weights: Int32Array;
  ksize: number;
}

/** PIL's precompute_coeffs + normalize_coeffs_8bpc for one axis (support widened when shrinking). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      sum += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      weights[xx * ksize + x] = Math.trunc(
        w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS),
      );
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, ksize };
}

function clip8(acc: number): number {
  if (acc >= 1 << (PRECISION_BITS + 8)) return 255;
  if (acc <= 0) return 0;
  return acc >> PRECISION_BITS;
}

/**
 * Resize packed RGB bytes exactly as PIL's `Image.resize(size, BICUBIC)` does for an RGB image:
 * a horizontal pass to an intermediate uint8 image, then a vertical pass; a pass is skipped when
 * that axis keeps its size.
 */
export function resizeBicubic(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (rgb.length !== width * height * 3) {
    throw new ImageProcessorError(`resize: expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  }
  const half = 1 << (PRECISION_BITS - 1);
  let src = rgb;
  let w = width;
  if (outWidth !== width) {
    const c = coefficients(width, outWidth);
    const dst = new Uint8Array(outWidth * height * 3);
    for (let y = 0; y < height; y++) {
      const row = y * width * 3;
      for (let xx = 0; xx < outWidth; xx++) {
        const x0 = c.start[xx]!;
        const n = c.count[xx]!;
        const kb = xx * c.ksize;
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let x = 0; x < n; x++) {
          const wt = c.weights[kb + x]!;
          const p = row + (x0 + x) * 3;
          s0 += src[p]! * wt;
          s1 += src[p + 1]! * wt;
          s2 += src[p + 2]! * wt;
        }
        const o = (y * outWidth + xx) * 3;
        dst[o] = clip8(s0);
        dst[o + 1] = clip8(s1);
        dst[o + 2] = clip8(s2);
      }
    }
    src = dst;
    w = outWidth;
  }
  if (outHeight !== height) {
    const c = coefficients(height, outHeight);
    const dst = new Uint8Array(w * outHeight * 3);
    const stride = w * 3;
    for (let yy = 0; yy < outHeight; yy++) {
      const y0 = c.start[yy]!;
      const n = c.count[yy]!;
      const kb = yy * c.ksize;
      for (let i = 0; i < stride; i++) {
        let s = half;
        for (let y = 0; y < n; y++) s += src[(y0 + y) * stride + i]! * c.weights[kb + y]!;
        dst[yy * stride + i] = clip8(s);
      }
    }
    src = dst;
  }
  return src === rgb ? rgb.slice() : src;
}

/**
 * Preprocess one still image into Qwen-VL `pixel_values` rows and its `image_grid_thw`.
 * Numerics follow transformers: PIL bicubic on uint8, x/255 in float64 rounded to float32, then
 * (x - mean) / std in float32.
 */
export function processImage(image: RgbImage, options: Partial<ImageProcessorOptions> = {}): ProcessedImage {
  const o: ImageProcessorOptions = { ...QWEN_VL_IMAGE_DEFAULTS, ...options };
  validateOptions(o);
  const rgb = toRgb(image);
  const ps = o.patchSize;
  const ms = o.mergeSize;
  const tps = o.temporalPatchSize;
  const [outH, outW] = smartResize(image.height, image.width, ps * ms, o.minPixels, o.maxPixels);
  const resized = resizeBicubic(rgb, image.width, image.height, outW, outH);

  // Normalised planes, channel-first, float32 arithmetic as numpy does it.
  const plane = outH * outW;
  const norm = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(o.imageMean[c]!);
    const std = Math.fround(o.imageStd[c]!);
    for (let i = 0; i < plane; i++) {
      const x = Math.fround(resized[i * 3 + c]! * (1 / 255));
      norm[c * plane + i] = Math.fround(x - mean) / std;
    }
  }

  const gridT = 1;
  const gridH = outH / ps;
  const gridW = outW / ps;
  const rows = gridT * gridH * gridW;
  const cols = 3 * tps * ps * ps;
  const out = new Float32Array(rows * cols);
  // Rows in (t, block row, block col, row in block, col in block) order; values in (c, frame, py, px).
  let r = 0;
  for (let bh = 0; bh < gridH / ms; bh++) {
    for (let bw = 0; bw < gridW / ms; bw++) {
      for (let mh = 0; mh < ms; mh++) {
        for (let mw = 0; mw < ms; mw++) {
          const y0 = (bh * ms + mh) * ps;
          const x0 = (bw * ms + mw) * ps;
          let v = r * cols;
          for (let c = 0; c < 3; c++) {
            for (let f = 0; f < tps; f++) {
              for (let py = 0; py < ps; py++) {
                const src = c * plane + (y0 + py) * outW + x0;
                out.set(norm.subarray(src, src + ps), v);
                v += ps;
              }
            }
          }
          r++;
        }
      }
    }
  }
  return {
    pixelValues: out,
    rows,
    cols,
    gridThw: [gridT, gridH, gridW],
    resizedHeight: outH,
    resizedWidth: outW,
  };
}
