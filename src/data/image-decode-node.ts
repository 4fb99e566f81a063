// Node-side image decoding: PNG (pngjs) and JPEG (jpeg-js) bytes to 8-bit RGBA, the format is found
// from the file's magic bytes, not its name. Pure JS, so no native build; JPEG decoding may differ from
// libjpeg (PIL) by a level or so on some pixels.

import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbImage } from '../model/image-processor.ts';
import { ImageDecodeError } from './errors.ts';

export type ImageFormat = 'png' | 'jpeg';

/** The format of encoded image bytes from their signature, or undefined when neither PNG nor JPEG. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

// Refuse images whose decoded RGBA would not fit comfortably in memory (JPEG and PNG alike).
const MAX_MEGAPIXELS = 100;

/**
 * Decodes PNG or JPEG bytes into an RGBA image (4 bytes a pixel, row-major). `name` is used in error
 * messages. Throws ImageDecodeError ('unsupported' for other formats, 'corrupt' for bad data).
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw new ImageDecodeError(
      name,
      'unsupported',
      'not a PNG or JPEG file (unrecognised signature); convert the image to PNG or JPEG',
    );
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let image: RgbImage;
  try {
    if (format === 'png') {
      const png = PNG.sync.read(buffer);
      image = { width: png.width, height: png.height, data: new Uint8Array(png.data) };
    } else {
      const jpg = jpeg.decode(buffer, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_MEGAPIXELS,
        maxMemoryUsageInMB: 2048,
      });
      image = { width: jpg.width, height: jpg.height, data: jpg.data };
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ImageDecodeError(
      name,
      'corrupt',
      `cannot decode this ${format.toUpperCase()} file (${why}); the file may be truncated or damaged`,
    );
  }
  if (image.width <= 0 || image.height <= 0 || image.data.length !== image.width * image.height * 4) {
    throw new ImageDecodeError(
      name,
      'corrupt',
      `decoding gave a ${image.width}x${image.height} image with ${image.data.length} bytes`,
    );
  }
  return image;
}

/** Reads and decodes a PNG or JPEG file. A missing file rejects with Node's own ENOENT error. */
export async function readImageFile(path: string): Promise<RgbImage> {
  return decodeImage(await readFile(path), path);
}
