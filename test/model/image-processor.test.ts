// The Qwen-VL image processor against (1) real Pillow + numpy output of the HF pipeline, stored as
// hashes in test/fixtures/qwen2vl-image/expected.json (recipe: scripts/make-qwen2vl-image-fixture.py), (2) a float64
// re-implementation of PIL's antialiased bicubic written here, and (3) hand-derived values.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ImageProcessorError } from '../../src/model/errors.ts';
import {
  imageOptionsFromConfig,
  processImage,
  QWEN_VL_IMAGE_DEFAULTS,
  resizeBicubic,
  smartResize,
} from '../../src/model/image-processor.ts';

interface ImageCase {
  name: string;
  width: number;
  height: number;
  pattern: 'noise' | 'smooth';
  min_pixels: number;
  max_pixels: number;
  resized_height: number;
  resized_width: number;
  grid_thw: [number, number, number];
  resized_sha256: string;
  pixel_values_sha256: string;
  pixel_values_row0_head: number[];
  pixel_values_last_row_tail: number[];
}
const expected = JSON.parse(
  readFileSync(new URL('../fixtures/qwen2vl-image/expected.json', import.meta.url), 'utf8'),
) as { images: ImageCase[]; smart_resize: number[][] };

/** The fixture's synthetic images (same formulas as the recipe), RGB or RGBA with junk alpha. */
function pattern(kind: string, w: number, h: number, channels: 3 | 4): Uint8Array {
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const v =
          kind === 'noise'
            ? ((x * 131 + y * 251 + c * 17) ^ (x * y)) & 255
            : (x * 3 + y * 2 + c * 60 + ((Math.floor(x / 7) + Math.floor(y / 5)) % 2) * 40) % 256;
        out[(y * w + x) * channels + c] = v;
      }
      if (channels === 4) out[(y * w + x) * 4 + 3] = (x * 7 + y) & 255;
    }
  return out;
}

const sha256 = (bytes: Uint8Array): string =>
  createHash('sha256')
    .update(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    .digest('hex');

/** PIL's bicubic (a = -0.5, support widened by the shrink factor), in float64, one axis at a time. */
function referenceResize(rgb: Uint8Array, w: number, h: number, ow: number, oh: number): Uint8Array {
  const cubic = (x: number): number => {
    const t = Math.abs(x);
    if (t < 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
    if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
    return 0;
  };
  // weights[o][i] for all input indexes, zero outside the window PIL uses.
  const matrix = (n: number, m: number): number[][] => {
    const scale = n / m;
    const fs = Math.max(1, scale);
    const support = 2 * fs;
    return Array.from({ length: m }, (_, o) => {
      const center = (o + 0.5) * scale;
      const lo = Math.max(0, Math.trunc(center - support + 0.5));
      const hi = Math.min(n, Math.trunc(center + support + 0.5));
      const row = Array.from({ length: n }, (_, i) =>
        i >= lo && i < hi ? cubic((i + 0.5 - center) / fs) : 0,
      );
      const s = row.reduce((a, b) => a + b, 0);
      return row.map((v) => v / s);
    });
  };
  const q = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));
  let cur = rgb;
  let cw = w;
  if (ow !== w) {
    const m = matrix(w, ow);
    const next = new Uint8Array(ow * h * 3);
    for (let y = 0; y < h; y++)
      for (let o = 0; o < ow; o++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let i = 0; i < w; i++) if (m[o]![i]) s += m[o]![i]! * cur[(y * w + i) * 3 + c]!;
          next[(y * ow + o) * 3 + c] = q(s);
        }
    cur = next;
    cw = ow;
  }
  if (oh !== h) {
    const m = matrix(h, oh);
    const next = new Uint8Array(cw * oh * 3);
    for (let o = 0; o < oh; o++)
      for (let x = 0; x < cw * 3; x++) {
        let s = 0;
        for (let i = 0; i < h; i++) if (m[o]![i]) s += m[o]![i]! * cur[i * cw * 3 + x]!;
        next[o * cw * 3 + x] = q(s);
      }
    cur = next;
  }
  return cur;
}

