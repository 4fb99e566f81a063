// A lazy zip reader: a dropped .zip becomes the DroppedFiles inside it. Opening reads only the end
// of the archive (EOCD, ZIP64 records) and the central directory; an entry's bytes are read and
// inflated only when that entry is read. A ranged read of a small deflated entry stops inflating once
// it has the bytes asked for; a large one is inflated once into a Blob and sliced (random access into
// a zipped Arrow shard). Layout facts follow PKWARE's APPNOTE.TXT (sections 4.3 and 4.4).

import { Inflate, inflateSync } from 'fflate';
import { crc32 } from './crc32.ts';
import { DatasetFormatError } from './errors.ts';
import { type DroppedFile, normalisePath } from './files.ts';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_SPANNED = 0x08074b50;
const EOCD_SIZE = 22;
/** The EOCD plus the longest comment it may carry. */
const EOCD_SEARCH = EOCD_SIZE + 0xffff;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const ZIP64_EOCD_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
/** Compressed bytes fed to the inflater per read during a streamed (ranged) read. */
const INFLATE_CHUNK = 64 * 1024;
/** Bytes of inflated data gathered before they are moved into a Blob part. */
const SPILL_PART = 4 * 1024 * 1024;
/** Compressed bytes read at a time when the platform inflates. */
const NATIVE_CHUNK = 4 * 1024 * 1024;
const MAX_WHOLE_READ = 0x7fffffff;

const METHOD_NAMES: Record<number, string> = {
  1: 'Shrink',
  2: 'Reduce',
  3: 'Reduce',
  4: 'Reduce',
  5: 'Reduce',
  6: 'Implode',
  9: 'Deflate64',
  10: 'PKWARE DCL Implode',
  12: 'bzip2',
  14: 'LZMA',
  18: 'IBM TERSE',
  19: 'IBM LZ77',
  93: 'Zstandard',
  94: 'MP3',
  95: 'XZ',
  96: 'JPEG',
  97: 'WavPack',
  98: 'PPMd',
  99: 'AES encryption',
};

/** CP437's characters for bytes 0x80-0xFF (the DOS code page zip names use without flag bit 11). */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' +
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

/** A file inside a zip; `size` is its uncompressed size. */
export interface ZipEntryFile extends DroppedFile {
  /** The name as stored in the zip (before normalisation). */
  readonly entryName: string;
  readonly compressedSize: number;
  /** The compression method: 0 stored, 8 deflate (the only two that can be read). */
  readonly method: number;
}

export interface OpenZipOptions {
  /**
   * The largest deflated entry (uncompressed bytes) whose inflated bytes are kept after a read, so
   * further ranged reads of it do not inflate again. One entry is kept at a time. Default 32 MiB.
   * Larger deflated entries are inflated whole into a Blob on their first ranged read.
   */
  maxCachedEntryBytes?: number;
  /** Inflate large entries with DecompressionStream where the platform has it (default true). */
  nativeInflate?: boolean;
}

interface BlobSink {
  push(data: Uint8Array): void;
  /** Bytes and CRC-32 so far. */
  length(): number;
  crc(): number;
  finish(): { blob: Blob; length: number; crc: number };
}

/** Gathers inflated bytes into Blob parts of about SPILL_PART bytes, with their length and CRC-32. */
function blobSink(expected: number, corrupt: (detail: string) => DatasetFormatError): BlobSink {
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let length = 0;
  let crc = 0;
  const flush = () => {
    parts.push(new Blob(pending as BlobPart[]));
    pending = [];
    pendingBytes = 0;
  };
  return {
    push(data) {
      if (length + data.length > expected) throw corrupt(`decompresses to more than its ${expected} bytes`);
      pending.push(data.slice());
      pendingBytes += data.length;
      length += data.length;
      crc = crc32(data, crc);
      if (pendingBytes >= SPILL_PART) flush();
    },
    length: () => length,
    crc: () => crc,
    finish() {
      if (pendingBytes > 0) flush();
      return { blob: new Blob(parts), length, crc };
    },
  };
}

/** By name: the file ends in .zip. */
export function isZipFile(file: DroppedFile): boolean {
  return /\.zip$/i.test(file.path);
}

