// Parquet datasets (HF hub exports and others) as a TabularTable: the dropped .parquet files grouped
// by split, read lazily through DroppedFile.readRange one row group at a time, with HF Image columns
// turned into ImageCells whose bytes are re-read per row on demand.

import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type SchemaElement,
  type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DatasetFormatError } from '../errors.ts';
import { basename, type DroppedFile, type DroppedFiles, dirname } from '../files/files.ts';
import {
  type EmbeddedImage,
  HEAD_BYTES,
  type ImageCell,
  type TableObject,
  type TableRecord,
  type TableValue,
  type TabularTable,
} from './table.ts';

export interface ParquetOpenOptions {
  /** The split to open when the files hold several; default 'train', else the only one. */
  split?: string;
  /** What to call the table in messages; default the shards' common folder (or the one file). */
  source?: string;
}

const DEFAULT_SPLIT = 'train';
const KNOWN_SPLITS = new Set(['train', 'test', 'validation', 'valid', 'val', 'dev', 'eval', 'evaluation']);
/** Footer bytes asked for first (a second read gets the rest of a larger footer). */
const FOOTER_FETCH = 16 * 1024;
const MAGIC = 'PAR1';

export function looksLikeParquet(files: DroppedFiles): boolean {
  return files.some((f) => isParquetPath(f.path));
}

function isParquetPath(path: string): boolean {
  return /\.parquet$/i.test(path) && !basename(path).startsWith('.');
}

/**
 * The split a file belongs to: `train-00000-of-00003.parquet` and `train.parquet` by name,
 * `<config>/<split>/0000.parquet` (also `partial-<split>`) or `train/anything.parquet` by folder;
 * any other name counts as a shard of the default split.
 */
function splitOfPath(path: string): string {
  const parts = path.split('/');
  const stem = (parts[parts.length - 1] ?? '').replace(/\.parquet$/i, '');
  const shard = /^(.+?)[-_]\d+-of-\d+(?:[-_.].*)?$/i.exec(stem);
  if (shard?.[1]) return shard[1];
  if (KNOWN_SPLITS.has(stem.toLowerCase())) return stem;
  const parent = parts.length > 1 ? (parts[parts.length - 2] ?? '').replace(/^partial-/, '') : '';
  if (parent && (KNOWN_SPLITS.has(parent.toLowerCase()) || /^\d+$/.test(stem))) return parent;
  return DEFAULT_SPLIT;
}

const collator = new Intl.Collator('en', { numeric: true });

interface Shard {
  readonly file: DroppedFile;
  readonly buffer: AsyncBuffer;
  readonly metadata: FileMetaData;
  /** Row index of this shard's first row in the whole table. */
  readonly firstRow: number;
  readonly numRows: number;
  /** The image bytes of the row group read last (one column), while they fit GROUP_CACHE_BYTES. */
  cache?: { column: string; start: number; images: (Uint8Array | undefined)[] };
}

/** Reading one row's image decodes its row group's column anyway: keep up to this much of it. */
const GROUP_CACHE_BYTES = 64 * 1024 * 1024;

