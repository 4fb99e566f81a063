// Node-side image decoding to 8-bit RGBA: PNG (pngjs), JPEG (our decoder, jpeg-decode.ts, bit-exact
// with Pillow's libjpeg-turbo), WebP (@jsquash/webp, libwebp in wasm, loaded from the installed
// package). The format is found from the file's magic bytes, not its name. A JPEG's EXIF orientation
// is applied (the displayed image, as browsers and HF `datasets` give it); PNG and WebP EXIF is not read.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import decodeWebp, { init as initWebpDecoder } from '@jsquash/webp/decode.js';
import { PNG } from 'pngjs';
import type { RgbImage } from '../../model/image-processor.ts';
import { ImageDecodeError } from '../errors.ts';
import { decodeJpegImage, finishDecoded } from './decoded-image.ts';
import { decodableHeader } from './image-header.ts';

// The package's typings declare init(options) but the code takes (wasmModule, options).
const initWebp = initWebpDecoder as unknown as (module: WebAssembly.Module) => Promise<void>;
let webpReady: Promise<void> | undefined;

/** Compiles libwebp's decoder from the installed package once; the package would fetch() it otherwise. */
function loadWebpDecoder(): Promise<void> {
  webpReady ??= (async () => {
    const path = createRequire(import.meta.url).resolve('@jsquash/webp/codec/dec/webp_dec.wasm');
    await initWebp(await WebAssembly.compile(await readFile(path)));
  })();
  return webpReady;
}

/**
 * Decodes PNG, JPEG or WebP bytes into an RGBA image (4 bytes a pixel, row-major). `name` is used in
 * error messages. Throws ImageDecodeError ('unsupported' for other formats, 'corrupt' for bad data).
 */
export async function decodeImage(bytes: Uint8Array, name = 'image'): Promise<RgbImage> {
  const header = decodableHeader(bytes, name);
  const label = header.format.toUpperCase();

  if (header.format === 'jpeg') return decodeJpegImage(bytes, header, name);
  let image: RgbImage;
  try {
    image = await decodeKnown(header.format, bytes);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new ImageDecodeError(
      name,
      'corrupt',
      `cannot decode this ${label} file (${why}); the file may be truncated or damaged`,
    );
  }
  return finishDecoded(image, header, name);
}

async function decodeKnown(format: 'png' | 'webp', bytes: Uint8Array): Promise<RgbImage> {
  if (format === 'webp') {
    await loadWebpDecoder();
    // Our own copy: the decoder takes an ArrayBuffer, and `bytes` may be a view of a larger one.
    const decoded = await decodeWebp(new Uint8Array(bytes).buffer);
    const data = new Uint8Array(decoded.data.length);
    data.set(decoded.data);
    return { width: decoded.width, height: decoded.height, data };
  }
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** Reads and decodes a PNG, JPEG or WebP file. A missing file rejects with Node's own ENOENT error. */
export async function readImageFile(path: string): Promise<RgbImage> {
  return decodeImage(await readFile(path), path);
}
