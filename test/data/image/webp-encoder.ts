// Test helper: @jsquash/webp's encoder (libwebp in wasm) in Node, loaded from the installed package
// (the package would fetch() its wasm otherwise). An independent encoder for WebP fixtures.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import encode, { init } from '@jsquash/webp/encode.js';

let ready: Promise<unknown> | undefined;

/** Encodes RGBA pixels as WebP: lossless, or lossy at `quality` (0-100). */
export async function encodeWebp(
  data: Uint8Array,
  width: number,
  height: number,
  options: { lossless: boolean; quality?: number },
): Promise<Uint8Array> {
  ready ??= (async () => {
    // The SIMD build: the package picks it when the runtime has wasm SIMD, as Node 20 does.
    const path = createRequire(import.meta.url).resolve('@jsquash/webp/codec/enc/webp_enc_simd.wasm');
    const initWith = init as unknown as (module: WebAssembly.Module) => Promise<unknown>;
    await initWith(await WebAssembly.compile(await readFile(path)));
  })();
  await ready;
  const pixels = new Uint8ClampedArray(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const image = { data: pixels, width, height, colorSpace: 'srgb' } as ImageData;
  // exact: keep the RGB of fully transparent pixels (libwebp drops it by default).
  const out = await encode(image, {
    lossless: options.lossless ? 1 : 0,
    quality: options.quality ?? 90,
    exact: 1,
  });
  return new Uint8Array(out);
}
