// Chroma upsampling and colour conversion of decoded JPEG component planes, as libjpeg-turbo does
// them by default (do_fancy_upsampling on, no merged upsampler): the triangle ("fancy") filters for
// 2x1, 1x2 and 2x2 ratios with libjpeg's alternating rounding biases and edge replication, plain
// replication for other integral ratios, and jdcolor.c's 16-bit fixed-point YCbCr -> RGB tables.

/** One decoded component: `width` x `height` real samples in a plane `stride` samples wide. */
export interface ComponentPlane {
  samples: Uint8Array;
  stride: number;
  width: number;
  height: number;
  /** Sampling factors of the component and the frame's maxima. */
  h: number;
  v: number;
  hMax: number;
  vMax: number;
}

/** Thrown for sampling ratios libjpeg cannot upsample either (non-integral ones). */
export class FractionalSamplingError extends Error {
  override name = 'FractionalSamplingError';
}

/**
 * The component at full image size (`width` x `height`, row-major, stride `width`). Picks the method
 * the way libjpeg's upsampler does: full size, h2v1 (fancy when more than 2 samples wide), h1v2
 * (always fancy), h2v2 (fancy when more than 2 samples wide), else integral replication.
 */
export function upsampleComponent(plane: ComponentPlane, width: number, height: number): Uint8Array {
  const { h, v, hMax, vMax } = plane;
  if (h === hMax && v === vMax) return copyFullSize(plane, width, height);
  if (h * 2 === hMax && v === vMax) {
    return plane.width > 2 ? fancyH2V1(plane, width, height) : replicate(plane, width, height, 2, 1);
  }
  if (h === hMax && v * 2 === vMax) return fancyH1V2(plane, width, height);
  if (h * 2 === hMax && v * 2 === vMax) {
    return plane.width > 2 ? fancyH2V2(plane, width, height) : replicate(plane, width, height, 2, 2);
  }
  if (hMax % h === 0 && vMax % v === 0) return replicate(plane, width, height, hMax / h, vMax / v);
  throw new FractionalSamplingError(`sampling factors ${h}x${v} of a ${hMax}x${vMax} frame`);
}

function copyFullSize(plane: ComponentPlane, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = plane.samples.subarray(y * plane.stride, y * plane.stride + width);
    out.set(row, y * width);
  }
  return out;
}

function replicate(plane: ComponentPlane, width: number, height: number, hx: number, vx: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const { samples, stride } = plane;
  for (let y = 0; y < height; y++) {
    const inRow = Math.floor(y / vx) * stride;
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = samples[inRow + Math.floor(x / hx)]!;
  }
  return out;
}

/** Horizontal triangle filter: outputs at 1/4 and 3/4 between input centres, biases 1 and 2. */
function fancyH2V1(plane: ComponentPlane, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const { samples, stride } = plane;
  const last = plane.width - 1;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      const i = x >> 1;
      const near = samples[row + i]! * 3;
      out[o + x] =
        (x & 1) === 0
          ? (near + samples[row + (i > 0 ? i - 1 : 0)]! + 1) >> 2
          : (near + samples[row + (i < last ? i + 1 : last)]! + 2) >> 2;
    }
  }
  return out;
}

/** Vertical triangle filter: upper output row bias 1, lower bias 2; edge rows replicated. */
function fancyH1V2(plane: ComponentPlane, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const { samples, stride } = plane;
  const lastRow = plane.height - 1;
  for (let y = 0; y < height; y++) {
    const r = y >> 1;
    const upper = (y & 1) === 0;
    const other = upper ? (r > 0 ? r - 1 : 0) : r < lastRow ? r + 1 : lastRow;
    const bias = upper ? 1 : 2;
    const near = r * stride;
    const far = other * stride;
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = (samples[near + x]! * 3 + samples[far + x]! + bias) >> 2;
  }
  return out;
}

/** 2-D triangle filter (9/16, 3/16, 3/16, 1/16): column sums, then biases 8 and 7 across. */
function fancyH2V2(plane: ComponentPlane, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const { samples, stride } = plane;
  const lastRow = plane.height - 1;
  const lastCol = plane.width - 1;
  const colsum = new Int32Array(plane.width);
  for (let y = 0; y < height; y++) {
    const r = y >> 1;
    const other = (y & 1) === 0 ? (r > 0 ? r - 1 : 0) : r < lastRow ? r + 1 : lastRow;
    const near = r * stride;
    const far = other * stride;
    for (let i = 0; i <= lastCol; i++) colsum[i] = samples[near + i]! * 3 + samples[far + i]!;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      const i = x >> 1;
      const here = colsum[i]! * 3;
      out[o + x] =
        (x & 1) === 0
          ? (here + colsum[i > 0 ? i - 1 : 0]! + 8) >> 4
          : (here + colsum[i < lastCol ? i + 1 : lastCol]! + 7) >> 4;
    }
  }
  return out;
}

// jdcolor.c's tables: 16 fractional bits, FIX(x) = round(x * 2^16), rounding folded into the tables.
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (91881 * x + ONE_HALF) >> SCALEBITS; // FIX(1.40200)
  CB_B[i] = (116130 * x + ONE_HALF) >> SCALEBITS; // FIX(1.77200)
  CR_G[i] = -46802 * x; // -FIX(0.71414)
  CB_G[i] = -22554 * x + ONE_HALF; // -FIX(0.34414), plus the rounding of the green sum
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Full-size Y, Cb, Cr planes to RGBA (alpha 255). */
export function yccToRgba(y: Uint8Array, cb: Uint8Array, cr: Uint8Array, out: Uint8Array): void {
  for (let i = 0, o = 0; i < y.length; i++, o += 4) {
    const l = y[i]!;
    const b = cb[i]!;
    const r = cr[i]!;
    out[o] = clamp(l + CR_R[r]!);
    out[o + 1] = clamp(l + ((CB_G[b]! + CR_G[r]!) >> SCALEBITS));
    out[o + 2] = clamp(l + CB_B[b]!);
    out[o + 3] = 255;
  }
}

/** Full-size R, G, B planes (an Adobe transform-0 or 'RGB'-id file) to RGBA. */
export function rgbToRgba(r: Uint8Array, g: Uint8Array, b: Uint8Array, out: Uint8Array): void {
  for (let i = 0, o = 0; i < r.length; i++, o += 4) {
    out[o] = r[i]!;
    out[o + 1] = g[i]!;
    out[o + 2] = b[i]!;
    out[o + 3] = 255;
  }
}

/** A full-size grey plane to RGBA (R = G = B). */
export function greyToRgba(grey: Uint8Array, out: Uint8Array): void {
  for (let i = 0, o = 0; i < grey.length; i++, o += 4) {
    const l = grey[i]!;
    out[o] = l;
    out[o + 1] = l;
    out[o + 2] = l;
    out[o + 3] = 255;
  }
}
