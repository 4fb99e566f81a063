// Tests of the lazy zip reader against zips written by fflate's zipSync (an independent writer):
// entry listing, whole and ranged reads equal to the fixture bytes, how few bytes opening and reading
// touch, a hand-built ZIP64 variant, CP437 / UTF-8 names, and broken zips that must give typed errors.
import { crc32 as zlibCrc32 } from 'node:zlib';
import { type Zippable, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../src/data/errors.ts';
import { crc32 } from '../../../src/data/files/crc32.ts';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { isZipFile, looksLikeZip, openZip, type ZipEntryFile } from '../../../src/data/files/zip.ts';

const enc = new TextEncoder();

function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// 1 MiB random then ~2 MiB of repetitive text: a multi-MB entry that deflates to ~1 MiB.
const big = (() => {
  const random = seededBytes(1 << 20, 7);
  const text = enc.encode('{"image": "img/0001.png", "bbox": [12, 34, 56, 78]}\n'.repeat(40000));
  const out = new Uint8Array(random.length + text.length);
  out.set(random);
  out.set(text, random.length);
  return out;
})();

const files: Record<string, Uint8Array> = {
  'dataset/train/data-00000-of-00001.arrow': seededBytes(5000, 3),
  'dataset/train/state.json': enc.encode('{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}'),
  'dataset/dataset_dict.json': enc.encode('{"splits": ["train"]}'),
  'dataset/big.bin': big,
  'images/日本/画像.png': seededBytes(300, 11),
  'images/a/b/c/deep.txt': enc.encode('deep '.repeat(1000)),
  'caf?.txt': enc.encode('cp437 name'),
  'empty.txt': new Uint8Array(0),
};
const stored = new Set(['dataset/train/data-00000-of-00001.arrow', 'images/日本/画像.png', 'caf?.txt']);

function buildZip(): Uint8Array {
  const z: Zippable = {};
  for (const [name, bytes] of Object.entries(files)) z[name] = [bytes, { level: stored.has(name) ? 0 : 6 }];
  z['empty-folder'] = {};
  z['__MACOSX/dataset/._big.bin'] = enc.encode('resource fork');
  z['dataset/.DS_Store'] = enc.encode('finder');
  return zipSync(z, { mtime: new Date(2024, 0, 1) });
}
const zipBytes = buildZip();

/** The zip reader's block for small reads (its local headers, the first bytes of an image). */
const BLOCK = 64 * 1024;

/** A DroppedFile over bytes that counts the bytes handed out by read and readRange. */
function counting(path: string, bytes: Uint8Array): DroppedFile & { bytesRead: number; calls: number } {
  const inner = droppedFileFromBytes(path, bytes);
  const f = {
    path: inner.path,
    size: inner.size,
    bytesRead: 0,
    calls: 0,
    read: async () => {
      const b = await inner.read();
      f.bytesRead += b.length;
      f.calls++;
      return b;
    },
    readRange: async (s: number, e: number) => {
      const b = await inner.readRange(s, e);
      f.bytesRead += b.length;
      f.calls++;
      return b;
    },
  };
  return f;
}

// --- reading the zip's own structures independently, to build variants -------------------------

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

interface RawCentral {
  offset: number; // of the central header within the zip
  name: string;
  nameLen: number;
  extraLen: number;
  commentLen: number;
  compSize: number;
  size: number;
  localOffset: number;
}

function centralEntries(zip: Uint8Array): {
  eocd: number;
  cdOffset: number;
  cdSize: number;
  list: RawCentral[];
} {
  const v = dv(zip);
  const eocd = zip.length - 22; // fflate writes no comment
  expect(v.getUint32(eocd, true)).toBe(0x06054b50);
  const n = v.getUint16(eocd + 10, true);
  const cdSize = v.getUint32(eocd + 12, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  const list: RawCentral[] = [];
  let p = cdOffset;
  for (let i = 0; i < n; i++) {
    expect(v.getUint32(p, true)).toBe(0x02014b50);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    list.push({
      offset: p,
      name: new TextDecoder().decode(zip.subarray(p + 46, p + 46 + nameLen)),
      nameLen,
      extraLen,
      commentLen,
      compSize: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      localOffset: v.getUint32(p + 42, true),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { eocd, cdOffset, cdSize, list };
}

function entryOf(zip: Uint8Array, name: string): RawCentral {
  const e = centralEntries(zip).list.find((x) => x.name === name);
  if (!e) throw new Error(`fixture has no ${name}`);
  return e;
}

function dataStartOf(zip: Uint8Array, e: RawCentral): number {
  const v = dv(zip);
  return e.localOffset + 30 + v.getUint16(e.localOffset + 26, true) + v.getUint16(e.localOffset + 28, true);
}

/** APPNOTE 4.3.14 / 4.3.15 / 4.5.3: the same archive with ZIP64 end records and extra fields. */
function toZip64(zip: Uint8Array, opts: { totalDisks?: number } = {}): Uint8Array {
  const { cdOffset, list } = centralEntries(zip);
  const parts: Uint8Array[] = [zip.subarray(0, cdOffset)];
  let cdSize = 0;
  for (const e of list) {
    const old = zip.subarray(e.offset, e.offset + 46 + e.nameLen + e.extraLen + e.commentLen);
    const rec = new Uint8Array(old.length + 28);
    rec.set(old.subarray(0, 46 + e.nameLen + e.extraLen));
    const v = dv(rec);
    v.setUint32(20, 0xffffffff, true);
    v.setUint32(24, 0xffffffff, true);
    v.setUint32(42, 0xffffffff, true);
    v.setUint16(30, e.extraLen + 28, true);
    const x = 46 + e.nameLen + e.extraLen;
    v.setUint16(x, 0x0001, true);
    v.setUint16(x + 2, 24, true);
    v.setBigUint64(x + 4, BigInt(e.size), true);
    v.setBigUint64(x + 12, BigInt(e.compSize), true);
    v.setBigUint64(x + 20, BigInt(e.localOffset), true);
    rec.set(old.subarray(46 + e.nameLen + e.extraLen), x + 28);
    parts.push(rec);
    cdSize += rec.length;
  }
  const recordPos = cdOffset + cdSize;
  const tail = new Uint8Array(56 + 20 + 22);
  const v = dv(tail);
  v.setUint32(0, 0x06064b50, true);
  v.setBigUint64(4, 44n, true);
  v.setUint16(12, 45, true);
  v.setUint16(14, 45, true);
  v.setUint32(16, 0, true);
  v.setUint32(20, 0, true);
  v.setBigUint64(24, BigInt(list.length), true);
  v.setBigUint64(32, BigInt(list.length), true);
  v.setBigUint64(40, BigInt(cdSize), true);
  v.setBigUint64(48, BigInt(cdOffset), true);
  v.setUint32(56, 0x07064b50, true);
  v.setUint32(60, 0, true);
  v.setBigUint64(64, BigInt(recordPos), true);
  v.setUint32(72, opts.totalDisks ?? 1, true);
  v.setUint32(76, 0x06054b50, true);
  v.setUint16(80, 0xffff, true);
  v.setUint16(82, 0xffff, true);
  v.setUint16(84, 0xffff, true);
  v.setUint16(86, 0xffff, true);
  v.setUint32(88, 0xffffffff, true);
  v.setUint32(92, 0xffffffff, true);
  v.setUint16(96, 0, true);
  parts.push(tail);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const expectedPaths = Object.keys(files).sort();

async function expectAllContents(entries: ZipEntryFile[]): Promise<void> {
  expect(entries.map((e) => e.path).sort()).toEqual(expectedPaths);
  for (const e of entries) {
    const want = files[e.path] as Uint8Array;
    expect(e.size).toBe(want.length);
    expect(Buffer.from(await e.read()).equals(Buffer.from(want))).toBe(true);
  }
}

async function rejectsFormat(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetFormatError);
  expect((err as Error).message).toMatch(pattern);
}

describe('crc32', () => {
  it('matches the standard check value and zlib', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const b = seededBytes(10007, 5);
    expect(crc32(b)).toBe(zlibCrc32(b));
    expect(crc32(b.subarray(5000), crc32(b.subarray(0, 5000)))).toBe(zlibCrc32(b));
  });
});

describe('isZipFile / looksLikeZip', () => {
  it('recognises zips by name and by signature', async () => {
    expect(isZipFile(droppedFileFromBytes('x/Data.ZIP', zipBytes))).toBe(true);
    expect(isZipFile(droppedFileFromBytes('x/data.zip.json', zipBytes))).toBe(false);
    expect(await looksLikeZip(droppedFileFromBytes('noext', zipBytes))).toBe(true);
    expect(await looksLikeZip(droppedFileFromBytes('empty.zip', zipSync({})))).toBe(true);
    expect(
      await looksLikeZip(droppedFileFromBytes('a.json', enc.encode('{"not": "a zip at all, really"}'))),
    ).toBe(false);
    expect(await looksLikeZip(droppedFileFromBytes('tiny', enc.encode('PK')))).toBe(false);
  });
});

describe('openZip', () => {
  it('lists files (no folders, __MACOSX or .DS_Store) and reads each one whole', async () => {
    const entries = await openZip(droppedFileFromBytes('drop/data.zip', zipBytes));
    await expectAllContents(entries);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('dataset/train/data-00000-of-00001.arrow')?.method).toBe(0);
    expect(byPath.get('dataset/big.bin')?.method).toBe(8);
    expect(byPath.get('dataset/big.bin')?.compressedSize).toBeLessThan(big.length / 2);
  });

  it('reads an empty zip as no files', async () => {
    expect(await openZip(droppedFileFromBytes('e.zip', zipSync({})))).toEqual([]);
  });

  it('reads ranges of stored and deflated entries, clamped like a file', async () => {
    for (const maxCachedEntryBytes of [undefined, 0]) {
      const entries = await openZip(droppedFileFromBytes('d.zip', zipBytes), { maxCachedEntryBytes });
      for (const e of entries) {
        const want = files[e.path] as Uint8Array;
        const n = want.length;
        const mid = Math.floor(n / 2);
        const ranges: [number, number][] = [
          [0, 100],
          [mid, mid + 1000],
          [mid - 70000, mid + 70000],
          [n - 10, n + 100],
          [n + 5, n + 10],
          [5, 5],
          [9, 3],
          [-20, 7],
          [0, n],
        ];
        for (const [s, t] of ranges) {
          const got = await e.readRange(s, t);
          const expected = want.subarray(Math.max(0, Math.min(s, n)), Math.max(0, Math.min(t, n)));
          expect(got.length, `${e.path} [${s}, ${t})`).toBe(Math.max(0, expected.length));
          expect(Buffer.from(got).equals(Buffer.from(expected)), `${e.path} [${s}, ${t})`).toBe(true);
        }
      }
    }
  });

  it('serves concurrent ranged reads of one deflated entry correctly', async () => {
    const entries = await openZip(droppedFileFromBytes('d.zip', zipBytes));
    const e = entries.find((x) => x.path === 'dataset/big.bin') as ZipEntryFile;
    const ranges: [number, number][] = [
      [2_000_000, 2_000_100],
      [0, 10],
      [1_500_000, 1_600_000],
      [big.length - 5, big.length],
    ];
    const got = await Promise.all(ranges.map(([s, t]) => e.readRange(s, t)));
    ranges.forEach(([s, t], i) => {
      expect(Buffer.from(got[i] as Uint8Array).equals(Buffer.from(big.subarray(s, t)))).toBe(true);
    });
  });

  it('reads only the end and central directory to open, and about the compressed size per entry', async () => {
    const zip = counting('d.zip', zipBytes);
    const entries = await openZip(zip);
    expect(zip.bytesRead).toBeLessThanOrEqual(65557 + 4096);
    expect(zip.bytesRead).toBeLessThan(zipBytes.length / 10);

    const bigEntry = entries.find((e) => e.path === 'dataset/big.bin') as ZipEntryFile;
    const raw = entryOf(zipBytes, 'dataset/big.bin');
    expect(bigEntry.compressedSize).toBe(raw.compSize);
    let before = zip.bytesRead;
    await bigEntry.read();
    const used = zip.bytesRead - before;
    expect(used).toBeGreaterThanOrEqual(raw.compSize);
    // The data, and the local header through the small-read cache (at most two 64 KiB blocks).
    expect(used).toBeLessThanOrEqual(raw.compSize + 2 * BLOCK);

    // A small range of a stored entry reads the blocks around it (and its local header) only; a
    // nearby range then reads nothing more.
    const arrow = entries.find((e) => e.path.endsWith('.arrow')) as ZipEntryFile;
    before = zip.bytesRead;
    await arrow.readRange(100, 200);
    expect(zip.bytesRead - before).toBeLessThanOrEqual(2 * BLOCK);
    before = zip.bytesRead;
    await arrow.readRange(1000, 1010);
    expect(zip.bytesRead - before).toBe(0);
  });

  it('stops inflating at the end of the range, and caches a small entry', async () => {
    const zip = counting('d.zip', zipBytes);
    const entries = await openZip(zip);
    const bigEntry = entries.find((e) => e.path === 'dataset/big.bin') as ZipEntryFile;
    const { compSize } = entryOf(zipBytes, 'dataset/big.bin');
    let before = zip.bytesRead;
    await bigEntry.readRange(0, 100);
    expect(zip.bytesRead - before).toBeLessThanOrEqual(64 * 1024 + 2 * BLOCK);

    // Sequential ranges resume the same inflation: about compSize in all, not once per range.
    before = zip.bytesRead;
    for (let s = 0; s < big.length; s += 256 * 1024) {
      const got = await bigEntry.readRange(s, s + 256 * 1024);
      expect(Buffer.from(got).equals(Buffer.from(big.subarray(s, s + 256 * 1024)))).toBe(true);
    }
    expect(zip.bytesRead - before).toBeLessThanOrEqual(compSize + 64 * 1024);
    before = zip.bytesRead;
    await bigEntry.readRange(123, 456);
    await bigEntry.readRange(big.length - 8, big.length);
    expect(Buffer.from(await bigEntry.read()).equals(Buffer.from(big))).toBe(true);
    expect(zip.bytesRead - before).toBe(0);

    // Over the cache limit (0 here): the entry is inflated once, whole, into a Blob (by the
    // platform's DecompressionStream, or by fflate); later ranges, anywhere in it, read nothing more.
    for (const nativeInflate of [true, false]) {
      const zip2 = counting('d.zip', zipBytes);
      const entries2 = await openZip(zip2, { maxCachedEntryBytes: 0, nativeInflate });
      const e2 = entries2.find((e) => e.path === 'dataset/big.bin');
      before = zip2.bytesRead;
      const got = (await e2?.readRange(10, 20)) ?? new Uint8Array();
      expect(Buffer.from(got).equals(Buffer.from(big.subarray(10, 20)))).toBe(true);
      expect(zip2.bytesRead - before).toBeLessThanOrEqual(compSize + 64 * 1024 + 2 * BLOCK);
      before = zip2.bytesRead;
      for (const s of [big.length - 1000, 5, 1_500_000]) {
        const part = (await e2?.readRange(s, s + 999)) ?? new Uint8Array();
        expect(Buffer.from(part).equals(Buffer.from(big.subarray(s, s + 999)))).toBe(true);
      }
      expect(zip2.bytesRead - before).toBe(0);
    }
  });

  it('reads the heads of many small entries with one read per block, not two per entry', async () => {
    const files: Zippable = {};
    const body = (i: number) => new Uint8Array(1500).map((_, k) => (i * 7 + k) & 255);
    for (let i = 0; i < 400; i++) files[`img/${i}.bin`] = [body(i), { level: 0 }];
    const bytes = zipSync(files);
    const zip = counting('many.zip', bytes);
    const entries = await openZip(zip);
    const calls = zip.calls;
    const heads = await Promise.all(entries.map((e) => e.readRange(0, 24)));
    heads.forEach((h, i) => {
      expect(Array.from(h)).toEqual(
        Array.from(body(Number(/\d+/.exec(entries[i]?.path ?? '')?.[0])).subarray(0, 24)),
      );
    });
    // 400 entries of ~1.5 KB: about 10 blocks, where a read per header and per head would be 800.
    expect(zip.calls - calls).toBeLessThanOrEqual(Math.ceil(bytes.length / BLOCK) + 1);
  });

  it('reads names: UTF-8 with flag 11, UTF-8 without it (macOS), else CP437', async () => {
    const z = zipBytes.slice();
    const v = dv(z);
    const cafe = entryOf(z, 'caf?.txt');
    z[cafe.offset + 46 + 3] = 0x82; // CP437 é
    const jp = entryOf(z, 'images/日本/画像.png');
    expect(v.getUint16(jp.offset + 8, true) & 0x800).toBe(0x800);
    v.setUint16(jp.offset + 8, v.getUint16(jp.offset + 8, true) & ~0x800, true);
    const paths = (await openZip(droppedFileFromBytes('n.zip', z))).map((e) => e.path);
    expect(paths).toContain('café.txt');
    expect(paths).toContain('images/日本/画像.png');
    // Every CP437 high byte maps to one character: 0xE1 is ß and 0xFF a no-break space.
    z[cafe.offset + 46 + 3] = 0xe1;
    expect((await openZip(droppedFileFromBytes('n.zip', z))).map((e) => e.path)).toContain('cafß.txt');
    z[cafe.offset + 46 + 3] = 0xff;
    expect((await openZip(droppedFileFromBytes('n.zip', z))).map((e) => e.path)).toContain('caf\u00a0.txt');
  });

  it('reads a ZIP64 archive (end record, locator, extra fields)', async () => {
    const z64 = toZip64(zipBytes);
    const zip = counting('z64.zip', z64);
    const entries = await openZip(zip);
    expect(zip.bytesRead).toBeLessThan(z64.length / 10);
    await expectAllContents(entries);
    const e = entries.find((x) => x.path === 'dataset/big.bin') as ZipEntryFile;
    expect(
      Buffer.from(await e.readRange(1_000_000, 1_100_000)).equals(
        Buffer.from(big.subarray(1_000_000, 1_100_000)),
      ),
    ).toBe(true);
  });

  it('reads a zip with data prepended (self-extractor stub)', async () => {
    const stub = seededBytes(1234, 9);
    const z = new Uint8Array(stub.length + zipBytes.length);
    z.set(stub);
    z.set(zipBytes, stub.length);
    await expectAllContents(await openZip(droppedFileFromBytes('sfx.zip', z)));
  });
});

describe('openZip on broken zips', () => {
  it('rejects bytes that are not a zip', async () => {
    await rejectsFormat(openZip(droppedFileFromBytes('x.zip', seededBytes(100000, 4))), /not a zip/);
    await rejectsFormat(openZip(droppedFileFromBytes('x.zip', enc.encode('hello'))), /not a zip/);
    await rejectsFormat(openZip(droppedFileFromBytes('x.zip', new Uint8Array(0))), /not a zip/);
  });

  it('rejects truncated zips', async () => {
    for (const cut of [
      10,
      100,
      5000,
      Math.floor(zipBytes.length / 2),
      zipBytes.length - 30,
      zipBytes.length - 1,
    ]) {
      await rejectsFormat(openZip(droppedFileFromBytes('t.zip', zipBytes.subarray(0, cut))), /truncated/);
    }
  });

  it('rejects split zips', async () => {
    const z = zipBytes.slice();
    const { eocd } = centralEntries(z);
    dv(z).setUint16(eocd + 4, 1, true);
    dv(z).setUint16(eocd + 6, 1, true);
    await rejectsFormat(openZip(droppedFileFromBytes('s.zip', z)), /split.*one zip/);
    await rejectsFormat(
      openZip(droppedFileFromBytes('s64.zip', toZip64(zipBytes, { totalDisks: 3 }))),
      /split/,
    );
    const first = zipBytes.slice();
    dv(first).setUint32(0, 0x08074b50, true);
    await rejectsFormat(openZip(droppedFileFromBytes('s.z01', first.subarray(0, 5000))), /split/);
  });

  it('reports a corrupt entry when it is read, not at open', async () => {
    const z = zipBytes.slice();
    const e = entryOf(z, 'dataset/big.bin');
    const start = dataStartOf(z, e);
    z[start + Math.floor(e.compSize / 2)] ^= 0x5a;
    const s = entryOf(z, 'dataset/train/data-00000-of-00001.arrow');
    z[dataStartOf(z, s) + 17] ^= 0x01;
    for (const [maxCachedEntryBytes, nativeInflate] of [
      [undefined, true],
      [0, true],
      [0, false],
    ] as const) {
      const options = {
        ...(maxCachedEntryBytes === undefined ? {} : { maxCachedEntryBytes }),
        nativeInflate,
      };
      const entries = await openZip(droppedFileFromBytes('c.zip', z), options);
      const bigEntry = entries.find((x) => x.path === 'dataset/big.bin') as ZipEntryFile;
      await rejectsFormat(bigEntry.read(), /corrupt|CRC/);
      await rejectsFormat(bigEntry.readRange(0, big.length), /corrupt|CRC/);
      const arrow = entries.find((x) => x.path.endsWith('.arrow')) as ZipEntryFile;
      await rejectsFormat(arrow.read(), /CRC-32 mismatch/);
      const ok = entries.find((x) => x.path === 'dataset/dataset_dict.json') as ZipEntryFile;
      expect(new TextDecoder().decode(await ok.read())).toBe('{"splits": ["train"]}');
    }
  });

  it('rejects encrypted entries, unsupported methods and bad local headers on read', async () => {
    const z = zipBytes.slice();
    const v = dv(z);
    const enc1 = entryOf(z, 'dataset/train/state.json');
    v.setUint16(enc1.offset + 8, v.getUint16(enc1.offset + 8, true) | 1, true);
    v.setUint16(enc1.localOffset + 6, v.getUint16(enc1.localOffset + 6, true) | 1, true);
    const lz = entryOf(z, 'images/a/b/c/deep.txt');
    v.setUint16(lz.offset + 10, 14, true);
    v.setUint16(lz.localOffset + 8, 14, true);
    const zs = entryOf(z, 'dataset/dataset_dict.json');
    v.setUint16(zs.offset + 10, 93, true);
    const bad = entryOf(z, 'caf?.txt');
    v.setUint32(bad.localOffset, 0x12345678, true);

    const entries = await openZip(droppedFileFromBytes('b.zip', z));
    const get = (p: string) => entries.find((x) => x.path === p) as ZipEntryFile;
    await rejectsFormat(get('dataset/train/state.json').read(), /encrypted.*without a password/);
    await rejectsFormat(get('dataset/train/state.json').readRange(0, 4), /encrypted/);
    await rejectsFormat(get('images/a/b/c/deep.txt').read(), /LZMA \(method 14\).*deflate or store/);
    await rejectsFormat(get('dataset/dataset_dict.json').readRange(0, 3), /Zstandard \(method 93\)/);
    await rejectsFormat(get('caf?.txt').read(), /local file header/);
    expect(Buffer.from(await get('dataset/big.bin').read()).equals(Buffer.from(big))).toBe(true);
  });
});
