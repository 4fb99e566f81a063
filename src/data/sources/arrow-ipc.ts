// Arrow IPC over a DroppedFile without reading it whole: a scanner of the message headers (stream
// format, legacy framing, file format) that locates every record batch, and a decoder that hands
// apache-arrow one batch at a time (schema + dictionaries + that batch), so one batch is in memory.

import { Message, type RecordBatch, RecordBatchReader, type Schema } from 'apache-arrow';
import { DatasetFormatError } from '../errors.ts';
import type { DroppedFile } from '../files/files.ts';

/** One record batch of an IPC file: where its message and body lie. */
export interface IpcBatchLocation {
  /** File offset of the message (its length prefix). */
  readonly offset: number;
  /** Length of the flatbuffer Message metadata (padding included). */
  readonly metadataLength: number;
  /** File offset and length of the message body (the batch's buffers). */
  readonly bodyOffset: number;
  readonly bodyLength: number;
  readonly rows: number;
}

/** A message kept whole (its metadata and body), re-framed in the current stream format. */
export interface IpcRawMessage {
  readonly metadata: Uint8Array;
  readonly body: Uint8Array;
}

export interface IpcLayout {
  readonly file: DroppedFile;
  readonly format: 'stream' | 'legacy-stream' | 'file';
  /** The Schema message's flatbuffer metadata. */
  readonly schemaMetadata: Uint8Array;
  readonly dictionaries: readonly IpcRawMessage[];
  readonly batches: readonly IpcBatchLocation[];
  readonly numRows: number;
  /** Set when the bodies are compressed (then decoding needs a registered codec). */
  readonly compression?: string;
}

const CONTINUATION = 0xffffffff; // read back as int32: -1
const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
/** Bytes read at each message start: the prefix plus, usually, the whole metadata. */
const PROBE = 4096;

function int32At(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getInt32(0, true);
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  if (bytes.length < at + MAGIC.length) return false;
  return MAGIC.every((b, i) => bytes[at + i] === b);
}

function decodeMessage(file: DroppedFile, metadata: Uint8Array, at: number): Message {
  try {
    return Message.decode(metadata);
  } catch (e) {
    throw new DatasetFormatError(
      file.path,
      `not a readable Arrow IPC file: the message at byte ${at} cannot be decoded (${(e as Error).message}). Is the file corrupt or not Arrow?`,
    );
  }
}

async function readExactly(
  file: DroppedFile,
  start: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  if (start + length > file.size) {
    throw new DatasetFormatError(
      file.path,
      `the file is truncated: ${what} at byte ${start} needs ${length} bytes but the file ends at ${file.size}. Copy the file again in full.`,
    );
  }
  const bytes = await file.readRange(start, start + length);
  if (bytes.length !== length) {
    throw new DatasetFormatError(
      file.path,
      `could not read ${length} bytes at ${start} (got ${bytes.length}).`,
    );
  }
  return bytes;
}

/**
 * Locates the schema, dictionaries and record batches of an Arrow IPC file (stream or file format)
 * by reading only the message headers (and dictionary bodies, which are small and needed by every
 * batch). Throws DatasetFormatError when the file is not Arrow IPC or is truncated.
 */