describe('smartResize', () => {
  it('matches transformers smart_resize (run in Python) on a grid of sizes and budgets', () => {
    expect(expected.smart_resize.length).toBeGreaterThan(100);
    for (const [h, w, mn, mx, rh, rw] of expected.smart_resize) {
      expect(smartResize(h!, w!, 28, mn, mx), `${h}x${w} [${mn}, ${mx}]`).toEqual([rh, rw]);
    }
  });

  it('rounds halves to even like Python (70 -> 56, 42 -> 56, 98 -> 112)', () => {
    expect(smartResize(70, 98)).toEqual([56, 112]);
    expect(smartResize(42, 98)).toEqual([56, 112]);
  });

  it('applies min_pixels and max_pixels (hand-derived)', () => {
    expect(smartResize(10, 10)).toEqual([56, 56]);
    // 196x308 > 15680: beta = sqrt(60000 / 15680); floor(200/beta/28) = 3, floor(300/beta/28) = 5.
    expect(smartResize(200, 300, 28, 3136, 15680)).toEqual([84, 140]);
  });

  it('rejects an aspect ratio above 200 and non-positive sizes', () => {
    expect(() => smartResize(1, 201)).toThrow(ImageProcessorError);
    expect(() => smartResize(3000, 14)).toThrow(/aspect ratio/);
    expect(() => smartResize(0, 10)).toThrow(ImageProcessorError);
    expect(smartResize(1, 200)).toEqual([28, 812]);
  });
});

describe('resizeBicubic', () => {
  it('is the identity at the same size and keeps a constant image constant', () => {
    const img = pattern('noise', 9, 5, 3);
    expect(resizeBicubic(img, 9, 5, 9, 5)).toEqual(img);
    const flat = new Uint8Array(13 * 7 * 3).fill(200);
    expect(Array.from(new Set(resizeBicubic(flat, 13, 7, 28, 3)))).toEqual([200]);
    const white = new Uint8Array(40 * 40 * 3).fill(255);
    expect(Array.from(new Set(resizeBicubic(white, 40, 40, 7, 11)))).toEqual([255]);
  });

  it('halves a 4-pixel row with the widened kernel (hand-derived)', () => {
    // Output 0 has centre 1.0, support 4: taps x = 0..3 at (x + 0.5 - 1) / 2 = -0.25, 0.25, 0.75, 1.25,
    // weights 0.8671875, 0.8671875, 0.2265625, -0.0703125 (sum 1.890625). 255 * 0.8671875 / 1.890625 = 116.96.
    const row = (a: number[]): Uint8Array => new Uint8Array(a.flatMap((v) => [v, v, v]));
    expect(Array.from(resizeBicubic(row([255, 0, 0, 0]), 4, 1, 2, 1))).toEqual([117, 117, 117, 0, 0, 0]);
    expect(Array.from(resizeBicubic(row([0, 0, 0, 255]), 4, 1, 2, 1))).toEqual([0, 0, 0, 117, 117, 117]);
  });

  it('agrees with a float64 PIL bicubic within 1 (fixed-point rounding), nearly always exactly', () => {
    const shapes: [number, number, number, number][] = [
      [100, 77, 112, 84],
      [37, 23, 84, 56],
      [300, 200, 140, 84],
      [61, 45, 28, 28],
      [20, 90, 56, 28],
    ];
    for (const [w, h, ow, oh] of shapes) {
      const img = pattern('noise', w, h, 3);
      const ours = resizeBicubic(img, w, h, ow, oh);
      const ref = referenceResize(img, w, h, ow, oh);
      let off = 0;
      for (let i = 0; i < ours.length; i++) {
        const d = Math.abs(ours[i]! - ref[i]!);
        expect(d).toBeLessThanOrEqual(1);
        if (d) off++;
      }
      expect(off / ours.length, `${w}x${h}->${ow}x${oh}`).toBeLessThan(0.01);
    }
  });
});

