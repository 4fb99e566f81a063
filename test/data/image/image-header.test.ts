// Image sizes from headers: against images made by independent encoders (pngjs, jpeg-js, libwebp via
// @jsquash/webp) and against headers built by hand from the format specs (VP8X, GIF, BMP, EXIF); a
// JPEG's size is its displayed size under the EXIF orientation written into it.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../../src/data/errors.ts';
import { droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { readImageHeader, readImageSize, sniffImageFormat } from '../../../src/data/image/image-header.ts';
import { encodeWebp } from './webp-encoder.ts';

function pixels(width: number, height: number, opaque = true): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) % 251;
  if (opaque) for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return data;
}

function pngBytes(width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(pixels(width, height, false));
  return new Uint8Array(PNG.sync.write(png));
}

function jpegBytes(width: number, height: number): Uint8Array {
  return new Uint8Array(jpeg.encode({ data: pixels(width, height), width, height }, 85).data);
}

/**
 * An APP1 Exif segment (marker, length, payload) whose IFD0 holds Orientation = `orientation` (EXIF
 * 2.3, TIFF 6.0: tag 0x0112, SHORT), padded to `size` bytes of payload when given.
 */
function exifSegment(orientation: number, little = false, size = 0): number[] {
  const u16 = (v: number) => (little ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff]);
  const u32 = (v: number) => (little ? [v, 0, 0, 0] : [0, 0, 0, v]);
  const payload = [
    ...Array.from('Exif\0\0', (c) => c.charCodeAt(0)),
    ...(little ? [0x49, 0x49] : [0x4d, 0x4d]),
    ...u16(42),
    ...u32(8),
    ...u16(1),
    ...[...u16(0x0112), ...u16(3), ...u32(1), ...u16(orientation), 0, 0],
    ...u32(0),
  ];
  while (payload.length < size) payload.push(0);
  const length = payload.length + 2;
  return [0xff, 0xe1, length >> 8, length & 0xff, ...payload];
}

/** The JPEG with `segments` inserted right after its SOI. */
function withSegments(jpg: Uint8Array, ...segments: number[][]): Uint8Array {
  return new Uint8Array([0xff, 0xd8, ...segments.flat(), ...jpg.subarray(2)]);
}

function bytesOf(...parts: (number[] | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) out.push(...(typeof p === 'string' ? Array.from(p, (c) => c.charCodeAt(0)) : p));
  return new Uint8Array(out);
}
const u16le = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const u24le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff];
const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** A VP8X WebP header as the container spec lays it out: canvas width-1 and height-1 as 24-bit LE. */
function vp8xHeader(width: number, height: number, flags = 0x10): Uint8Array {
  return bytesOf(
    'RIFF',
    u32le(22),
    'WEBP',
    'VP8X',
    u32le(10),
    [flags, 0, 0, 0],
    u24le(width - 1),
    u24le(height - 1),
  );
}

/** A BMP file header plus BITMAPINFOHEADER (40 bytes), height signed. */
function bmpHeader(width: number, height: number): Uint8Array {
  const dib = [
    ...u32le(40),
    ...u32le(width),
    ...u32le(height),
    ...u16le(1),
    ...u16le(24),
    ...new Array(24).fill(0),
  ];
  return bytesOf('BM', u32le(54), u32le(0), u32le(54), dib);
}

function fileOf(bytes: Uint8Array, reads: [number, number][] = []) {
  const file = droppedFileFromBytes('x', bytes);
  return {
    size: file.size,
    readRange: (start: number, end: number) => {
      reads.push([start, end]);
      return file.readRange(start, end);
    },
  };
}

