// HF `datasets.save_to_disk` folders (one split, or a DatasetDict of splits) as a TabularTable: the
// shards named by state.json, read one Arrow record batch at a time, with Image columns handed over as
// ImageCell whose bytes are re-read from the file on demand.

import { DataType, type Field, type RecordBatch, type Schema, type Vector } from 'apache-arrow';
import { DatasetFormatError } from '../errors.ts';
import { basename, type DroppedFile, type DroppedFiles, dirname, normalisePath } from '../files/files.ts';
import { type DecodedBatch, decodeIpcBatch, type IpcLayout, ipcSchema, scanArrowIpc } from './arrow-ipc.ts';
import {
  type EmbeddedImage,
  HEAD_BYTES,
  type ImageCell,
  type TableObject,
  type TableRecord,
  type TableValue,
  type TabularTable,
} from './table.ts';

function join(folder: string, name: string): string {
  return normalisePath(folder ? `${folder}/${name}` : name);
}

function depth(path: string): number {
  return path.split('/').length;
}

const MARKERS = new Set(['state.json', 'dataset_dict.json']);

/** Whether the drop looks like an HF save_to_disk folder: a state.json, dataset_dict.json or *.arrow. */
export function looksLikeHfArrow(files: DroppedFiles): boolean {
  return files.some((f) => {
    const name = basename(normalisePath(f.path));
    return MARKERS.has(name) || name.toLowerCase().endsWith('.arrow');
  });
}

