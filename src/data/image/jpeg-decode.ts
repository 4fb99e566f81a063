// Our JPEG decoder: baseline, extended-sequential and progressive Huffman JPEGs (8-bit, 1 or 3
// components) to RGBA with the pixels libjpeg-turbo gives under its default settings (islow IDCT,
// fancy upsampling, jdcolor.c tables), which is what Pillow and so HF `datasets` decode. Markers and
// frame layout are read here; entropy decoding, IDCT and upsampling live in the jpeg-*.ts files.

import { ImageDecodeError } from '../errors.ts';
import { MAX_MEGAPIXELS } from './image-header.ts';
import {
  buildHuffmanTable,
  type CodedComponent,
  decodeScan,
  type HuffmanTable,
  JpegStreamError,
  NATURAL_ORDER,
  type ScanComponent,
} from './jpeg-huffman.ts';
import { idctIslow } from './jpeg-idct.ts';
import {
  FractionalSamplingError,
  greyToRgba,
  rgbToRgba,
  upsampleComponent,
  yccToRgba,
} from './jpeg-upsample.ts';

/** An 8-bit RGBA image, 4 bytes a pixel, rows top to bottom, in the file's stored orientation. */
export interface DecodedJpeg {
  width: number;
  height: number;
  data: Uint8Array;
}

interface FrameComponent extends CodedComponent {
  id: number;
  quantTable: number;
  /** The quantization table latched at the component's first scan (natural order). */
  quant: Int16Array | undefined;
  width: number;
  height: number;
  blocksPerColumn: number;
}

interface Frame {
  progressive: boolean;
  width: number;
  height: number;
  hMax: number;
  vMax: number;
  mcusPerLine: number;
  mcusPerColumn: number;
  components: FrameComponent[];
}

const SOF_NAMES: Record<number, string> = {
  195: 'lossless',
  197: 'hierarchical (differential sequential)',
  198: 'hierarchical (differential progressive)',
  199: 'hierarchical (differential lossless)',
  201: 'arithmetic-coded sequential',
  202: 'arithmetic-coded progressive',
  203: 'arithmetic-coded lossless',
  205: 'arithmetic-coded hierarchical',
  206: 'arithmetic-coded hierarchical progressive',
  207: 'arithmetic-coded hierarchical lossless',
};

function corrupt(detail: string): never {
  throw new JpegStreamError('corrupt', detail);
}

function unsupported(detail: string): never {
  throw new JpegStreamError('unsupported', detail);
}

/**
 * Decodes JPEG bytes to RGBA (alpha 255), bit-exact with libjpeg-turbo's default decompression
 * (Pillow's). EXIF orientation is not applied. `name` is used in error messages. Throws
 * ImageDecodeError: 'unsupported' for arithmetic, lossless, hierarchical, 12-bit, CMYK / YCCK and
 * over-100-megapixel files, 'corrupt' for damaged or truncated data.
 */
export function decodeJpeg(bytes: Uint8Array, name = 'image'): DecodedJpeg {
  try {
    return decodeStream(bytes);
  } catch (e) {
    if (e instanceof JpegStreamError) {
      const advice =
        e.problem === 'unsupported'
          ? 'convert the image to a baseline or progressive 8-bit RGB / greyscale JPEG or to PNG'
          : 'the file may be truncated or damaged; re-export it';
      throw new ImageDecodeError(name, e.problem, `cannot decode this JPEG: ${e.message}; ${advice}`);
    }
    if (e instanceof FractionalSamplingError) {
      throw new ImageDecodeError(
        name,
        'unsupported',
        `cannot decode this JPEG: ${e.message} (non-integral chroma ratio); re-encode it with standard subsampling`,
      );
    }
    if (e instanceof RangeError) {
      throw new ImageDecodeError(
        name,
        'corrupt',
        `cannot decode this JPEG (${e.message}); the file may be damaged`,
      );
    }
    throw e;
  }
}

