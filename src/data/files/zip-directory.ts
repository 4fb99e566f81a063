// The directory of a zip: the end of central directory record (or its ZIP64 form) found in the
// archive's tail, then the central directory's entries with their names, sizes, compression methods
// and local header offsets. Layout facts follow PKWARE's APPNOTE.TXT (sections 4.3.12 to 4.3.16).

import type { DatasetFormatError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { type DroppedFile, normalisePath } from './files.ts';

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_ZIP64_EOCD = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_SPANNED = 0x08074b50;
export const EOCD_SIZE = 22;
/** The EOCD plus the longest comment it may carry. */
export const EOCD_SEARCH = EOCD_SIZE + 0xffff;
export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const ZIP64_EOCD_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;

/** CP437's characters for bytes 0x80-0xFF (the DOS code page zip names use without flag bit 11). */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' +
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export interface EntryInfo {
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

export type Fail = (detail: string) => DatasetFormatError;
export type ReadExact = (start: number, end: number, what: string) => Promise<Uint8Array>;

/**
 * The file entries of the zip (directories, `__MACOSX/` and `.DS_Store` left out), reading only the
 * archive's end and its central directory. Names are UTF-8 when flag bit 11 says so (or an Info-ZIP
 * Unicode Path field gives one); otherwise UTF-8 when the bytes are valid UTF-8 (macOS writes UTF-8
 * without the flag), else CP437.
 */
export async function readZipDirectory(
  file: DroppedFile,
  fail: Fail,
  redo: string,
  readExact: ReadExact,
): Promise<EntryInfo[]> {
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
  return entries;
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

export function u16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

export function u32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}

export function u64(b: Uint8Array, o: number, fail: (detail: string) => DatasetFormatError): number {
  const hi = u32(b, o + 4);
  if (hi >= 0x200000)
    throw fail('a ZIP64 size or offset is beyond 2^53 bytes (corrupt zip); re-create the zip.');
  return hi * 0x100000000 + u32(b, o);
}