async function readJson(file: DroppedFile, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await file.read());
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DatasetFormatError(
      file.path,
      `${what} is not valid JSON (${(e as Error).message}). Copy the save_to_disk folder again or re-save the dataset.`,
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The shallowest file named `name` (or ending with it, for '.arrow'), ties broken by path. */
function shallowest(files: DroppedFile[], match: (name: string) => boolean): DroppedFile | undefined {
  return files
    .filter((f) => match(basename(f.path)))
    .sort((a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))[0];
}

const isArrowName = (name: string): boolean => name.toLowerCase().endsWith('.arrow');

/** The folder to open: given by options.source (a folder or a file in it) or found in the drop. */
function findRoot(byPath: Map<string, DroppedFile>, all: DroppedFile[], source?: string): string {
  if (source !== undefined) {
    const s = normalisePath(source);
    const name = basename(s);
    if (byPath.has(s) && (MARKERS.has(name) || name === 'dataset_info.json' || isArrowName(name)))
      return dirname(s);
    if (!all.some((f) => f.path.startsWith(`${s}/`) || s === '')) {
      throw new DatasetFormatError(source, 'no such folder in the drop. Name a folder of the dropped files.');
    }
    return s;
  }
  const marker =
    shallowest(all, (n) => n === 'dataset_dict.json') ??
    shallowest(all, (n) => n === 'state.json') ??
    shallowest(all, isArrowName);
  if (!marker) {
    throw new DatasetFormatError(
      'drop',
      'no HF save_to_disk folder found: expected state.json, dataset_dict.json or data-*.arrow files. Drop the folder that save_to_disk wrote.',
    );
  }
  return dirname(marker.path);
}

interface SplitChoice {
  folder: string;
  splits?: string[];
  split?: string;
}

async function chooseSplit(
  byPath: Map<string, DroppedFile>,
  root: string,
  wanted?: string,
): Promise<SplitChoice> {
  const dictFile = byPath.get(join(root, 'dataset_dict.json'));
  if (!dictFile) {
    if (wanted !== undefined) {
      const sub = join(root, wanted);
      if ([...byPath.keys()].some((p) => p.startsWith(`${sub}/`))) return { folder: sub, split: wanted };
    }
    return { folder: root };
  }
  const dict = await readJson(dictFile, 'dataset_dict.json');
  const splits = isObject(dict) && Array.isArray(dict.splits) ? dict.splits : undefined;
  if (!splits || splits.length === 0 || !splits.every((s): s is string => typeof s === 'string')) {
    throw new DatasetFormatError(
      dictFile.path,
      'dataset_dict.json has no "splits" list of names. Re-save the DatasetDict with save_to_disk.',
    );
  }
  let split: string;
  if (wanted !== undefined) {
    if (!splits.includes(wanted)) {
      throw new DatasetFormatError(
        dictFile.path,
        `the dataset has no split "${wanted}"; its splits are ${splits.map((s) => `"${s}"`).join(', ')}.`,
      );
    }
    split = wanted;
  } else if (splits.includes('train')) split = 'train';
  else if (splits.length === 1) split = splits[0] as string;
  else {
    throw new DatasetFormatError(
      dictFile.path,
      `the DatasetDict has splits ${splits.map((s) => `"${s}"`).join(', ')} and none is "train": choose one with the split option.`,
    );
  }
  return { folder: join(root, split), splits, split };
}

async function shardFiles(
  byPath: Map<string, DroppedFile>,
  all: DroppedFile[],
  folder: string,
): Promise<DroppedFile[]> {
  const stateFile = byPath.get(join(folder, 'state.json'));
  if (stateFile) {
    const state = await readJson(stateFile, 'state.json');
    const list = isObject(state) ? state._data_files : undefined;
    if (!Array.isArray(list) || list.length === 0) {
      throw new DatasetFormatError(
        stateFile.path,
        'state.json has no "_data_files" list. Re-save the dataset with save_to_disk.',
      );
    }
    return list.map((entry) => {
      const name = isObject(entry) ? entry.filename : undefined;
      if (typeof name !== 'string') {
        throw new DatasetFormatError(
          stateFile.path,
          'state.json has a "_data_files" entry without a "filename".',
        );
      }
      const file = byPath.get(join(folder, name));
      if (!file) {
        throw new DatasetFormatError(
          stateFile.path,
          `state.json lists the shard "${name}" but the drop has no such file next to it. Drop the whole save_to_disk folder.`,
        );
      }
      return file;
    });
  }
  const arrows = all.filter((f) => dirname(f.path) === folder && isArrowName(basename(f.path)));
  if (arrows.length === 0) {
    throw new DatasetFormatError(
      folder || '.',
      'the folder holds no state.json and no .arrow files. Drop the folder save_to_disk wrote.',
    );
  }
  return arrows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The HF `features` dict: dataset_info.json's, else the one in the schema's 'huggingface' metadata. */
async function hfFeatures(
  byPath: Map<string, DroppedFile>,
  folder: string,
  schema: Schema,
): Promise<Record<string, unknown> | undefined> {
  const infoFile = byPath.get(join(folder, 'dataset_info.json'));
  if (infoFile) {
    const info = await readJson(infoFile, 'dataset_info.json');
    if (isObject(info) && isObject(info.features)) return info.features;
  }
  const meta = schema.metadata.get('huggingface');
  if (meta) {
    try {
      const parsed: unknown = JSON.parse(meta);
      if (isObject(parsed) && isObject(parsed.info) && isObject(parsed.info.features))
        return parsed.info.features;
    } catch {
      // unreadable metadata: fall back to the column types
    }
  }
  return undefined;
}

const isStringType = (t: DataType): boolean =>
  DataType.isUtf8(t) || DataType.isLargeUtf8(t) || DataType.isUtf8View(t);
const isBinaryType = (t: DataType): boolean => DataType.isBinary(t) || DataType.isLargeBinary(t);

function structChild(type: DataType, name: string): Field | undefined {
  return DataType.isStruct(type) ? type.children.find((c) => c.name === name) : undefined;
}

function isImageStruct(type: DataType): boolean {
  const bytes = structChild(type, 'bytes');
  const path = structChild(type, 'path');
  return !!bytes && !!path && isBinaryType(bytes.type) && isStringType(path.type);
}

function imageColumnsOf(schema: Schema, features: Record<string, unknown> | undefined): string[] {
  const out: string[] = [];
  for (const field of schema.fields) {
    const usable =
      isStringType(field.type) ||
      (DataType.isStruct(field.type) &&
        (!!structChild(field.type, 'bytes') || !!structChild(field.type, 'path')));
    if (features) {
      const feature = features[field.name];
      if (usable && isObject(feature) && feature._type === 'Image') out.push(field.name);
    } else if (isImageStruct(field.type)) out.push(field.name);
  }
  return out;
}

/** Converts an apache-arrow value of `type` to a plain TableValue. */
function toTableValue(type: DataType, v: unknown): TableValue {
  if (v === null || v === undefined) return null;
  if (DataType.isDictionary(type)) return toTableValue(type.dictionary, v);
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return isStringType(type) ? v : null;
  if (v instanceof Date) return v.getTime();
  if (DataType.isList(type) || DataType.isLargeList(type) || DataType.isFixedSizeList(type)) {
    const child = (type.children[0] as Field).type;
    const out: TableValue[] = [];
    for (const x of v as Iterable<unknown>) out.push(toTableValue(child, x));
    return out;
  }
  if (DataType.isStruct(type)) {
    const row = v as Record<string, unknown>;
    const out: TableObject = {};
    for (const c of type.children) out[c.name] = toTableValue(c.type, row[c.name]);
    return out;
  }
  if (DataType.isMap(type)) {
    const entries = (type.children[0] as Field).type;
    const valueType = (entries.children[1] as Field).type;
    const out: TableObject = {};
    for (const [k, x] of v as Iterable<[unknown, unknown]>) out[String(k)] = toTableValue(valueType, x);
    return out;
  }
  return null; // binary, decimal, interval, union: no plain value
}

function bytesSpan(data: Vector['data'][number], i: number): { start: number; end: number } {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  return { start: Number(offsets[data.offset + i]), end: Number(offsets[data.offset + i + 1]) };
}

/** Encoded bytes of row `row` of image column `column` in a decoded batch (a copy). */
function imageBytesOf(batch: RecordBatch, column: number, row: number): Uint8Array {
  const bytes = batch.getChildAt(column)?.getChild('bytes');
  const data = bytes?.data[0];
  if (!data || !bytes.isValid(row)) return new Uint8Array(0);
  const { start, end } = bytesSpan(data, row);
  return (data.values as Uint8Array).slice(start, end);
}

/**
 * The current batch's binary values, dropped once the records of that batch have been handed out, so
 * that cells kept by a consumer do not keep the batch in memory (their `head` is then empty).
 */
interface LiveBatch {
  values: Map<number, Uint8Array>;
}

const EMPTY = new Uint8Array(0);

function embeddedImage(
  layout: IpcLayout,
  batchIndex: number,
  decoded: DecodedBatch,
  live: LiveBatch,
  column: number,
  row: number,
  bytesVector: Vector,
): EmbeddedImage {
  const data = bytesVector.data[0] as Vector['data'][number];
  const values = data.values as Uint8Array;
  live.values.set(column, values);
  const { start, end } = bytesSpan(data, row);
  const length = end - start;
  const headEnd = start + Math.min(length, HEAD_BYTES);
  const loc = layout.batches[batchIndex];
  const file = layout.file;
  const within =
    loc !== undefined &&
    values.buffer === decoded.buffer &&
    values.byteOffset >= decoded.bodyStart &&
    values.byteOffset + values.length <= decoded.bodyStart + loc.bodyLength;
  if (within) {
    const fileStart = loc.bodyOffset + (values.byteOffset - decoded.bodyStart) + start;
    return {
      length,
      get head() {
        return live.values.get(column)?.subarray(start, headEnd) ?? EMPTY;
      },
      read: async () => {
        const out = await file.readRange(fileStart, fileStart + length);
        if (out.length !== length) {
          throw new DatasetFormatError(
            file.path,
            `an image of row ${row} could not be read whole; the file changed or is truncated.`,
          );
        }
        return out;
      },
    };
  }
  // The values were copied (a compressed body): re-decode this one batch when the bytes are wanted.
  return {
    length,
    get head() {
      return live.values.get(column)?.subarray(start, headEnd) ?? EMPTY;
    },
    read: async () => imageBytesOf((await decodeIpcBatch(layout, batchIndex)).batch, column, row),
  };
}

function imageCell(
  layout: IpcLayout,
  batchIndex: number,
  decoded: DecodedBatch,
  live: LiveBatch,
  column: number,
  vector: Vector,
  row: number,
): ImageCell | null {
  if (!vector.isValid(row)) return null;
  if (isStringType(vector.type)) {
    const path = vector.get(row) as string | null;
    return path === null ? null : { kind: 'image', path };
  }
  const pathVector = structChild(vector.type, 'path') ? vector.getChild('path') : null;
  const bytesVector = structChild(vector.type, 'bytes') ? vector.getChild('bytes') : null;
  const path = pathVector?.isValid(row) ? String(pathVector.get(row)) : undefined;
  const hasBytes = !!bytesVector && isBinaryType(bytesVector.type) && bytesVector.isValid(row);
  if (path === undefined && !hasBytes) return null;
  const cell: { kind: 'image'; path?: string; bytes?: EmbeddedImage } = { kind: 'image' };
  if (path !== undefined) cell.path = path;
  if (hasBytes && bytesVector)
    cell.bytes = embeddedImage(layout, batchIndex, decoded, live, column, row, bytesVector);
  return cell;
}

function sameColumns(a: Schema, b: Schema): boolean {
  return a.fields.length === b.fields.length && a.fields.every((f, i) => f.name === b.fields[i]?.name);
}

/**
 * Opens an HF save_to_disk folder from a drop. A DatasetDict opens options.split, else 'train', else
 * its only split. Reads only the message headers here; records() reads one batch at a time.
 */
export async function openHfArrowDataset(
  files: DroppedFiles,
  options: { split?: string; source?: string } = {},
): Promise<TabularTable> {
  const all = files.map((f) =>
    f.path === normalisePath(f.path) ? f : { ...f, path: normalisePath(f.path) },
  );
  const byPath = new Map(all.map((f) => [f.path, f]));
  const root = findRoot(byPath, all, options.source);
  const choice = await chooseSplit(byPath, root, options.split);
  const shards = await shardFiles(byPath, all, choice.folder);
  const layouts: IpcLayout[] = [];
  for (const shard of shards) layouts.push(await scanArrowIpc(shard));
  const first = layouts[0] as IpcLayout;
  const schema = ipcSchema(first);
  for (const layout of layouts.slice(1)) {
    if (!sameColumns(schema, ipcSchema(layout))) {
      throw new DatasetFormatError(
        layout.file.path,
        `its columns differ from those of ${first.file.path}; the shards are not of one dataset. Drop one save_to_disk folder.`,
      );
    }
  }
  const features = await hfFeatures(byPath, choice.folder, schema);
  const imageColumns = imageColumnsOf(schema, features);
  const columns = schema.fields.map((f) => f.name);
  const numRows = layouts.reduce((n, l) => n + l.numRows, 0);
  const imageIndex = new Set(imageColumns.map((c) => columns.indexOf(c)));

  async function* records(): AsyncGenerator<TableRecord> {
    let rowBase = 0;
    for (const layout of layouts) {
      for (let b = 0; b < layout.batches.length; b++) {
        const decoded = await decodeIpcBatch(layout, b);
        const live: LiveBatch = { values: new Map() };
        const batch = decoded.batch;
        const vectors = columns.map((_, j) => batch.getChildAt(j));
        const types = schema.fields.map((f) => f.type);
        try {
          for (let i = 0; i < batch.numRows; i++) {
            const value: TableObject = {};
            for (let j = 0; j < columns.length; j++) {
              const vector = vectors[j];
              const name = columns[j] as string;
              if (!vector) value[name] = null;
              else if (imageIndex.has(j)) value[name] = imageCell(layout, b, decoded, live, j, vector, i);
              else value[name] = toTableValue(types[j] as DataType, vector.get(i));
            }
            yield { row: rowBase + i, value };
          }
        } finally {
          live.values.clear();
        }
        rowBase += batch.numRows;
      }
    }
  }

  return {
    source: root || '.',
    container: 'hf-arrow',
    numRows,
    columns,
    imageColumns,
    ...(choice.splits ? { splits: choice.splits } : {}),
    ...(choice.split !== undefined ? { split: choice.split } : {}),
    records,
  };
}