/** By content: starts with a local file header (or an empty zip's EOCD), or ends with an EOCD. */
export async function looksLikeZip(file: DroppedFile): Promise<boolean> {
  if (file.size < EOCD_SIZE) return false;
  const head = await file.readRange(0, 4);
  if (head.length === 4) {
    const sig = u32(head, 0);
    if (sig === SIG_LOCAL || sig === SIG_EOCD) return true;
  }
  const tail = await file.readRange(file.size - EOCD_SIZE, file.size);
  return tail.length === EOCD_SIZE && u32(tail, 0) === SIG_EOCD;
}

interface EntryInfo {
  readonly name: string;
  readonly path: string;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
  dataStart?: number;
}

/** An inflation in progress (or finished) of one small deflated entry, resumable by later reads. */
interface Progress {
  readonly entry: EntryInfo;
  readonly out: Uint8Array;
  have: number;
  nextIn: number;
  crc: number;
  done: boolean;
  readonly inflater: Inflate;
}

/**
 * Lists the files of a zip (directories, `__MACOSX/` and `.DS_Store` left out), reading only the
 * archive's end and its central directory. Names are UTF-8 when flag bit 11 says so (or an Info-ZIP
 * Unicode Path field gives one); otherwise UTF-8 when the bytes are valid UTF-8 (macOS writes UTF-8
 * without the flag), else CP437 (fully mapped). Problems of single entries (encryption, an
 * unsupported method, corrupt data) are thrown when that entry is read.
 */
