// PNG encoding of an RGB image (8-bit truecolour, no interlace, filter 0 on every row), for datasets this
// product writes out (a TRL job's images). The zlib stream comes from the caller's deflate (Node's zlib,
// the browser's CompressionStream), so this file stays free of platform code.
import { crc32 } from '../files/crc32.ts';

/** zlib-wrapped deflate (RFC 1950) of the bytes. */
export type Deflate = (bytes: Uint8Array) => Promise<Uint8Array>;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export async function encodePng(
  image: { width: number; height: number; data: Uint8Array | Uint8ClampedArray },
  deflate: Deflate,
): Promise<Uint8Array> {
  const { width, height, data } = image;
  if (data.length !== width * height * 3)
    throw new RangeError(`encodePng: ${data.length} bytes are not ${width} x ${height} RGB pixels`);
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8);
  const stride = width * 3;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', header),
    chunk('IDAT', await deflate(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
