// JPEG Huffman entropy decoding (ITU T.81 Annex F and G): the bit reader over entropy-coded data
// (0xFF00 stuffing, markers, restart intervals), Huffman tables, and the scan decoders of
// sequential and progressive (spectral selection, successive approximation) files, filling each
// component's quantized coefficients in natural order as libjpeg's jdhuff.c / jdphuff.c do.

/** A problem in the JPEG stream; jpeg-decode.ts turns it into an ImageDecodeError. */
export class JpegStreamError extends Error {
  override name = 'JpegStreamError';
  constructor(
    readonly problem: 'corrupt' | 'unsupported',
    detail: string,
  ) {
    super(detail);
  }
}

/** Zigzag index -> natural (row-major) index; 16 extra entries of 63 absorb run overflows as libjpeg does. */
export const NATURAL_ORDER = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

const LOOKAHEAD = 9;

/** A canonical Huffman table: a 9-bit lookahead table, then per-length code limits. */
export interface HuffmanTable {
  /** (code length << 8) | symbol for every 9-bit prefix whose code is at most 9 bits; 0 otherwise. */
  lookup: Uint16Array;
  /** Largest code of each length 1..16, -1 where none. */
  maxCode: Int32Array;
  /** Per length: index in `symbols` of the first code minus that code. */
  offset: Int32Array;
  symbols: Uint8Array;
}

/** Builds a table from the 16 code-length counts and the symbols of a DHT segment. */
export function buildHuffmanTable(counts: Uint8Array, symbols: Uint8Array, isDc: boolean): HuffmanTable {
  const lookup = new Uint16Array(1 << LOOKAHEAD);
  const maxCode = new Int32Array(17).fill(-1);
  const offset = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    offset[len] = k - code;
    for (let i = 0; i < n; i++, k++, code++) {
      const symbol = symbols[k]!;
      if (isDc && symbol > 15) throw new JpegStreamError('corrupt', `DC Huffman symbol ${symbol} is over 15`);
      if (len <= LOOKAHEAD) {
        const first = code << (LOOKAHEAD - len);
        lookup.fill((len << 8) | symbol, first, first + (1 << (LOOKAHEAD - len)));
      }
    }
    if (n > 0) maxCode[len] = code - 1;
    if (code > 1 << len) throw new JpegStreamError('corrupt', 'a Huffman table has more codes than fit');
    code <<= 1;
  }
  return { lookup, maxCode, offset, symbols };
}

/** Reads bits of one scan's entropy-coded segment; past its end (a marker) it feeds zero bits. */
export class BitReader {
  private acc = 0;
  private bits = 0;
  /** Zero bits fed past the real data; reading them means the data is truncated or corrupt. */
  private fake = 0;
  /** Offset of the marker that ended the data (its 0xFF), -1 until one is met. */
  private markerAt = -1;

  constructor(
    private readonly data: Uint8Array,
    private pos: number,
  ) {}

  private fill(): void {
    const data = this.data;
    while (this.bits <= 24) {
      let byte = 0;
      if (this.markerAt < 0 && this.pos < data.length) {
        byte = data[this.pos]!;
        if (byte === 0xff) {
          let next = this.pos + 1;
          while (next < data.length && data[next] === 0xff) next++;
          if (next < data.length && data[next] === 0) {
            this.pos = next + 1;
          } else {
            this.markerAt = next - 1;
            byte = 0;
            this.fake += 8;
          }
        } else {
          this.pos++;
        }
      } else {
        this.fake += 8;
      }
      this.acc = (this.acc << 8) | byte;
      this.bits += 8;
    }
  }

  /** n (0..16) bits as an unsigned number. */
  getBits(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    this.bits -= n;
    return (this.acc >>> this.bits) & ((1 << n) - 1);
  }

  getBit(): number {
    if (this.bits < 1) this.fill();
    this.bits--;
    return (this.acc >>> this.bits) & 1;
  }