export async function scanArrowIpc(file: DroppedFile): Promise<IpcLayout> {
  const size = file.size;
  if (size < 8) {
    throw new DatasetFormatError(
      file.path,
      `not an Arrow IPC file: only ${size} bytes. Drop the whole save_to_disk folder.`,
    );
  }
  const head = await file.readRange(0, Math.min(size, 8));
  let format: IpcLayout['format'] = 'stream';
  let pos = 0;
  let end = size;
  if (hasMagic(head, 0)) {
    format = 'file';
    pos = 8;
    const tail = await readExactly(file, size - 10, 10, 'the footer');
    if (!hasMagic(tail, 4)) {
      throw new DatasetFormatError(
        file.path,
        'the Arrow file is truncated: its closing "ARROW1" magic is missing. Copy the file again in full.',
      );
    }
    const footerLength = int32At(tail, 0);
    const footerStart = size - 10 - footerLength;
    if (footerLength <= 0 || footerStart < pos) {
      throw new DatasetFormatError(
        file.path,
        'the Arrow file footer is corrupt. Copy the file again in full.',
      );
    }
    end = footerStart;
  } else if (head[0] !== 0xff || head[1] !== 0xff || head[2] !== 0xff || head[3] !== 0xff) {
    format = 'legacy-stream';
    const len = int32At(head, 0);
    if (len <= 0 || len > size - 4) {
      throw new DatasetFormatError(
        file.path,
        'not an Arrow IPC file: it starts with neither the Arrow stream marker nor "ARROW1". HF save_to_disk writes Arrow stream files; check that this is one.',
      );
    }
  }

  let schemaMetadata: Uint8Array | undefined;
  const dictionaries: IpcRawMessage[] = [];
  const batches: IpcBatchLocation[] = [];
  let numRows = 0;
  let compression: string | undefined;

  while (pos < end) {
    if (end - pos < 4) throw truncated(file, pos);
    const probe = await file.readRange(pos, Math.min(end, pos + PROBE));
    let prefix = 4;
    let metadataLength = int32At(probe, 0);
    if (int32At(probe, 0) === -1) {
      if (probe.length < 8) throw truncated(file, pos);
      prefix = 8;
      metadataLength = int32At(probe, 4);
    }
    if (metadataLength === 0) break; // end-of-stream marker
    if (metadataLength < 0 || pos + prefix + metadataLength > end) {
      if (schemaMetadata === undefined) {
        throw new DatasetFormatError(
          file.path,
          'not an Arrow IPC file: the first message length is invalid. Is the file corrupt or not Arrow?',
        );
      }
      throw truncated(file, pos);
    }
    const metadata =
      prefix + metadataLength <= probe.length
        ? probe.slice(prefix, prefix + metadataLength)
        : await readExactly(file, pos + prefix, metadataLength, 'a message header');
    const message = decodeMessage(file, metadata, pos);
    const bodyOffset = pos + prefix + metadataLength;
    const bodyLength = Number(message.bodyLength);
    if (!Number.isFinite(bodyLength) || bodyLength < 0 || bodyOffset + bodyLength > end)
      throw truncated(file, pos);
    if (schemaMetadata === undefined && !message.isSchema() && format === 'file') {
      // Writers may keep a file's schema in its footer only (apache-arrow JS does).
      schemaMetadata = await schemaFromFooter(file, end);
    }
    if (schemaMetadata === undefined && !message.isSchema()) {
      throw new DatasetFormatError(
        file.path,
        'not a valid Arrow IPC stream: the first message is not a schema. Is the file corrupt?',
      );
    }
    if (message.isSchema()) {
      if (schemaMetadata === undefined) schemaMetadata = metadata;
    } else if (message.isDictionaryBatch()) {
      dictionaries.push({
        metadata,
        body: new Uint8Array(await readExactly(file, bodyOffset, bodyLength, 'a dictionary')),
      });
    } else if (message.isRecordBatch()) {
      const header = message.header();
      const rows = Number(header.length);
      const codec = header.compression;
      if (codec && compression === undefined) compression = codecName(codec.type);
      batches.push({ offset: pos, metadataLength, bodyOffset, bodyLength, rows });
      numRows += rows;
    }
    pos = bodyOffset + bodyLength;
  }
  if (schemaMetadata === undefined) {
    throw new DatasetFormatError(
      file.path,
      'not a valid Arrow IPC stream: it holds no schema. Is the file empty or corrupt?',
    );
  }
  return {
    file,
    format,
    schemaMetadata,
    dictionaries,
    batches,
    numRows,
    ...(compression ? { compression } : {}),
  };
}

/** The footer's schema, re-encoded as a Schema message (read by apache-arrow from the footer bytes alone). */
async function schemaFromFooter(file: DroppedFile, footerStart: number): Promise<Uint8Array> {
  const footer = await readExactly(file, footerStart, file.size - footerStart, 'the footer');
  const mini = new Uint8Array(8 + footer.length);
  mini.set(MAGIC, 0);
  mini.set(footer, 8);
  try {
    const reader = RecordBatchReader.from(mini);
    reader.open();
    return Message.encode(Message.from(reader.schema));
  } catch (e) {
    throw new DatasetFormatError(
      file.path,
      `the Arrow file footer cannot be read (${(e as Error).message}). Is the file corrupt?`,
    );
  }
}