describe('processImage against Pillow + numpy (HF slow processor pipeline)', () => {
  for (const [index, c] of expected.images.entries()) {
    it(`${c.name} (${c.width}x${c.height} -> ${c.resized_width}x${c.resized_height})`, () => {
      const channels = index % 2 === 0 ? 4 : 3; // every other case as RGBA: alpha must be ignored
      const data = pattern(c.pattern, c.width, c.height, channels);
      const image = {
        width: c.width,
        height: c.height,
        data: channels === 4 ? new Uint8ClampedArray(data) : data,
      };
      const out = processImage(image, { minPixels: c.min_pixels, maxPixels: c.max_pixels });
      expect(out.gridThw).toEqual(c.grid_thw);
      expect([out.resizedHeight, out.resizedWidth]).toEqual([c.resized_height, c.resized_width]);
      const [t, gh, gw] = c.grid_thw;
      expect(out.rows).toBe(t * gh * gw);
      expect(out.cols).toBe(1176);
      expect(out.pixelValues.length).toBe(out.rows * out.cols);

      const rgb = pattern(c.pattern, c.width, c.height, 3);
      expect(sha256(resizeBicubic(rgb, c.width, c.height, c.resized_width, c.resized_height))).toBe(
        c.resized_sha256,
      );
      expect(Array.from(out.pixelValues.subarray(0, 6))).toEqual(c.pixel_values_row0_head);
      expect(Array.from(out.pixelValues.subarray(out.pixelValues.length - 6))).toEqual(
        c.pixel_values_last_row_tail,
      );
      expect(sha256(new Uint8Array(out.pixelValues.buffer))).toBe(c.pixel_values_sha256);
    });
  }

  it('lays rows out by 2x2 merge block and values by (channel, frame, py, px) (hand-derived)', () => {
    // A 56x56 image needs no resize (56 = 2 * 28); each pixel encodes its own coordinates.
    const w = 56;
    const data = new Uint8Array(w * w * 3);
    for (let y = 0; y < w; y++)
      for (let x = 0; x < w; x++) {
        data[(y * w + x) * 3] = y;
        data[(y * w + x) * 3 + 1] = x;
        data[(y * w + x) * 3 + 2] = (y + x) & 255;
      }
    const { pixelValues: pv, gridThw } = processImage({ width: w, height: w, data });
    expect(gridThw).toEqual([1, 4, 4]);
    const { imageMean: m, imageStd: s } = QWEN_VL_IMAGE_DEFAULTS;
    const unnorm = (v: number, c: number): number => Math.round((v * s[c]! + m[c]!) * 255) + 0;
    // Row r: block (r >> 2) of the 2x2 block grid (2 per row), then (row, col) inside the block.
    for (let r = 0; r < 16; r++) {
      const block = r >> 2;
      const py0 = (Math.floor(block / 2) * 2 + ((r >> 1) & 1)) * 14;
      const px0 = ((block % 2) * 2 + (r & 1)) * 14;
      for (const [c, f, py, px] of [
        [0, 0, 0, 0],
        [0, 1, 3, 5],
        [1, 0, 13, 13],
        [2, 1, 7, 2],
      ] as const) {
        const v = pv[r * 1176 + ((c * 2 + f) * 14 + py) * 14 + px]!;
        const want = c === 0 ? py0 + py : c === 1 ? px0 + px : (py0 + py + px0 + px) & 255;
        expect(unnorm(v, c), `row ${r} c${c} f${f} (${py},${px})`).toBe(want);
      }
    }
  });

  it('reads options from preprocessor_config.json and rejects bad images', () => {
    const o = imageOptionsFromConfig({ min_pixels: 100, max_pixels: 5000, patch_size: 14, merge_size: 2 });
    expect(o.minPixels).toBe(100);
    expect(o.maxPixels).toBe(5000);
    expect(o.imageStd).toEqual(QWEN_VL_IMAGE_DEFAULTS.imageStd);
    expect(imageOptionsFromConfig({ size: { shortest_edge: 784, longest_edge: 9000 } }).maxPixels).toBe(9000);
    expect(() => imageOptionsFromConfig({ patch_size: -1 })).toThrow(ImageProcessorError);
    expect(() => processImage({ width: 10, height: 10, data: new Uint8Array(299) })).toThrow(
      ImageProcessorError,
    );
  });
});