export async function openZip(file: DroppedFile, options: OpenZipOptions = {}): Promise<ZipEntryFile[]> {
  const zipPath = file.path;
  const maxCached = options.maxCachedEntryBytes ?? 32 * 1024 * 1024;
  const useNative = (options.nativeInflate ?? true) && typeof DecompressionStream === 'function';
  const fail = (detail: string): DatasetFormatError => new DatasetFormatError(zipPath, detail);
  const redo = 'download or copy the zip again, or re-create it';

  const readExact = async (start: number, end: number, what: string): Promise<Uint8Array> => {
    if (end > file.size) throw fail(`the zip is truncated: ${what} lies past its end; ${redo}.`);
    const bytes = await file.readRange(start, end);
    if (bytes.length !== end - start) {
      throw fail(
        `the zip is truncated: could not read ${what} (${bytes.length} of ${end - start} bytes); ${redo}.`,
      );
    }
    return bytes;
  };

  // End of central directory: the last signature whose comment reaches the end of the file.
  if (file.size < EOCD_SIZE) throw await notZipError(file, fail, redo);
  const tailStart = Math.max(0, file.size - EOCD_SEARCH);
  const tail = await readExact(tailStart, file.size, 'the end of the zip');
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (u32(tail, i) !== SIG_EOCD) continue;
    if (i + EOCD_SIZE + u16(tail, i + 20) === tail.length) {
      eocd = i;
      break;
    }
    if (eocd < 0) eocd = i;
  }
  if (eocd < 0) throw await notZipError(file, fail, redo);
  const eocdPos = tailStart + eocd;
  let diskNumber = u16(tail, eocd + 4);
  let cdDisk = u16(tail, eocd + 6);
  let entriesOnDisk = u16(tail, eocd + 8);
  let totalEntries = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  let cdEnd = eocdPos;

  // ZIP64: a locator right before the EOCD points at the ZIP64 end record with 64-bit fields.
  const loc =
    eocdPos < ZIP64_LOCATOR_SIZE
      ? undefined
      : eocd >= ZIP64_LOCATOR_SIZE
        ? tail.subarray(eocd - ZIP64_LOCATOR_SIZE, eocd)
        : await readExact(eocdPos - ZIP64_LOCATOR_SIZE, eocdPos, 'the ZIP64 locator');
  if (loc && u32(loc, 0) === SIG_ZIP64_LOCATOR) {
    const recordDisk = u32(loc, 4);
    const recordPos = u64(loc, 8, fail);
    const totalDisks = u32(loc, 16);
    if (recordDisk !== 0 || totalDisks > 1) throw splitError(fail);
    const rec = await readExact(recordPos, recordPos + ZIP64_EOCD_SIZE, 'the ZIP64 end record');
    if (u32(rec, 0) !== SIG_ZIP64_EOCD) {
      throw fail(`the ZIP64 end of central directory record is missing or corrupt; ${redo}.`);
    }
    diskNumber = u32(rec, 16);
    cdDisk = u32(rec, 20);
    entriesOnDisk = u64(rec, 24, fail);
    totalEntries = u64(rec, 32, fail);
    cdSize = u64(rec, 40, fail);
    cdOffset = u64(rec, 48, fail);
    cdEnd = recordPos;
  } else if (cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw fail(`the zip needs ZIP64 records but has none (corrupt or truncated); ${redo}.`);
  }
  if (diskNumber !== 0 || cdDisk !== 0 || entriesOnDisk !== totalEntries) throw splitError(fail);

  // Data prepended to the archive (a self-extractor stub) shifts every offset by the same amount:
  // try the offsets as written, then as the central directory's position before its end says.
  let shift = 0;
  let cd: Uint8Array | undefined;
  for (const candidate of cdEnd - cdSize - cdOffset === 0 ? [0] : [0, cdEnd - cdSize - cdOffset]) {
    const cdStart = cdOffset + candidate;
    if (cdStart < 0 || cdStart + cdSize > cdEnd) continue;
    const bytes =
      cdStart >= tailStart
        ? tail.subarray(cdStart - tailStart, cdStart - tailStart + cdSize)
        : await readExact(cdStart, cdStart + cdSize, 'the central directory');
    if (totalEntries === 0 || (bytes.length >= 4 && u32(bytes, 0) === SIG_CENTRAL)) {
      shift = candidate;
      cd = bytes;
      break;
    }
  }
  if (!cd)
    throw fail(`the zip is truncated or corrupt: its central directory is not where its end says; ${redo}.`);

  const entries: EntryInfo[] = [];
  let p = 0;
  for (let n = 0; n < totalEntries; n++) {
    if (p + CENTRAL_HEADER_SIZE > cd.length || u32(cd, p) !== SIG_CENTRAL) {
      throw fail(`the central directory is corrupt (entry ${n + 1} of ${totalEntries}); ${redo}.`);
    }
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    const crc = u32(cd, p + 16);
    let compressedSize = u32(cd, p + 20);
    let size = u32(cd, p + 24);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    let localOffset = u32(cd, p + 42);
    const next = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (next > cd.length) throw fail(`the central directory is corrupt (entry ${n + 1}); ${redo}.`);
    const nameBytes = cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen);
    let name = decodeName(nameBytes, (flags & 0x800) !== 0);

    const extra = cd.subarray(
      p + CENTRAL_HEADER_SIZE + nameLen,
      p + CENTRAL_HEADER_SIZE + nameLen + extraLen,
    );
    for (let q = 0; q + 4 <= extra.length; ) {
      const id = u16(extra, q);
      const len = u16(extra, q + 2);
      const body = extra.subarray(q + 4, Math.min(extra.length, q + 4 + len));
      if (id === 0x0001) {
        // ZIP64 extended information: only the fields saturated in the header, in this order.
        let r = 0;
        const take = (): number => {
          if (r + 8 > body.length) throw fail(`entry "${name}" has a truncated ZIP64 extra field; ${redo}.`);
          const v = u64(body, r, fail);
          r += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      } else if (id === 0x7075 && body.length >= 5 && body[0] === 1 && u32(body, 1) === crc32(nameBytes)) {
        // Info-ZIP Unicode Path: the UTF-8 name, valid while the CRC of the header's name matches.
        name = new TextDecoder().decode(body.subarray(5));
      }
      q += 4 + len;
    }
    p = next;

    if (name.endsWith('/') || name.endsWith('\\')) continue;
    const path = normalisePath(name);
    if (path === '' || path === '__MACOSX' || path.startsWith('__MACOSX/')) continue;
    if (path === '.DS_Store' || path.endsWith('/.DS_Store')) continue;
    entries.push({ name, path, flags, method, crc, compressedSize, size, localOffset: localOffset + shift });
  }

  // The single most recent deflated entry's inflation, and a queue so reads of it do not interleave.
  let progress: Progress | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const entryFail = (e: EntryInfo, detail: string) => fail(`entry "${e.name}": ${detail}`);

  const check = (e: EntryInfo): void => {
    if (e.flags & 1) {
      throw entryFail(
        e,
        `is encrypted${e.method === 99 ? ' (AES)' : ''}, which cannot be read here; re-create the zip without a password.`,
      );
    }
    if (e.method !== 0 && e.method !== 8) {
      const name = METHOD_NAMES[e.method] ?? 'an unknown method';
      throw entryFail(
        e,
        `is compressed with ${name} (method ${e.method}), which cannot be read here; re-create the zip with deflate or store (no compression).`,
      );
    }
    if (e.method === 0 && e.compressedSize !== e.size) {
      throw entryFail(e, `is stored but its sizes disagree (corrupt); ${redo}.`);
    }
  };

  const dataStart = async (e: EntryInfo): Promise<number> => {
    if (e.dataStart !== undefined) return e.dataStart;
    const h = await readExact(e.localOffset, e.localOffset + LOCAL_HEADER_SIZE, `the header of "${e.name}"`);
    if (u32(h, 0) !== SIG_LOCAL) {
      throw entryFail(e, `no local file header at offset ${e.localOffset} (the zip is corrupt); ${redo}.`);
    }
    const start = e.localOffset + LOCAL_HEADER_SIZE + u16(h, 26) + u16(h, 28);
    if (start + e.compressedSize > file.size) {
      throw entryFail(e, `its data runs past the end of the zip (truncated); ${redo}.`);
    }
    e.dataStart = start;
    return start;
  };

  const verify = (e: EntryInfo, length: number, crc: number): void => {
    if (length !== e.size) {
      throw entryFail(e, `decompressed to ${length} bytes instead of ${e.size} (corrupt); ${redo}.`);
    }
    if (crc !== e.crc) throw entryFail(e, `CRC-32 mismatch: the data is corrupt; ${redo}.`);
  };

  const inflateError = (e: EntryInfo, err: unknown): DatasetFormatError =>
    err instanceof DatasetFormatError
      ? err
      : entryFail(
          e,
          `the compressed data is corrupt (${err instanceof Error ? err.message : String(err)}); ${redo}.`,
        );

  const readWhole = async (e: EntryInfo): Promise<Uint8Array> => {
    check(e);
    if (e.size > MAX_WHOLE_READ) {
      throw entryFail(e, `is ${e.size} bytes, too large to read whole; read it in ranges instead.`);
    }
    const start = await dataStart(e);
    if (e.method === 0) {
      const bytes = await readExact(start, start + e.size, `the data of "${e.name}"`);
      verify(e, bytes.length, crc32(bytes));
      return bytes;
    }
    return serial(async () => {
      if (progress?.entry === e && progress.done) return progress.out.slice();
      const compressed = await readExact(start, start + e.compressedSize, `the data of "${e.name}"`);
      let out: Uint8Array;
      try {
        out = inflateSync(compressed, { out: new Uint8Array(e.size) });
      } catch (err) {
        throw inflateError(e, err);
      }
      verify(e, out.length, crc32(out));
      if (e.size > maxCached) return out;
      progress = {
        entry: e,
        out,
        have: e.size,
        nextIn: e.compressedSize,
        crc: e.crc,
        done: true,
        inflater: new Inflate(),
      };
      return out.slice();
    });
  };

  /** Feeds compressed chunks to an inflation until it has `target` bytes or the data ends. */
  const advance = async (
    e: EntryInfo,
    state: Progress | Omit<Progress, 'out'>,
    target: number,
  ): Promise<void> => {
    const start = await dataStart(e);
    try {
      while (!state.done && state.have < target) {
        const from = state.nextIn;
        const to = Math.min(e.compressedSize, from + INFLATE_CHUNK);
        const chunk = await readExact(start + from, start + to, `the data of "${e.name}"`);
        state.nextIn = to;
        state.inflater.push(chunk, to === e.compressedSize);
      }
    } catch (err) {
      throw inflateError(e, err);
    }
    if (state.done) verify(e, state.have, state.crc);
  };

  const readDeflatedRange = (e: EntryInfo, s: number, end: number): Promise<Uint8Array> =>
    e.size > maxCached
      ? spillAndSlice(e, s, end)
      : serial(async () => {
          let state = progress?.entry === e ? progress : undefined;
          if (!state) {
            const out = new Uint8Array(e.size);
            const inflater = new Inflate();
            const fresh: Progress = { entry: e, out, have: 0, nextIn: 0, crc: 0, done: false, inflater };
            inflater.ondata = (data, final) => {
              if (fresh.have + data.length > e.size) {
                throw entryFail(e, `decompresses to more than its ${e.size} bytes (corrupt); ${redo}.`);
              }
              out.set(data, fresh.have);
              fresh.have += data.length;
              fresh.crc = crc32(data, fresh.crc);
              if (final) fresh.done = true;
            };
            state = fresh;
          }
          progress = state;
          try {
            await advance(e, state, end);
          } catch (err) {
            progress = undefined;
            throw err;
          }
          return state.out.slice(s, end);
        });

  // Entries too large to keep in memory are inflated once into a Blob (which browsers keep on disk
  // when large), so that ranged reads cost a slice rather than inflating from the entry's start.
  const spilled = new Map<EntryInfo, Promise<Blob>>();
  const spill = (e: EntryInfo): Promise<Blob> => {
    let blob = spilled.get(e);
    if (blob === undefined) {
      blob = (async () => {
        const sink = blobSink(e.size, (detail) => entryFail(e, `${detail} (corrupt); ${redo}.`));
        if (useNative) await inflateNative(e, sink);
        else {
          const inflater = new Inflate();
          const state = { entry: e, have: 0, nextIn: 0, crc: 0, done: false, inflater };
          inflater.ondata = (data, final) => {
            sink.push(data);
            state.have = sink.length();
            state.crc = sink.crc();
            if (final) state.done = true;
          };
          await advance(e, state, e.size);
        }
        const { blob: whole, length, crc } = sink.finish();
        verify(e, length, crc);
        return whole;
      })();
      spilled.set(e, blob);
      blob.catch(() => spilled.delete(e));
    }
    return blob;
  };

  /** Inflates a whole entry with the platform's zlib (DecompressionStream), several times faster. */
  const inflateNative = async (e: EntryInfo, sink: BlobSink): Promise<void> => {
    const start = await dataStart(e);
    const stream = new DecompressionStream('deflate-raw');
    const writer = stream.writable.getWriter();
    const feed = (async () => {
      for (let from = 0; from < e.compressedSize; from += NATIVE_CHUNK) {
        const to = Math.min(e.compressedSize, from + NATIVE_CHUNK);
        await writer.write(
          (await readExact(start + from, start + to, `the data of "${e.name}"`)) as Uint8Array<ArrayBuffer>,
        );
      }
      await writer.close();
    })();
    const reader = stream.readable.getReader();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) sink.push(r.value);
      await feed;
    } catch (err) {
      feed.catch(() => {});
      throw inflateError(e, err);
    }
  };

  const spillAndSlice = async (e: EntryInfo, s: number, end: number): Promise<Uint8Array> => {
    const blob = await spill(e);
    return new Uint8Array(await blob.slice(s, end).arrayBuffer());
  };

  const readRange = async (e: EntryInfo, start: number, end: number): Promise<Uint8Array> => {
    check(e);
    const s = Math.max(0, Math.min(start, e.size));
    const t = Math.max(s, Math.min(end, e.size));
    if (s === t) return new Uint8Array(0);
    if (e.method === 0) {
      const base = await dataStart(e);
      return readExact(base + s, base + t, `the data of "${e.name}"`);
    }
    if (progress?.entry === e && progress.have >= t) return progress.out.slice(s, t);
    return readDeflatedRange(e, s, t);
  };

  return entries.map(
    (e): ZipEntryFile => ({
      path: e.path,
      size: e.size,
      entryName: e.name,
      compressedSize: e.compressedSize,
      method: e.method,
      read: () => readWhole(e),
      readRange: (start, end) => readRange(e, start, end),
    }),
  );
}