export async function openParquetDataset(
  files: DroppedFiles,
  options: ParquetOpenOptions = {},
): Promise<TabularTable> {
  const parquetFiles = files.filter((f) => isParquetPath(f.path));
  if (parquetFiles.length === 0) {
    throw new DatasetFormatError(
      options.source ?? 'the dropped files',
      'no .parquet file found: drop the Parquet files of the dataset (or the folder that holds them)',
    );
  }
  const bySplit = new Map<string, DroppedFile[]>();
  for (const f of parquetFiles) {
    const split = splitOfPath(f.path);
    const list = bySplit.get(split);
    if (list) list.push(f);
    else bySplit.set(split, [f]);
  }
  const splits = [...bySplit.keys()].sort(collator.compare);
  const split = chooseSplit(splits, options, commonSource(parquetFiles));
  const chosen = [...(bySplit.get(split) ?? [])].sort((a, b) => collator.compare(a.path, b.path));
  const source = options.source ?? commonSource(chosen);

  const shards: Shard[] = [];
  let firstRow = 0;
  for (const file of chosen) {
    const buffer = asyncBufferOf(file);
    const metadata = await readMetadata(file, buffer);
    const reference = shards[0];
    if (reference && schemaKey(metadata.schema) !== schemaKey(reference.metadata.schema)) {
      const difference = schemaDifference(reference.metadata.schema, metadata.schema);
      throw new DatasetFormatError(
        source,
        `${file.path} has a different schema from ${reference.file.path} (${difference}): all shards of a ` +
          'split must share one schema; drop the files of one dataset configuration only',
      );
    }
    const numRows = Number(metadata.num_rows);
    shards.push({ file, buffer, metadata, firstRow, numRows });
    firstRow += numRows;
  }

  const first = shards[0] as Shard;
  const tree = parquetSchema(first.metadata);
  const columns = tree.children.map((c) => c.element.name);
  const imageColumns = findImageColumns(tree, first.metadata);
  const imageSet = new Set(imageColumns);

  return {
    source,
    container: 'parquet',
    numRows: firstRow,
    columns,
    imageColumns,
    splits,
    split,
    records: () => readRecords(shards, columns, imageSet),
  };
}

function chooseSplit(splits: string[], options: ParquetOpenOptions, where: string): string {
  const list = splits.map((s) => `"${s}"`).join(', ');
  if (options.split !== undefined) {
    if (splits.includes(options.split)) return options.split;
    throw new DatasetFormatError(
      options.source ?? where,
      `no split "${options.split}" among the Parquet files (splits found: ${list}); choose one of these`,
    );
  }
  if (splits.includes(DEFAULT_SPLIT)) return DEFAULT_SPLIT;
  if (splits.length === 1) return splits[0] as string;
  throw new DatasetFormatError(
    options.source ?? where,
    `the Parquet files hold several splits (${list}) and none is "${DEFAULT_SPLIT}": choose one with the split option`,
  );
}

function commonSource(files: readonly DroppedFile[]): string {
  if (files.length === 1) return (files[0] as DroppedFile).path;
  let common = dirname((files[0] as DroppedFile).path).split('/');
  for (const f of files) {
    const dirs = dirname(f.path).split('/');
    let n = 0;
    while (n < common.length && n < dirs.length && common[n] === dirs[n]) n++;
    common = common.slice(0, n);
  }
  return common.join('/') || '.';
}

function asyncBufferOf(file: DroppedFile): AsyncBuffer {
  return {
    byteLength: file.size,
    slice: async (start: number, end?: number): Promise<ArrayBuffer> => {
      const bytes = await file.readRange(start, end ?? file.size);
      if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
        return bytes.buffer as ArrayBuffer;
      }
      return new Uint8Array(bytes).buffer as ArrayBuffer; // a copy: Buffer.slice is a view
    },
  };
}

async function readMetadata(file: DroppedFile, buffer: AsyncBuffer): Promise<FileMetaData> {
  if (file.size < 12) {
    throw new DatasetFormatError(
      file.path,
      `only ${file.size} bytes, too small to be a Parquet file: it is empty or truncated; download or export it again`,
    );
  }
  const head = await guarded(file, () => file.readRange(0, 4));
  if (new TextDecoder().decode(head) !== MAGIC) {
    throw new DatasetFormatError(
      file.path,
      'not a Parquet file (it does not start with "PAR1"): drop the .parquet files as downloaded from the hub, or export the data with pyarrow / datasets (`to_parquet`)',
    );
  }
  const metadata = await guarded(file, () =>
    parquetMetadataAsync(buffer, { initialFetchSize: FOOTER_FETCH }),
  );
  if (!Array.isArray(metadata.schema) || metadata.schema.length < 2 || !Array.isArray(metadata.row_groups)) {
    throw new DatasetFormatError(
      file.path,
      'the Parquet footer holds no columns: the file is corrupt; export it again',
    );
  }
  return metadata;
}

/** Runs a hyparquet call, turning its errors into DatasetFormatError with what to do. */
async function guarded<T>(file: DroppedFile, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw describeError(file, err);
  }
}