describe('readImageHeader', () => {
  it('gives the size of PNGs written by pngjs', () => {
    for (const [w, h] of [
      [1, 1],
      [333, 17],
      [64, 1000],
    ] as const) {
      expect(readImageHeader(pngBytes(w, h))).toEqual({
        kind: 'size',
        format: 'png',
        width: w,
        height: h,
        orientation: 1,
      });
    }
  });

  it('gives the size of JPEGs written by jpeg-js, odd sizes included', () => {
    for (const [w, h] of [
      [1, 1],
      [333, 17],
      [17, 333],
      [640, 480],
    ] as const) {
      expect(readImageHeader(jpegBytes(w, h))).toEqual({
        kind: 'size',
        format: 'jpeg',
        width: w,
        height: h,
        orientation: 1,
      });
    }
  });

  it('gives the displayed size and the EXIF orientation of JPEGs (sides swapped for 5-8)', () => {
    const jpg = jpegBytes(333, 17);
    for (let o = 1; o <= 8; o++) {
      const [width, height] = o >= 5 ? [17, 333] : [333, 17];
      for (const little of [false, true]) {
        expect(readImageHeader(withSegments(jpg, exifSegment(o, little))), `orientation ${o}`).toEqual({
          kind: 'size',
          format: 'jpeg',
          width,
          height,
          orientation: o,
        });
      }
    }
    // A value outside 1-8 is no orientation (PIL and browsers ignore it).
    expect(readImageHeader(withSegments(jpg, exifSegment(9)))).toMatchObject({ width: 333, orientation: 1 });
  });

  it('takes the orientation from the first Exif APP1, after an XMP APP1 and an APP0', () => {
    const jpg = jpegBytes(40, 24);
    const xmpPayload = Array.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>', (c) => c.charCodeAt(0));
    const xmp = [0xff, 0xe1, 0, xmpPayload.length + 2, ...xmpPayload];
    const app0 = [
      0xff,
      0xe0,
      0,
      16,
      ...Array.from('JFIF\0', (c) => c.charCodeAt(0)),
      1,
      1,
      0,
      0,
      1,
      0,
      1,
      0,
      0,
    ];
    expect(readImageHeader(withSegments(jpg, app0, xmp, exifSegment(6), exifSegment(3)))).toMatchObject({
      width: 24,
      height: 40,
      orientation: 6,
    });
  });

  it('skips fill bytes and standalone markers before the frame header', () => {
    const src = jpegBytes(333, 17);
    // SOI, then fill bytes and a TEM marker (FF 01), a spurious RST3, then the rest with extra fill.
    const edited = bytesOf(
      [0xff, 0xd8, 0xff, 0xff, 0xff, 0x01, 0xff, 0xd3, 0xff, 0xff],
      Array.from(src.subarray(2)),
    );
    expect(readImageHeader(edited)).toEqual({
      kind: 'size',
      format: 'jpeg',
      width: 333,
      height: 17,
      orientation: 1,
    });
  });

  it('does not take DHT (C4) or DAC (CC) for a frame header', () => {
    // SOI, DHT segment whose bytes would read as 0x0101 x 0x0202, DAC likewise, then SOF2 7x5.
    const bytes = bytesOf(
      [0xff, 0xd8],
      [0xff, 0xc4, 0x00, 0x08, 0x08, 0x01, 0x01, 0x02, 0x02, 0x00],
      [0xff, 0xcc, 0x00, 0x08, 0x08, 0x01, 0x01, 0x02, 0x02, 0x00],
      [0xff, 0xc2, 0x00, 0x0b, 0x08, 0x00, 0x05, 0x00, 0x07, 0x01, 0x01, 0x11, 0x00],
    );
    expect(readImageHeader(bytes)).toEqual({
      kind: 'size',
      format: 'jpeg',
      width: 7,
      height: 5,
      orientation: 1,
    });
  });

  it('gives the size of lossless (VP8L) and lossy (VP8, VP8X) WebP from libwebp', async () => {
    const cases = [
      { w: 1, h: 1, lossless: true, opaque: false, chunk: 'VP8L' },
      { w: 333, h: 17, lossless: true, opaque: false, chunk: 'VP8L' },
      { w: 333, h: 17, lossless: false, opaque: true, chunk: 'VP8 ' },
      { w: 17, h: 333, lossless: false, opaque: false, chunk: 'VP8X' }, // lossy with alpha
    ];
    for (const c of cases) {
      const bytes = await encodeWebp(pixels(c.w, c.h, c.opaque), c.w, c.h, { lossless: c.lossless });
      expect(String.fromCharCode(...bytes.subarray(12, 16))).toBe(c.chunk);
      expect(readImageHeader(bytes)).toEqual({
        kind: 'size',
        format: 'webp',
        width: c.w,
        height: c.h,
        orientation: 1,
      });
    }
  });

  it('reads hand-built VP8X, GIF and BMP headers', () => {
    expect(readImageHeader(vp8xHeader(4000, 3000))).toEqual({
      kind: 'size',
      format: 'webp',
      width: 4000,
      height: 3000,
      orientation: 1,
    });
    expect(readImageHeader(vp8xHeader(1 << 24, 1))).toEqual({
      kind: 'size',
      format: 'webp',
      width: 1 << 24,
      height: 1,
      orientation: 1,
    });
    const gif = bytesOf('GIF89a', u16le(300), u16le(2), [0xf7, 0, 0]);
    expect(readImageHeader(gif)).toEqual({
      kind: 'size',
      format: 'gif',
      width: 300,
      height: 2,
      orientation: 1,
    });
    expect(readImageHeader(bytesOf('GIF87a', u16le(1), u16le(65535)))).toMatchObject({
      width: 1,
      height: 65535,
    });
    expect(readImageHeader(bmpHeader(640, 480))).toEqual({
      kind: 'size',
      format: 'bmp',
      width: 640,
      height: 480,
      orientation: 1,
    });
    // Negative height: rows stored top-down; the size is its absolute value.
    expect(readImageHeader(bmpHeader(640, -480))).toEqual({
      kind: 'size',
      format: 'bmp',
      width: 640,
      height: 480,
      orientation: 1,
    });
    const core = bytesOf(
      'BM',
      u32le(26),
      u32le(0),
      u32le(26),
      u32le(12),
      u16le(9),
      u16le(4),
      u16le(1),
      u16le(24),
    );
    expect(readImageHeader(core)).toEqual({
      kind: 'size',
      format: 'bmp',
      width: 9,
      height: 4,
      orientation: 1,
    });
  });

  it('says truncated when the header runs past the bytes given', async () => {
    const webp = await encodeWebp(pixels(5, 3), 5, 3, { lossless: true });
    const jpg = jpegBytes(8, 8);
    const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === 0xc0);
    const truncated = [
      pngBytes(4, 4).subarray(0, 20),
      jpg.subarray(0, 3),
      jpg.subarray(0, sof + 5),
      webp.subarray(0, 22),
      vp8xHeader(10, 10).subarray(0, 27),
      bytesOf('GIF89a', u16le(3)),
      bmpHeader(3, 3).subarray(0, 20),
    ];
    const formats = truncated.map((b) => readImageHeader(b));
    expect(formats).toEqual(
      ['png', 'jpeg', 'jpeg', 'webp', 'webp', 'gif', 'bmp'].map((format) => ({ kind: 'truncated', format })),
    );
  });

  it('says corrupt for a bad IHDR, a zero size or a bad WebP chunk', () => {
    const png = pngBytes(4, 4);
    const badType = png.slice();
    badType[15] = 'X'.charCodeAt(0); // IHDR -> IHDX
    expect(readImageHeader(badType)).toMatchObject({ kind: 'corrupt', format: 'png' });
    const zeroWidth = png.slice();
    zeroWidth.fill(0, 16, 20);
    expect(readImageHeader(zeroWidth)).toMatchObject({ kind: 'corrupt', format: 'png' });
    const badChunk = bytesOf('RIFF', u32le(22), 'WEBP', 'VP9 ', u32le(10), new Array(10).fill(0));
    expect(readImageHeader(badChunk)).toMatchObject({ kind: 'corrupt', format: 'webp' });
    expect(readImageHeader(bytesOf('GIF89a', u16le(0), u16le(5)))).toMatchObject({
      kind: 'corrupt',
      format: 'gif',
    });
    // A JPEG whose scan starts before any frame header.
    expect(readImageHeader(bytesOf([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]))).toMatchObject({ kind: 'corrupt' });
  });

  it('says unknown for other bytes', () => {
    for (const b of [
      bytesOf('hello world, not an image'),
      new Uint8Array(0),
      bytesOf('RIFF', u32le(4), 'WAVE'),
    ]) {
      expect(readImageHeader(b)).toEqual({ kind: 'unknown' });
      expect(sniffImageFormat(b)).toBeUndefined();
    }
  });
});