function splitError(fail: (detail: string) => DatasetFormatError): DatasetFormatError {
  return fail(
    'this is one part of a split (multi-part) zip, which cannot be read; join the parts into one zip (e.g. `zip -s 0 split.zip --out whole.zip`) or re-create it as a single file.',
  );
}

async function notZipError(
  file: DroppedFile,
  fail: (detail: string) => DatasetFormatError,
  redo: string,
): Promise<DatasetFormatError> {
  const head = await file.readRange(0, 4);
  const sig = head.length === 4 ? u32(head, 0) : 0;
  if (sig === SIG_LOCAL) {
    return fail(`the zip is truncated: its end (the central directory) is missing; ${redo}.`);
  }
  if (sig === SIG_SPANNED) {
    return fail(
      'this is the first part of a split (multi-part) zip; join the parts into one zip (e.g. `zip -s 0 split.zip --out whole.zip`) or re-create it as a single file.',
    );
  }
  return fail(
    'not a zip file (no end of central directory record); drop a .zip archive, or the dataset itself.',
  );
}

function decodeName(bytes: Uint8Array, utf8Flag: boolean): string {
  if (utf8Flag) return new TextDecoder().decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let s = '';
    for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
    return s;
  }
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

function u32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}

function u64(b: Uint8Array, o: number, fail: (detail: string) => DatasetFormatError): number {
  const hi = u32(b, o + 4);
  if (hi >= 0x200000)
    throw fail('a ZIP64 size or offset is beyond 2^53 bytes (corrupt zip); re-create the zip.');
  return hi * 0x100000000 + u32(b, o);
}