  /** n bits, sign-extended as T.81's EXTEND (F.2.2.1). */
  receiveExtend(n: number): number {
    if (n === 0) return 0;
    const v = this.getBits(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  decode(table: HuffmanTable): number {
    if (this.bits < 16) this.fill();
    const peek = (this.acc >>> (this.bits - 16)) & 0xffff;
    const entry = table.lookup[peek >> (16 - LOOKAHEAD)]!;
    if (entry !== 0) {
      this.bits -= entry >> 8;
      return entry & 0xff;
    }
    for (let len = LOOKAHEAD + 1; len <= 16; len++) {
      const code = peek >> (16 - len);
      if (code <= table.maxCode[len]!) {
        this.bits -= len;
        return table.symbols[table.offset[len]! + code]!;
      }
    }
    throw new JpegStreamError('corrupt', 'bad Huffman code in the image data');
  }

  /** Throws when the bits read so far went past the real data. */
  checkOverrun(): void {
    if (this.fake > this.bits) {
      throw new JpegStreamError('corrupt', 'the image data ends early (truncated file or corrupt data)');
    }
  }

  /** Drops the buffered bits and reads the restart marker RSTn that must come next. */
  restart(expected: number): void {
    this.checkOverrun();
    const at = this.markerAt >= 0 ? this.markerAt : this.pos;
    const data = this.data;
    let p = at;
    while (p < data.length && data[p] === 0xff) p++;
    if (p === at || p >= data.length || data[p] !== 0xd0 + expected) {
      throw new JpegStreamError('corrupt', `restart marker RST${expected} missing where the interval ends`);
    }
    this.pos = p + 1;
    this.acc = 0;
    this.bits = 0;
    this.fake = 0;
    this.markerAt = -1;
  }

  /** Where parsing of markers resumes after the scan. */
  endPosition(): number {
    return this.markerAt >= 0 ? this.markerAt : this.pos;
  }
}

/** A frame component as the scan decoders see it. */
export interface CodedComponent {
  h: number;
  v: number;
  /** Quantized coefficients, 64 per block (natural order), `blocksPerLine` blocks a row. */
  coefs: Int16Array;
  blocksPerLine: number;
  /** Blocks that hold image samples (a non-interleaved scan codes only these). */
  usedBlocksPerLine: number;
  usedBlocksPerColumn: number;
}

export interface ScanComponent {
  component: CodedComponent;
  dc: HuffmanTable | undefined;
  ac: HuffmanTable | undefined;
}

export interface ScanParams {
  components: ScanComponent[];
  progressive: boolean;
  ss: number;
  se: number;
  ah: number;
  al: number;
  restartInterval: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

type BlockDecoder = (r: BitReader, sc: ScanComponent, ci: number, coefs: Int16Array, at: number) => void;

/** Decodes one scan starting at `start`; returns the offset where the next marker search starts. */
export function decodeScan(data: Uint8Array, start: number, scan: ScanParams): number {
  const reader = new BitReader(data, start);
  const { ss, se, ah, al } = scan;
  const preds = new Float64Array(scan.components.length);
  let eobrun = 0;

  const sequential: BlockDecoder = (r, sc, ci, coefs, at) => {
    const s = r.decode(sc.dc!);
    preds[ci] = preds[ci]! + r.receiveExtend(s);
    coefs[at] = preds[ci]!;
    const ac = sc.ac!;
    for (let k = 1; k < 64; k++) {
      const rs = r.decode(ac);
      const size = rs & 15;
      const run = rs >> 4;
      if (size !== 0) {
        k += run;
        coefs[at + NATURAL_ORDER[k]!] = r.receiveExtend(size);
      } else {
        if (run !== 15) break;
        k += 15;
      }
    }
  };
  const dcFirst: BlockDecoder = (r, sc, ci, coefs, at) => {
    const s = r.decode(sc.dc!);
    preds[ci] = preds[ci]! + r.receiveExtend(s);
    coefs[at] = preds[ci]! * (1 << al);
  };
  const dcRefine: BlockDecoder = (r, _sc, _ci, coefs, at) => {
    if (r.getBit()) coefs[at] = coefs[at]! | (1 << al);
  };
  const acFirst: BlockDecoder = (r, sc, _ci, coefs, at) => {
    if (eobrun > 0) {
      eobrun--;
      return;
    }
    const ac = sc.ac!;
    for (let k = ss; k <= se; k++) {
      const rs = r.decode(ac);
      const size = rs & 15;
      const run = rs >> 4;
      if (size !== 0) {
        k += run;
        coefs[at + NATURAL_ORDER[k]!] = r.receiveExtend(size) * (1 << al);
      } else if (run === 15) {
        k += 15;
      } else {
        eobrun = (1 << run) + r.getBits(run) - 1;
        break;
      }
    }
  };
  const p1 = 1 << al;
  const m1 = -1 * (1 << al);
  const acRefine: BlockDecoder = (r, sc, _ci, coefs, at) => {
    let k = ss;
    if (eobrun === 0) {
      const ac = sc.ac!;
      for (; k <= se; k++) {
        const rs = r.decode(ac);
        let run = rs >> 4;
        let value = 0;
        if ((rs & 15) !== 0) {
          // Sizes other than 1 are invalid here; libjpeg reads one bit regardless.
          value = r.getBit() ? p1 : m1;
        } else if (run !== 15) {
          eobrun = 1 << run;
          if (run !== 0) eobrun += r.getBits(run);
          break;
        }
        // Skip `run` zero coefficients, refining the nonzero ones met on the way.
        do {
          const pos = at + NATURAL_ORDER[k]!;
          const c = coefs[pos]!;
          if (c !== 0) {
            if (r.getBit() && (c & p1) === 0) coefs[pos] = c >= 0 ? c + p1 : c + m1;
          } else {
            if (--run < 0) break;
          }
          k++;
        } while (k <= se);
        if (value !== 0) coefs[at + NATURAL_ORDER[k]!] = value;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const pos = at + NATURAL_ORDER[k]!;
        const c = coefs[pos]!;
        if (c !== 0 && r.getBit() && (c & p1) === 0) coefs[pos] = c >= 0 ? c + p1 : c + m1;
      }
      eobrun--;
    }
  };

  let decodeBlock: BlockDecoder;
  if (!scan.progressive) decodeBlock = sequential;
  else if (ss === 0) decodeBlock = ah === 0 ? dcFirst : dcRefine;
  else decodeBlock = ah === 0 ? acFirst : acRefine;

  const comps = scan.components;
  const single = comps.length === 1;
  const first = comps[0]!.component;
  const perLine = single ? first.usedBlocksPerLine : scan.mcusPerLine;
  const total = perLine * (single ? first.usedBlocksPerColumn : scan.mcusPerColumn);
  const interval = scan.restartInterval;
  let nextRestart = 0;

  for (let mcu = 0; mcu < total; mcu++) {
    if (interval > 0 && mcu > 0 && mcu % interval === 0) {
      reader.restart(nextRestart);
      nextRestart = (nextRestart + 1) & 7;
      preds.fill(0);
      eobrun = 0;
    }
    const mx = mcu % perLine;
    const my = (mcu - mx) / perLine;
    if (single) {
      const c = first;
      decodeBlock(reader, comps[0]!, 0, c.coefs, (my * c.blocksPerLine + mx) * 64);
    } else {
      for (let ci = 0; ci < comps.length; ci++) {
        const sc = comps[ci]!;
        const c = sc.component;
        for (let by = 0; by < c.v; by++) {
          const row = (my * c.v + by) * c.blocksPerLine + mx * c.h;
          for (let bx = 0; bx < c.h; bx++) decodeBlock(reader, sc, ci, c.coefs, (row + bx) * 64);
        }
      }
    }
    reader.checkOverrun();
  }
  return reader.endPosition();
}