describe('readImageSize', () => {
  it('reads past 64 KiB when an APP1 segment pushes the frame header there', async () => {
    const src = jpegBytes(333, 17);
    // A maximal APP1 segment (length 0xFFFF counts itself) right after SOI: SOF starts past byte 65536.
    const app1 = new Uint8Array(2 + 0xffff);
    app1.set([0xff, 0xe1, 0xff, 0xff]);
    app1.set(bytesOf('Exif', [0, 0]), 4);
    const big = bytesOf([0xff, 0xd8], Array.from(app1), Array.from(src.subarray(2)));
    expect(readImageHeader(big.subarray(0, 64 * 1024))).toEqual({ kind: 'truncated', format: 'jpeg' });
    const reads: [number, number][] = [];
    expect(await readImageSize(fileOf(big, reads), 'big.jpg')).toEqual({
      format: 'jpeg',
      width: 333,
      height: 17,
      orientation: 1,
    });
    expect(reads[0]).toEqual([0, 64 * 1024]);
    expect(reads.length).toBe(2);
  });

  it('gives the displayed size of a JPEG whose Exif segment runs past 64 KiB', async () => {
    const big = withSegments(jpegBytes(333, 17), exifSegment(8, true, 0xfffd));
    expect(big.length).toBeGreaterThan(64 * 1024 + 4);
    expect(readImageHeader(big.subarray(0, 64 * 1024))).toEqual({ kind: 'truncated', format: 'jpeg' });
    expect(await readImageSize(fileOf(big), 'big.jpg')).toEqual({
      format: 'jpeg',
      width: 17,
      height: 333,
      orientation: 8,
    });
  });

  it('reads only the first 64 KiB when that holds the header', async () => {
    const reads: [number, number][] = [];
    const png = pngBytes(100, 700);
    expect(await readImageSize(fileOf(png, reads), 'a.png')).toEqual({
      format: 'png',
      width: 100,
      height: 700,
      orientation: 1,
    });
    expect(reads).toEqual([[0, Math.min(png.length, 64 * 1024)]]);
  });

  it('throws ImageDecodeError for unknown, corrupt, truncated and empty files', async () => {
    const problem = async (bytes: Uint8Array) => {
      const e = await readImageSize(fileOf(bytes), 'f').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ImageDecodeError);
      return (e as ImageDecodeError).problem;
    };
    expect(await problem(bytesOf('not an image at all'))).toBe('unsupported');
    const badIhdr = pngBytes(2, 2);
    badIhdr[12] = 0;
    expect(await problem(badIhdr)).toBe('corrupt');
    expect(await problem(jpegBytes(8, 8).subarray(0, 30))).toBe('corrupt');
    expect(await problem(new Uint8Array(0))).toBe('corrupt');
  });
});