function codecName(type: number): string {
  return type === 0 ? 'LZ4_FRAME' : type === 1 ? 'ZSTD' : `codec ${type}`;
}

function truncated(file: DroppedFile, at: number): DatasetFormatError {
  return new DatasetFormatError(
    file.path,
    `the file is truncated or corrupt: the Arrow message at byte ${at} runs past the end of the data (${file.size} bytes). Copy the file again in full.`,
  );
}

/** A decoded batch together with the buffer its body was copied into (for locating values). */
export interface DecodedBatch {
  readonly batch: RecordBatch;
  /** The buffer apache-arrow read from; the body lies at [bodyStart, bodyStart + bodyLength). */
  readonly buffer: ArrayBuffer;
  readonly bodyStart: number;
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** Writes one message in the current stream framing (continuation, length, metadata padded to 8, body). */
function frame(out: Uint8Array, at: number, metadata: Uint8Array, body: Uint8Array | null): number {
  const view = new DataView(out.buffer, out.byteOffset);
  const metaLen = pad8(metadata.length);
  view.setUint32(at, CONTINUATION, true);
  view.setInt32(at + 4, metaLen, true);
  out.set(metadata, at + 8);
  let p = at + 8 + metaLen;
  if (body) {
    out.set(body, p);
    p += body.length;
  }
  return p;
}

/**
 * Decodes record batch `index` of a scanned file: reads its body with one readRange and gives
 * apache-arrow the schema, the dictionaries and that batch only.
 */
export async function decodeIpcBatch(layout: IpcLayout, index: number): Promise<DecodedBatch> {
  const loc = layout.batches[index];
  if (!loc) throw new RangeError(`batch ${index} out of range`);
  const file = layout.file;
  const prefix = layout.format === 'legacy-stream' ? 4 : 8;
  const raw = await readExactly(
    file,
    loc.offset + prefix,
    loc.metadataLength + loc.bodyLength,
    'a record batch',
  );
  const metadata = raw.subarray(0, loc.metadataLength);
  const body = raw.subarray(loc.metadataLength);
  let total = 8 + pad8(layout.schemaMetadata.length);
  for (const d of layout.dictionaries) total += 8 + pad8(d.metadata.length) + d.body.length;
  total += 8 + pad8(metadata.length) + body.length + 8;
  const out = new Uint8Array(total);
  let p = frame(out, 0, layout.schemaMetadata, null);
  for (const d of layout.dictionaries) p = frame(out, p, d.metadata, d.body);
  const bodyStart = p + 8 + pad8(metadata.length);
  p = frame(out, p, metadata, body);
  new DataView(out.buffer).setUint32(p, CONTINUATION, true); // end-of-stream: continuation, length 0
  let batch: RecordBatch | undefined;
  try {
    const reader = RecordBatchReader.from(out);
    for (const b of reader) {
      batch = b;
      break;
    }
  } catch (e) {
    if (layout.compression) {
      throw new DatasetFormatError(
        file.path,
        `the Arrow batches are ${layout.compression}-compressed and cannot be decoded here (${(e as Error).message}). Save the dataset without compression (datasets' save_to_disk writes it uncompressed).`,
      );
    }
    throw new DatasetFormatError(
      file.path,
      `record batch ${index} cannot be decoded (${(e as Error).message}). Is the file corrupt?`,
    );
  }
  if (!batch)
    throw new DatasetFormatError(file.path, `record batch ${index} cannot be decoded. Is the file corrupt?`);
  return { batch, buffer: out.buffer, bodyStart };
}

/** The Schema of a scanned file (fields and the schema's key/value metadata). */
export function ipcSchema(layout: IpcLayout): Schema {
  const message = decodeMessage(layout.file, layout.schemaMetadata, 0);
  if (!message.isSchema()) throw new DatasetFormatError(layout.file.path, 'the schema message is invalid.');
  return message.header();
}
