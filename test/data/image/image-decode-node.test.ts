// Node image decoding: WebP (libwebp wasm) against the pixels encoded, PNG against pngjs' input, JPEG
// against Pillow's decode of committed files (test/fixtures/jpeg) and, for EXIF orientations, the
// stored pixels rearranged by maps written here from the EXIF table; and the typed errors for corrupt,
// truncated and unsupported files.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../../src/data/errors.ts';
import { decodeImage } from '../../../src/data/image/image-decode-node.ts';
import { decodeJpeg } from '../../../src/data/image/jpeg-decode.ts';
import { encodeWebp } from './webp-encoder.ts';

function pixels(width: number, height: number, opaque: boolean, smooth = false): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      // Smooth gradients (lossy codecs keep them close) with a few sharp values.
      data[i] = (x * 255) / Math.max(1, width - 1);
      data[i + 1] = (y * 255) / Math.max(1, height - 1);
      data[i + 2] = smooth ? ((x + y) * 255) / (width + height) : (x + y) % 2 === 0 ? 40 : 200;
      data[i + 3] = opaque ? 255 : (x * 37 + y * 11) % 256;
    }
  }
  return data;
}

/** The JPEG with an APP1 Exif segment after SOI whose IFD0 holds only Orientation (big-endian TIFF). */
function withOrientation(jpg: Uint8Array, orientation: number): Uint8Array {
  const payload = [
    ...Array.from('Exif\0\0', (c) => c.charCodeAt(0)),
    ...[0x4d, 0x4d, 0, 42, 0, 0, 0, 8], // byte order, 42, IFD0 at offset 8
    ...[0, 1], // one entry: tag 0x0112, type SHORT, count 1, the value in the first 2 of 4 bytes
    ...[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0],
    ...[0, 0, 0, 0], // no next IFD
  ];
  const length = payload.length + 2;
  return new Uint8Array([0xff, 0xd8, 0xff, 0xe1, length >> 8, length & 0xff, ...payload, ...jpg.subarray(2)]);
}

/**
 * Where the stored pixel (x, y) of a w x h image is shown under each EXIF orientation, written from
 * the EXIF 2.3 table as forward maps (the decoder maps the other way, displayed to stored).
 */
const SHOWN_AT: Record<number, (x: number, y: number, w: number, h: number) => [number, number]> = {
  1: (x, y) => [x, y],
  2: (x, y, w) => [w - 1 - x, y], // mirror left-right
  3: (x, y, w, h) => [w - 1 - x, h - 1 - y], // rotate 180
  4: (x, y, _w, h) => [x, h - 1 - y], // mirror top-bottom
  5: (x, y) => [y, x], // transpose
  6: (x, y, _w, h) => [h - 1 - y, x], // rotate 90 clockwise: the stored left column becomes the top row
  7: (x, y, w, h) => [h - 1 - y, w - 1 - x], // transverse
  8: (x, y, w) => [y, w - 1 - x], // rotate 90 counter-clockwise
};

