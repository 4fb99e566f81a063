// What both image decoders (Node and browser) do after the pixels come out: check their size, turn a
// JPEG upright by its EXIF orientation, and check the result against the header's displayed size.
// Also the JPEG path they share: our decoder, bit-exact with Pillow's libjpeg-turbo.

import type { RgbImage } from '../../model/image-processor.ts';
import { ImageDecodeError } from '../errors.ts';
import { applyOrientation } from './exif-orientation.ts';
import type { DecodableHeader } from './image-header.ts';
import { decodeJpeg } from './jpeg-decode.ts';

/** `image` (stored orientation) as the header describes it, or an ImageDecodeError naming `name`. */
export function finishDecoded(image: RgbImage, header: DecodableHeader, name: string): RgbImage {
  if (image.data.length !== image.width * image.height * 4) {
    throw new ImageDecodeError(
      name,
      'corrupt',
      `decoding gave a ${image.width}x${image.height} image with ${image.data.length} bytes`,
    );
  }
  let out = image;
  if (header.orientation !== 1) {
    const { buffer, byteOffset, byteLength } = image.data;
    out = applyOrientation(
      new Uint8Array(buffer, byteOffset, byteLength),
      image.width,
      image.height,
      header.orientation,
    );
  }
  if (out.width !== header.width || out.height !== header.height) {
    throw new ImageDecodeError(
      name,
      'corrupt',
      `decoding gave a ${out.width}x${out.height} image but the header says ${header.width}x${header.height}`,
    );
  }
  return out;
}

/** A JPEG's pixels, upright, exactly as Pillow decodes them (and HF `datasets` transposes them). */
export function decodeJpegImage(bytes: Uint8Array, header: DecodableHeader, name: string): RgbImage {
  return finishDecoded(decodeJpeg(bytes, name), header, name);
}