function describeError(file: DroppedFile, err: unknown): Error {
  if (err instanceof DatasetFormatError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const codec = /unsupported compression codec:?\s*(\S+)/i.exec(message);
  if (codec) {
    return new DatasetFormatError(
      file.path,
      `compressed with ${codec[1]}, which this reader cannot decompress: re-export it with snappy, zstd or gzip compression (pyarrow's default is snappy)`,
    );
  }
  if (/footer|PAR1/.test(message)) {
    return new DatasetFormatError(
      file.path,
      `not a complete Parquet file (${message}): it is truncated or not Parquet; download or export it again`,
    );
  }
  if (/encoding|not supported|unsupported/i.test(message)) {
    return new DatasetFormatError(
      file.path,
      `uses a Parquet feature this reader does not support (${message}): re-export it with pyarrow's defaults (e.g. datasets' \`to_parquet\`)`,
    );
  }
  return new DatasetFormatError(
    file.path,
    `cannot be read as Parquet (${message}): the file is corrupt or truncated; download or export it again`,
  );
}

/** The schema as compared between shards: names, types and nesting; REQUIRED and OPTIONAL count as one. */
function schemaKey(schema: readonly SchemaElement[]): string {
  return JSON.stringify(schema.slice(1).map(elementKey));
}

function elementKey(e: SchemaElement): string {
  const rep = e.repetition_type === 'REPEATED' ? 'repeated' : '';
  return [e.name, e.type ?? 'group', e.num_children ?? 0, rep, e.converted_type ?? ''].join(':');
}

function schemaDifference(a: readonly SchemaElement[], b: readonly SchemaElement[]): string {
  const namesA = a.slice(1).map((e) => e.name);
  const namesB = b.slice(1).map((e) => e.name);
  for (let i = 0; i < Math.max(namesA.length, namesB.length); i++) {
    const ea = a[i + 1];
    const eb = b[i + 1];
    if (!ea || !eb) return `column "${(ea ?? eb)?.name}" is only in one of them`;
    if (elementKey(ea) !== elementKey(eb)) {
      return ea.name === eb.name
        ? `column "${ea.name}" differs in type`
        : `"${ea.name}" against "${eb.name}"`;
    }
  }
  return 'the schemas differ';
}

/** HF Image features from the 'huggingface' metadata, else struct<bytes: binary, path: string> columns. */
function findImageColumns(tree: SchemaTree, metadata: FileMetaData): string[] {
  const names = tree.children.map((c) => c.element.name);
  const features = huggingfaceFeatures(metadata);
  const fromHf = names.filter((n) => isImageFeature(features?.[n]));
  const fromSchema = tree.children.filter(isImageStruct).map((c) => c.element.name);
  return names.filter((n) => fromHf.includes(n) || fromSchema.includes(n));
}

function huggingfaceFeatures(metadata: FileMetaData): Record<string, unknown> | undefined {
  const entry = metadata.key_value_metadata?.find((kv) => kv.key === 'huggingface');
  if (!entry?.value) return undefined;
  try {
    const parsed: unknown = JSON.parse(entry.value);
    const info = isObject(parsed) && isObject(parsed.info) ? parsed.info : parsed;
    return isObject(info) && isObject(info.features) ? info.features : undefined;
  } catch {
    return undefined;
  }
}

function isImageFeature(feature: unknown): boolean {
  return isObject(feature) && feature._type === 'Image';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isImageStruct(node: SchemaTree): boolean {
  if (node.element.repetition_type === 'REPEATED' || node.children.length === 0) return false;
  const field = (name: string) => node.children.find((c) => c.element.name === name)?.element;
  const bytes = field('bytes');
  const path = field('path');
  const isString = (e: SchemaElement) => e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING';
  return (
    bytes?.type === 'BYTE_ARRAY' &&
    !isString(bytes) &&
    path?.type === 'BYTE_ARRAY' &&
    isString(path) &&
    bytes.repetition_type !== 'REPEATED' &&
    path.repetition_type !== 'REPEATED'
  );
}

async function* readRecords(
  shards: readonly Shard[],
  columns: readonly string[],
  imageColumns: ReadonlySet<string>,
): AsyncGenerator<TableRecord> {
  for (const shard of shards) {
    let groupStart = 0;
    for (const group of shard.metadata.row_groups) {
      const groupRows = Number(group.num_rows);
      if (groupRows === 0) continue;
      const rows = await guarded(shard.file, () =>
        parquetReadObjects({
          file: shard.buffer,
          metadata: shard.metadata,
          rowStart: groupStart,
          rowEnd: groupStart + groupRows,
          utf8: false,
          compressors,
        }),
      );
      for (let i = 0; i < rows.length; i++) {
        const raw = rows[i] as Record<string, unknown>;
        const local = groupStart + i;
        const value: TableObject = {};
        for (const name of columns) {
          value[name] = imageColumns.has(name)
            ? imageCellOf(raw[name], shard, name, local)
            : toTableValue(raw[name]);
        }
        yield { row: shard.firstRow + local, value };
      }
      groupStart += groupRows;
    }
  }
}

/** A plain JS value from hyparquet's output: bigint to number, typed arrays to arrays, binary to null. */
function toTableValue(v: unknown): TableValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'number':
      return v;
    case 'bigint':
      return Number(v);
    case 'object':
      break;
    default:
      return null;
  }
  if (v instanceof Uint8Array) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Array.isArray(v)) return v.map(toTableValue);
  if (ArrayBuffer.isView(v)) {
    return Array.from(v as unknown as ArrayLike<number | bigint>, toTableValue);
  }
  const out: TableObject = {};
  for (const [k, x] of Object.entries(v)) out[k] = toTableValue(x);
  return out;
}