async function problemOf(bytes: Uint8Array): Promise<string> {
  const e = await decodeImage(bytes, 'f').catch((x: unknown) => x);
  expect(e).toBeInstanceOf(ImageDecodeError);
  return (e as ImageDecodeError).problem;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('decodeImage (Node)', () => {
  it('decodes lossless WebP to exactly the pixels encoded, alpha included', async () => {
    for (const [w, h] of [
      [1, 1],
      [33, 7],
      [7, 129],
    ] as const) {
      const src = pixels(w, h, false);
      const image = await decodeImage(await encodeWebp(src, w, h, { lossless: true }), 'a.webp');
      expect([image.width, image.height]).toEqual([w, h]);
      expect(image.data).toEqual(src);
    }
  });

  it('decodes lossy WebP close to the pixels encoded', async () => {
    const [w, h] = [64, 48];
    const src = pixels(w, h, true, true);
    const image = await decodeImage(await encodeWebp(src, w, h, { lossless: false, quality: 95 }), 'a.webp');
    expect([image.width, image.height]).toEqual([w, h]);
    let sum = 0;
    for (let i = 0; i < src.length; i++) sum += Math.abs((src[i] as number) - (image.data[i] as number));
    // Smooth gradients at quality 95: measured mean 0.81 and max 6 levels (libwebp 1.x via @jsquash).
    expect(sum / src.length).toBeLessThan(2);
    expect(maxAbsDiff(src, image.data)).toBeLessThanOrEqual(10);
    for (let i = 3; i < src.length; i += 4) expect(image.data[i]).toBe(255);
  });

  it('keeps decoded images independent of later decodes', async () => {
    const a = pixels(5, 5, false);
    const b = new Uint8Array(a.length).fill(9);
    const first = await decodeImage(await encodeWebp(a, 5, 5, { lossless: true }), 'a.webp');
    await decodeImage(await encodeWebp(b, 5, 5, { lossless: true }), 'b.webp');
    expect(first.data).toEqual(a);
  });

  it('decodes PNG exactly and JPEG as Pillow does', async () => {
    const src = pixels(33, 17, false);
    const png = new PNG({ width: 33, height: 17 });
    png.data = Buffer.from(src);
    const fromPng = await decodeImage(new Uint8Array(PNG.sync.write(png)), 'a.png');
    expect(fromPng).toEqual({ width: 33, height: 17, data: src });

    const fixtures = new URL('../../fixtures/jpeg/', import.meta.url).pathname;
    const expected = JSON.parse(readFileSync(`${fixtures}expected.json`, 'utf8')).files as Record<
      string,
      { width: number; height: number; sha256: string }
    >;
    for (const name of [
      'q90-420-edges-64x48.jpg',
      'progressive-420-noise-q50-33x65.jpg',
      'gray-q85-40x30.jpg',
    ]) {
      const want = expected[name] as { width: number; height: number; sha256: string };
      const img = await decodeImage(readFileSync(`${fixtures}${name}`), name);
      expect([img.width, img.height]).toEqual([want.width, want.height]);
      const rgb = img.data.filter((_, i) => i % 4 !== 3);
      expect(createHash('sha256').update(rgb).digest('hex')).toBe(want.sha256);
    }
  });

  it('shows a JPEG as its EXIF orientation says (1-8), at the displayed size', async () => {
    const [w, h] = [40, 24];
    const jpg = new Uint8Array(jpeg.encode({ data: pixels(w, h, true), width: w, height: h }, 90).data);
    const stored = decodeJpeg(jpg).data;
    for (let o = 1; o <= 8; o++) {
      const [dw, dh] = o >= 5 ? [h, w] : [w, h];
      const expected = new Uint8Array(w * h * 4);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const [u, v] = (SHOWN_AT[o] as (typeof SHOWN_AT)[1])(x, y, w, h);
          expected.set(stored.subarray((y * w + x) * 4, (y * w + x + 1) * 4), (v * dw + u) * 4);
        }
      }
      const image = await decodeImage(withOrientation(jpg, o), `o${o}.jpg`);
      expect([image.width, image.height], `orientation ${o}`).toEqual([dw, dh]);
      expect(maxAbsDiff(image.data, expected), `orientation ${o}`).toBe(0);
    }
  });

  it('throws corrupt for damaged WebP and truncated files', async () => {
    const good = await encodeWebp(pixels(40, 30, false), 40, 30, { lossless: true });
    const damaged = good.slice();
    for (let i = 30; i < damaged.length; i++) damaged[i] = (i * 13) & 0xff;
    expect(await problemOf(damaged)).toBe('corrupt');
    expect(await problemOf(good.subarray(0, good.length >> 1))).toBe('corrupt');
    expect(await problemOf(good.subarray(0, 22))).toBe('corrupt');
    const lossy = await encodeWebp(pixels(40, 30, true), 40, 30, { lossless: false });
    expect(await problemOf(lossy.subarray(0, 40))).toBe('corrupt');
    const png = new PNG({ width: 8, height: 8 });
    expect(await problemOf(new Uint8Array(PNG.sync.write(png)).subarray(0, 40))).toBe('corrupt');
  });

  it('throws unsupported for GIF, BMP, animated WebP and unknown bytes', async () => {
    const bytes = (...parts: (number[] | string)[]) =>
      new Uint8Array(
        parts.flatMap((p) => (typeof p === 'string' ? Array.from(p, (c) => c.charCodeAt(0)) : p)),
      );
    expect(await problemOf(bytes('GIF89a', [4, 0, 4, 0, 0, 0, 0]))).toBe('unsupported');
    expect(await problemOf(bytes('BM', new Array(12).fill(0), [40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]))).toBe(
      'unsupported',
    );
    // VP8X with the animation flag (0x02), canvas 4x4.
    const animated = bytes(
      'RIFF',
      [22, 0, 0, 0],
      'WEBPVP8X',
      [10, 0, 0, 0],
      [0x02, 0, 0, 0],
      [3, 0, 0, 3, 0, 0],
    );
    expect(await problemOf(animated)).toBe('unsupported');
    expect(await problemOf(bytes('plain text'))).toBe('unsupported');
  });
});