function decodeStream(data: Uint8Array): DecodedJpeg {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) corrupt('no SOI marker: not a JPEG file');
  const quantTables: (Int16Array | undefined)[] = [];
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let scans = 0;
  const coded = new Set<FrameComponent>();
  let pos = 2;

  const u16 = (at: number) => {
    if (at + 2 > data.length) corrupt('a marker segment is cut off');
    return (data[at]! << 8) | data[at + 1]!;
  };

  for (;;) {
    // Find the next marker, skipping stray bytes and 0xFF fill as libjpeg does.
    while (pos < data.length && data[pos] !== 0xff) pos++;
    while (pos < data.length && data[pos] === 0xff) pos++;
    if (pos >= data.length) {
      if (frame && scans > 0 && coded.size === frame.components.length) break; // no EOI: accept
      corrupt('the file ends before the image data is complete (truncated)');
    }
    const marker = data[pos++]!;
    if (marker === 0xd9) {
      if (!frame || scans === 0) corrupt('no image data before the end marker');
      break;
    }
    if (marker === 0 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xd8) continue;
    const length = u16(pos);
    if (length < 2 || pos + length > data.length) corrupt(`marker 0x${marker.toString(16)} has a bad length`);
    const seg = data.subarray(pos + 2, pos + length);
    pos += length;

    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      if (frame) corrupt('more than one frame header');
      frame = readFrame(seg, marker === 0xc2);
    } else if (SOF_NAMES[marker] !== undefined) {
      unsupported(`${SOF_NAMES[marker]} JPEG (SOF${marker - 0xc0}) is not supported`);
    } else if (marker === 0xc4) {
      readHuffmanTables(seg, dcTables, acTables);
    } else if (marker === 0xdb) {
      readQuantTables(seg, quantTables);
    } else if (marker === 0xdd) {
      if (seg.length < 2) corrupt('bad DRI segment');
      restartInterval = (seg[0]! << 8) | seg[1]!;
    } else if (marker === 0xe0) {
      if (
        seg.length >= 14 &&
        seg[0] === 0x4a &&
        seg[1] === 0x46 &&
        seg[2] === 0x49 &&
        seg[3] === 0x46 &&
        seg[4] === 0
      ) {
        jfif = true;
      }
    } else if (marker === 0xee) {
      const isAdobe = seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe';
      if (isAdobe) adobeTransform = seg[11]!;
    } else if (marker === 0xda) {
      if (!frame) corrupt('image data (SOS) before the frame header');
      const scan = readScanHeader(seg, frame, dcTables, acTables);
      for (const sc of scan.components) {
        const c = sc.component as FrameComponent;
        if (!c.quant) {
          const table = quantTables[c.quantTable];
          if (!table) corrupt(`quantization table ${c.quantTable} is not defined`);
          c.quant = table.slice();
        }
        coded.add(c);
      }
      pos = decodeScan(data, pos, {
        ...scan,
        progressive: frame.progressive,
        restartInterval,
        mcusPerLine: frame.mcusPerLine,
        mcusPerColumn: frame.mcusPerColumn,
      });
      scans++;
    }
    // Other APPn, COM, DAC, DNL ...: skipped.
  }
  if (!frame) corrupt('no frame header');
  return toRgba(frame, jfif, adobeTransform);
}

function readFrame(seg: Uint8Array, progressive: boolean): Frame {
  if (seg.length < 6) corrupt('frame header is cut off');
  const precision = seg[0]!;
  const height = (seg[1]! << 8) | seg[2]!;
  const width = (seg[3]! << 8) | seg[4]!;
  const count = seg[5]!;
  if (precision !== 8) unsupported(`${precision}-bit samples are not supported (only 8-bit)`);
  if (height === 0) unsupported('a height given by a DNL marker is not supported');
  if (width === 0) corrupt('the frame header says the image is 0 pixels wide');
  if (width * height > MAX_MEGAPIXELS * 1e6) {
    unsupported(`the image is ${width}x${height}, over ${MAX_MEGAPIXELS} megapixels; downscale it`);
  }
  if (count === 4) unsupported('CMYK / YCCK JPEGs (4 components) are not supported');
  if (count !== 1 && count !== 3) unsupported(`${count}-component JPEGs are not supported`);
  if (seg.length < 6 + count * 3) corrupt('frame header is cut off');
  const raw = [];
  for (let i = 0; i < count; i++) {
    const o = 6 + i * 3;
    const h = seg[o + 1]! >> 4;
    const v = seg[o + 1]! & 15;
    const tq = seg[o + 2]!;
    if (h < 1 || h > 4 || v < 1 || v > 4) corrupt(`bad sampling factors ${h}x${v}`);
    if (tq > 3) corrupt(`bad quantization table number ${tq}`);
    raw.push({ id: seg[o]!, h, v, tq });
  }
  const hMax = Math.max(...raw.map((c) => c.h));
  const vMax = Math.max(...raw.map((c) => c.v));
  const mcusPerLine = Math.ceil(width / (8 * hMax));
  const mcusPerColumn = Math.ceil(height / (8 * vMax));
  const components = raw.map((c): FrameComponent => {
    const cw = Math.ceil((width * c.h) / hMax);
    const ch = Math.ceil((height * c.v) / vMax);
    const blocksPerLine = mcusPerLine * c.h;
    const blocksPerColumn = mcusPerColumn * c.v;
    return {
      id: c.id,
      h: c.h,
      v: c.v,
      quantTable: c.tq,
      quant: undefined,
      width: cw,
      height: ch,
      blocksPerLine,
      blocksPerColumn,
      usedBlocksPerLine: Math.ceil(cw / 8),
      usedBlocksPerColumn: Math.ceil(ch / 8),
      coefs: new Int16Array(blocksPerLine * blocksPerColumn * 64),
    };
  });
  return { progressive, width, height, hMax, vMax, mcusPerLine, mcusPerColumn, components };
}