function imageCellOf(v: unknown, shard: Shard, column: string, localRow: number): ImageCell | null {
  if (typeof v === 'string') return { kind: 'image', path: v };
  if (!isObject(v)) return null;
  const path = typeof v.path === 'string' ? v.path : undefined;
  const bytes = v.bytes instanceof Uint8Array ? v.bytes : undefined;
  if (path === undefined && bytes === undefined) return null;
  const cell: { kind: 'image'; path?: string; bytes?: EmbeddedImage } = { kind: 'image' };
  if (path !== undefined) cell.path = path;
  if (bytes !== undefined) {
    cell.bytes = embeddedImage(bytes.length, bytes.slice(0, HEAD_BYTES), shard, column, localRow);
  }
  return cell;
}

/** Kept apart from the row group's data so that read() holds only the shard and the row's place. */
function embeddedImage(
  length: number,
  head: Uint8Array,
  shard: Shard,
  column: string,
  localRow: number,
): EmbeddedImage {
  return { length, head, read: () => readImageAt(shard, column, localRow) };
}

async function readImageAt(shard: Shard, column: string, localRow: number): Promise<Uint8Array> {
  const cached = shard.cache;
  if (
    cached?.column === column &&
    localRow >= cached.start &&
    localRow < cached.start + cached.images.length
  ) {
    const hit = cached.images[localRow - cached.start];
    if (hit !== undefined) return hit.slice();
  }
  // The whole row group: the column chunk is decompressed whole either way.
  let start = 0;
  let rows = 1;
  for (const group of shard.metadata.row_groups) {
    rows = Number(group.num_rows);
    if (localRow < start + rows) break;
    start += rows;
  }
  const values = await guarded(shard.file, () =>
    parquetReadObjects({
      file: shard.buffer,
      metadata: shard.metadata,
      columns: [column],
      rowStart: start,
      rowEnd: start + rows,
      utf8: false,
      compressors,
      useOffsetIndex: true,
    }),
  );
  const images = values.map((v) => {
    const cell = (v as Record<string, unknown>)[column];
    const bytes = isObject(cell) ? cell.bytes : undefined;
    return bytes instanceof Uint8Array ? bytes : undefined;
  });
  const bytes = images[localRow - start];
  if (bytes === undefined) {
    throw new DatasetFormatError(
      shard.file.path,
      `row ${localRow} of column "${column}" holds no image bytes on a second read: the file changed or is corrupt; drop it again`,
    );
  }
  const total = images.reduce((n, b) => n + (b?.length ?? 0), 0);
  shard.cache = total <= GROUP_CACHE_BYTES ? { column, start, images } : undefined;
  return bytes.slice();
}
