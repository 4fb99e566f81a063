// Image format and pixel size from the first bytes of a file (PNG, JPEG, WebP, GIF, BMP), without
// decoding: used to validate datasets cheaply and to check decoders. For a JPEG the size is the
// displayed one (EXIF orientation applied, as our decoders and HF `datasets` do); other formats'
// EXIF is not read, so theirs is the stored size.

import { ImageDecodeError } from '../errors.ts';
import { exifOrientation, orientedSize } from './exif-orientation.ts';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp';

export type HeaderResult =
  /**
   * The displayed size; `orientation` is the JPEG's EXIF orientation (1-8; 1 without one and for
   * other formats), already applied to width and height (swapped for 5-8).
   */
  | { kind: 'size'; format: ImageFormat; width: number; height: number; orientation: number }
  /** The header runs past the bytes given: pass more. */
  | { kind: 'truncated'; format: ImageFormat }
  /** Not a format we know. */
  | { kind: 'unknown' }
  | { kind: 'corrupt'; format: ImageFormat; detail: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  return prefix.every((b, i) => bytes[at + i] === b);
}

function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

/** The format of encoded image bytes from their signature, or undefined when not one we know. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, ascii('BM'))) return 'bmp';
  return undefined;
}

/** Reads the format and pixel size from the header at the start of `bytes`. Never throws. */
export function readImageHeader(bytes: Uint8Array): HeaderResult {
  const format = sniffImageFormat(bytes);
  if (format === undefined) return { kind: 'unknown' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (format) {
    case 'png':
      return pngHeader(bytes, view);
    case 'jpeg':
      return jpegHeader(bytes, view);
    case 'webp':
      return webpHeader(bytes, view);
    case 'gif':
      return gifHeader(view);
    case 'bmp':
      return bmpHeader(view);
  }
}

/** The result for a stored width x height image shown under EXIF `orientation`. */
function sized(format: ImageFormat, width: number, height: number, orientation = 1): HeaderResult {
  if (width <= 0 || height <= 0) {
    return { kind: 'corrupt', format, detail: `the header gives a ${width}x${height} image` };
  }
  const [shownWidth, shownHeight] = orientedSize(width, height, orientation);
  return { kind: 'size', format, width: shownWidth, height: shownHeight, orientation };
}

function pngHeader(bytes: Uint8Array, view: DataView): HeaderResult {
  // Signature (8), then the IHDR chunk: length (4) = 13, type (4), width (4), height (4), ...
  if (bytes.length < 24) return { kind: 'truncated', format: 'png' };
  if (view.getUint32(8) !== 13 || !startsWith(bytes, ascii('IHDR'), 12)) {
    return { kind: 'corrupt', format: 'png', detail: 'the first chunk is not a 13-byte IHDR' };
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width > 0x7fffffff || height > 0x7fffffff) {
    return { kind: 'corrupt', format: 'png', detail: `IHDR gives a ${width}x${height} image` };
  }
  return sized('png', width, height);
}

function isStartOfFrame(marker: number): boolean {
  // SOF0-SOF15 are C0-CF, less DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegHeader(bytes: Uint8Array, view: DataView): HeaderResult {
  const truncated: HeaderResult = { kind: 'truncated', format: 'jpeg' };
  let i = 2; // after SOI
  let orientation: number | undefined; // from the first APP1 Exif segment, as PIL reads it
  for (;;) {
    if (i >= bytes.length) return truncated;
    if (bytes[i] !== 0xff) {
      return { kind: 'corrupt', format: 'jpeg', detail: `no marker at byte ${i} before the frame header` };
    }
    while (i < bytes.length && bytes[i] === 0xff) i++; // the 0xFF and any fill bytes before the marker code
    if (i >= bytes.length) return truncated;
    const marker = bytes[i] as number;
    i++;
    // Standalone markers carry no length: TEM, RST0-7, a repeated SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;
    if (marker === 0xd9 || marker === 0xda) {
      return { kind: 'corrupt', format: 'jpeg', detail: 'no frame header (SOF) before the scan data' };
    }
    if (marker === 0x00) {
      return {
        kind: 'corrupt',
        format: 'jpeg',
        detail: `a stuffed 0xFF00 at byte ${i - 2} before the frame header`,
      };
    }
    if (i + 2 > bytes.length) return truncated;
    const length = view.getUint16(i);
    if (length < 2) {
      return { kind: 'corrupt', format: 'jpeg', detail: `segment length ${length} at byte ${i}` };
    }
    if (isStartOfFrame(marker)) {
      // length (2), precision (1), height (2), width (2)
      if (length < 8) return { kind: 'corrupt', format: 'jpeg', detail: `frame header length ${length}` };
      if (i + 7 > bytes.length) return truncated;
      const height = view.getUint16(i + 3);
      const width = view.getUint16(i + 5);
      if (height === 0) {
        return {
          kind: 'corrupt',
          format: 'jpeg',
          detail: 'the frame header gives height 0 (height set by a DNL marker), which is not supported',
        };
      }
      return sized('jpeg', width, height, orientation ?? 1);
    }
    if (marker === 0xe1 && orientation === undefined && i + length <= bytes.length) {
      // Segment payload after the length field. (Past the bytes given, the SOF is too: truncated.)
      const payload = bytes.subarray(i + 2, i + length);
      orientation = exifOrientation(payload);
    }
    i += length;
  }
}

function webpHeader(bytes: Uint8Array, view: DataView): HeaderResult {
  // RIFF header (12), then the first chunk: fourcc (4), size (4), payload from byte 20.
  if (bytes.length < 20) return { kind: 'truncated', format: 'webp' };
  const fourcc = String.fromCharCode(...bytes.subarray(12, 16));
  if (fourcc === 'VP8 ') {
    // Frame tag (3 bytes, bit 0 = 0 for a key frame), start code 9D 01 2A, then 16-bit LE width and
    // height whose low 14 bits are the size (the top 2 bits are an upscaling hint).
    if (bytes.length < 30) return { kind: 'truncated', format: 'webp' };
    if (((bytes[20] as number) & 1) !== 0 || !startsWith(bytes, [0x9d, 0x01, 0x2a], 23)) {
      return { kind: 'corrupt', format: 'webp', detail: 'the VP8 chunk does not start with a key frame' };
    }
    return sized('webp', view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff);
  }
  if (fourcc === 'VP8L') {
    // Signature byte 0x2F, then 32 bits LE: width-1 (14), height-1 (14), alpha (1), version (3).
    if (bytes.length < 25) return { kind: 'truncated', format: 'webp' };
    if (bytes[20] !== 0x2f) {
      return { kind: 'corrupt', format: 'webp', detail: 'the VP8L chunk lacks its 0x2F signature' };
    }
    const bits = view.getUint32(21, true);
    if (bits >>> 29 !== 0) return { kind: 'corrupt', format: 'webp', detail: `VP8L version ${bits >>> 29}` };
    return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (fourcc === 'VP8X') {
    // Flags (1), reserved (3), canvas width-1 (24 bits LE), canvas height-1 (24 bits LE).
    if (bytes.length < 30) return { kind: 'truncated', format: 'webp' };
    const uint24 = (at: number) =>
      (bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16);
    return sized('webp', uint24(24) + 1, uint24(27) + 1);
  }
  return { kind: 'corrupt', format: 'webp', detail: `the first chunk is '${fourcc}', not VP8, VP8L or VP8X` };
}

function gifHeader(view: DataView): HeaderResult {
  // Signature and version (6), then the logical screen: width and height, 16-bit LE.
  if (view.byteLength < 10) return { kind: 'truncated', format: 'gif' };
  return sized('gif', view.getUint16(6, true), view.getUint16(8, true));
}

function bmpHeader(view: DataView): HeaderResult {
  // File header (14), then the DIB header, whose first field is its own size.
  if (view.byteLength < 18) return { kind: 'truncated', format: 'bmp' };
  const dibSize = view.getUint32(14, true);
  if (dibSize === 12) {
    // BITMAPCOREHEADER: 16-bit unsigned width and height.
    if (view.byteLength < 22) return { kind: 'truncated', format: 'bmp' };
    return sized('bmp', view.getUint16(18, true), view.getUint16(20, true));
  }
  if (dibSize >= 40 && dibSize <= 124) {
    // BITMAPINFOHEADER and its extensions: 32-bit signed; a negative height means top-down rows.
    if (view.byteLength < 26) return { kind: 'truncated', format: 'bmp' };
    const width = view.getInt32(18, true);
    const height = view.getInt32(22, true);
    if (height === -0x80000000) return { kind: 'corrupt', format: 'bmp', detail: `height ${height}` };
    return sized('bmp', width, Math.abs(height));
  }
  return { kind: 'corrupt', format: 'bmp', detail: `unknown DIB header size ${dibSize}` };
}

/** A file-like source of bytes: a DroppedFile fits. */
export interface RangeReadable {
  readonly size: number;
  readRange(start: number, end: number): Promise<Uint8Array>;
}

const FIRST_READ = 64 * 1024;

/**
 * Displayed size (and JPEG EXIF orientation, as readImageHeader) from the header of a file-like
 * {size, readRange}: reads 64 KiB, then more (up to the whole file) when the header runs past that.
 * Throws ImageDecodeError: 'unsupported' for a format we do not know, 'corrupt' for a bad or
 * truncated header.
 */
export async function readImageSize(
  file: RangeReadable,
  name: string,
): Promise<{ format: ImageFormat; width: number; height: number; orientation: number }> {
  if (file.size === 0) throw new ImageDecodeError(name, 'corrupt', 'the file is empty');
  let end = Math.min(FIRST_READ, file.size);
  for (;;) {
    const header = readImageHeader(await file.readRange(0, end));
    switch (header.kind) {
      case 'size':
        return {
          format: header.format,
          width: header.width,
          height: header.height,
          orientation: header.orientation,
        };
      case 'unknown':
        throw new ImageDecodeError(
          name,
          'unsupported',
          'not a PNG, JPEG, WebP, GIF or BMP file (unrecognised signature); convert the image to PNG, JPEG or WebP',
        );
      case 'corrupt':
        throw new ImageDecodeError(
          name,
          'corrupt',
          `bad ${header.format.toUpperCase()} header (${header.detail}); the file may be damaged`,
        );
      case 'truncated':
        if (end >= file.size) {
          throw new ImageDecodeError(
            name,
            'corrupt',
            `the ${header.format.toUpperCase()} file ends inside its header; it is truncated`,
          );
        }
        end = Math.min(end * 8, file.size);
    }
  }
}

/** Images whose decoded RGBA would not fit comfortably in memory are refused. */
export const MAX_MEGAPIXELS = 100;

/** The formats both decoders handle. */
export type DecodableFormat = 'png' | 'jpeg' | 'webp';
export type DecodableHeader = Extract<HeaderResult, { kind: 'size' }> & { format: DecodableFormat };

/**
 * The header of an image both decoders (Node and browser) accept: PNG, JPEG or still WebP, at most
 * MAX_MEGAPIXELS. Anything else throws the ImageDecodeError that says what to do, so a dataset
 * fails the same way in the CLI and in the app.
 */
export function decodableHeader(bytes: Uint8Array, name: string): DecodableHeader {
  const header = readImageHeader(bytes);
  if (header.kind === 'unknown') {
    throw new ImageDecodeError(
      name,
      'unsupported',
      'not a PNG, JPEG or WebP file (unrecognised signature); convert the image to PNG, JPEG or WebP',
    );
  }
  const label = header.format.toUpperCase();
  if (header.format === 'gif' || header.format === 'bmp') {
    throw new ImageDecodeError(
      name,
      'unsupported',
      `${label} images are not supported; convert to PNG, JPEG or WebP`,
    );
  }
  if (header.kind === 'truncated') {
    throw new ImageDecodeError(name, 'corrupt', `the ${label} file ends inside its header; it is truncated`);
  }
  if (header.kind === 'corrupt') {
    throw new ImageDecodeError(
      name,
      'corrupt',
      `bad ${label} header (${header.detail}); the file may be damaged`,
    );
  }
  if (header.width * header.height > MAX_MEGAPIXELS * 1e6) {
    throw new ImageDecodeError(
      name,
      'unsupported',
      `the image is ${header.width}x${header.height}, over ${MAX_MEGAPIXELS} megapixels; downscale it`,
    );
  }
  if (header.format === 'webp' && isAnimatedWebp(bytes)) {
    throw new ImageDecodeError(
      name,
      'unsupported',
      'animated WebP is not supported; convert a frame to PNG or WebP',
    );
  }
  return { ...header, format: header.format as DecodableFormat };
}

/** A VP8X WebP with its animation flag set. */
function isAnimatedWebp(bytes: Uint8Array): boolean {
  const fourcc = String.fromCharCode(...bytes.subarray(12, 16));
  return fourcc === 'VP8X' && ((bytes[20] as number) & 0x02) !== 0;
}