function readHuffmanTables(
  seg: Uint8Array,
  dcTables: (HuffmanTable | undefined)[],
  acTables: (HuffmanTable | undefined)[],
): void {
  let p = 0;
  while (p < seg.length) {
    if (p + 17 > seg.length) corrupt('Huffman table segment is cut off');
    const tc = seg[p]! >> 4;
    const th = seg[p]! & 15;
    if (tc > 1 || th > 3) corrupt(`bad Huffman table class/number 0x${seg[p]!.toString(16)}`);
    const counts = seg.subarray(p + 1, p + 17);
    let total = 0;
    for (const n of counts) total += n;
    if (total > 256 || p + 17 + total > seg.length) corrupt('bad Huffman table length');
    const symbols = seg.slice(p + 17, p + 17 + total);
    (tc === 0 ? dcTables : acTables)[th] = buildHuffmanTable(counts, symbols, tc === 0);
    p += 17 + total;
  }
}

function readQuantTables(seg: Uint8Array, tables: (Int16Array | undefined)[]): void {
  let p = 0;
  while (p < seg.length) {
    const pq = seg[p]! >> 4;
    const tq = seg[p]! & 15;
    if (pq > 1 || tq > 3) corrupt(`bad quantization table header 0x${seg[p]!.toString(16)}`);
    const size = pq === 0 ? 64 : 128;
    if (p + 1 + size > seg.length) corrupt('quantization table segment is cut off');
    const table = new Int16Array(64);
    for (let k = 0; k < 64; k++) {
      table[NATURAL_ORDER[k]!] =
        pq === 0 ? seg[p + 1 + k]! : (seg[p + 1 + 2 * k]! << 8) | seg[p + 2 + 2 * k]!;
    }
    tables[tq] = table;
    p += 1 + size;
  }
}

function readScanHeader(
  seg: Uint8Array,
  frame: Frame,
  dcTables: (HuffmanTable | undefined)[],
  acTables: (HuffmanTable | undefined)[],
): { components: ScanComponent[]; ss: number; se: number; ah: number; al: number } {
  const count = seg[0] ?? 0;
  if (count < 1 || count > 4 || seg.length < 4 + count * 2) corrupt('bad scan header');
  const ss = seg[1 + count * 2]!;
  const se = seg[2 + count * 2]!;
  const ah = seg[3 + count * 2]! >> 4;
  const al = seg[3 + count * 2]! & 15;
  if (frame.progressive) {
    const bad = ss > se || se > 63 || (ss === 0 && se !== 0) || (ss > 0 && count !== 1) || ah > 13 || al > 13;
    if (bad) corrupt(`bad progressive scan parameters Ss=${ss} Se=${se} Ah=${ah} Al=${al}`);
  }
  const components: ScanComponent[] = [];
  let blocksInMcu = 0;
  for (let i = 0; i < count; i++) {
    const id = seg[1 + i * 2]!;
    const tables = seg[2 + i * 2]!;
    const component = frame.components.find((c) => c.id === id);
    if (!component) corrupt(`the scan names component ${id}, which the frame does not have`);
    const needDc = !frame.progressive || (ss === 0 && ah === 0);
    const needAc = !frame.progressive || ss > 0;
    const dc = needDc ? dcTables[tables >> 4] : undefined;
    const ac = needAc ? acTables[tables & 15] : undefined;
    if ((needDc && !dc) || (needAc && !ac)) corrupt('the scan uses a Huffman table that is not defined');
    components.push({ component, dc, ac });
    blocksInMcu += component.h * component.v;
  }
  if (count > 1 && blocksInMcu > 10) corrupt('more than 10 blocks in an MCU');
  return { components, ss, se, ah, al };
}

function toRgba(frame: Frame, jfif: boolean, adobeTransform: number): DecodedJpeg {
  const { width, height } = frame;
  const planes = frame.components.map((c) => {
    const stride = c.blocksPerLine * 8;
    const samples = new Uint8Array(stride * c.blocksPerColumn * 8);
    const quant = c.quant ?? new Int16Array(64);
    for (let by = 0; by < c.usedBlocksPerColumn; by++) {
      for (let bx = 0; bx < c.usedBlocksPerLine; bx++) {
        const block = (by * c.blocksPerLine + bx) * 64;
        idctIslow(c.coefs, block, quant, samples, by * 8 * stride + bx * 8, stride);
      }
    }
    const plane = { samples, stride, width: c.width, height: c.height, h: c.h, v: c.v };
    return upsampleComponent({ ...plane, hMax: frame.hMax, vMax: frame.vMax }, width, height);
  });
  const out = new Uint8Array(width * height * 4);
  if (planes.length === 1) {
    greyToRgba(planes[0]!, out);
  } else {
    const [a, b, c] = planes as [Uint8Array, Uint8Array, Uint8Array];
    if (isRgb(frame, jfif, adobeTransform)) rgbToRgba(a, b, c, out);
    else yccToRgba(a, b, c, out);
  }
  return { width, height, data: out };
}

/** libjpeg's guess of a 3-component file's colour space: JFIF, then Adobe's flag, then the ids. */
function isRgb(frame: Frame, jfif: boolean, adobeTransform: number): boolean {
  if (jfif) return false;
  if (adobeTransform >= 0) return adobeTransform === 0;
  const [a, b, c] = frame.components.map((x) => x.id);
  return a === 82 && b === 71 && c === 66;
}
