// A lazy zip reader: a dropped .zip becomes the DroppedFiles inside it. Opening reads only the end
// of the archive (EOCD, ZIP64 records) and the central directory; an entry's bytes are read and
// inflated only when that entry is read. A ranged read of a small deflated entry stops inflating once
// it has the bytes asked for; a large one is inflated once into a Blob and sliced (random access into
// a zipped Arrow shard). zip-directory.ts reads the directory; layout facts follow PKWARE's
// APPNOTE.TXT (sections 4.3 and 4.4).

import { Inflate, inflateSync } from 'fflate';
import { DatasetFormatError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import type { DroppedFile } from './files.ts';
import {
  type EntryInfo,
  EOCD_SIZE,
  LOCAL_HEADER_SIZE,
  readZipDirectory,
  SIG_EOCD,
  SIG_LOCAL,
  u16,
  u32,
} from './zip-directory.ts';

/** Reads of the zip up to SMALL_READ bytes go through a cache of aligned blocks of BLOCK bytes. */
const SMALL_READ = 16 * 1024;
const BLOCK = 64 * 1024;
/** Blocks kept (4 MiB). */
const BLOCKS_KEPT = 64;
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

  // Indexing a zip of many small images reads each one's local header and first bytes: neighbouring
  // entries share blocks, so those reads cost one platform read per block instead of two per entry.
  const blocks = new Map<number, Promise<Uint8Array>>();
  const block = (index: number): Promise<Uint8Array> => {
    let b = blocks.get(index);
    if (b === undefined) {
      b = file.readRange(index * BLOCK, Math.min(file.size, (index + 1) * BLOCK));
      blocks.set(index, b);
      b.catch(() => blocks.delete(index));
      if (blocks.size > BLOCKS_KEPT) blocks.delete(blocks.keys().next().value as number);
    } else {
      // Most recently used last, so the oldest is forgotten first.
      blocks.delete(index);
      blocks.set(index, b);
    }
    return b;
  };
  const readZip = async (start: number, end: number): Promise<Uint8Array> => {
    if (end - start > SMALL_READ) return file.readRange(start, end);
    const first = Math.floor(start / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    const parts = await Promise.all(first === last ? [block(first)] : [block(first), block(last)]);
    const out = new Uint8Array(end - start);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const base = (first + i) * BLOCK;
      const piece = (parts[i] as Uint8Array).subarray(Math.max(0, start - base), Math.max(0, end - base));
      out.set(piece, at);
      at += piece.length;
    }
    return out.subarray(0, at);
  };

  const readExact = async (start: number, end: number, what: string): Promise<Uint8Array> => {
    if (end > file.size) throw fail(`the zip is truncated: ${what} lies past its end; ${redo}.`);
    const bytes = await readZip(start, end);
    if (bytes.length !== end - start) {
      throw fail(
        `the zip is truncated: could not read ${what} (${bytes.length} of ${end - start} bytes); ${redo}.`,
      );
    }
    return bytes;
  };

  const entries = await readZipDirectory(file, fail, redo, readExact);

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
