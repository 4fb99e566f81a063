// Test fixtures: HF `datasets.save_to_disk` folders (one split or a DatasetDict) written with
// apache-arrow's stream writer, shaped like what `datasets` writes (state.json, dataset_info.json,
// data-0000N-of-0000M.arrow with the 'huggingface' schema metadata), on disk or in memory.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Binary,
  Bool,
  type DataType,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';

/** The HF feature dicts the fixtures use (as dataset_info.json spells them). */
export type HfFeature =
  | { _type: 'Image'; decode?: boolean; id?: null }
  | { _type: 'Value'; dtype: 'string' | 'int64' | 'int32' | 'float64' | 'float32' | 'bool'; id?: null }
  | { _type: 'List' | 'Sequence'; feature: HfFeature; length?: number };

export type FixtureRow = Record<string, unknown>;

export interface HfArrowFixtureOptions {
  /** Rows of a single-split folder (ignored when `dict` is given). Image values: {bytes, path} or a path string. */
  rows?: FixtureRow[];
  features: Record<string, HfFeature>;
  /** Shards per split (default 1); rows are cut into contiguous runs. */
  shards?: number;
  /** Rows per record batch (default 1000, the `datasets` writer's default). */
  batchRows?: number;
  /** DatasetDict layout: split name -> rows, one folder per split. */
  dict?: Record<string, FixtureRow[]>;
  /** Image columns stored as plain path strings instead of the {bytes, path} struct. */
  imagesAsPaths?: string[];
  /** Leave dataset_info.json out (readers then use the schema metadata). */
  omitDatasetInfo?: boolean;
  /** Leave the 'huggingface' schema metadata out. */
  omitSchemaMetadata?: boolean;
}

export interface FixtureFile {
  /** Relative to the dataset folder. */
  path: string;
  bytes: Uint8Array;
}

const IMAGE_TYPE = () =>
  new Struct([new Field('bytes', new Binary(), true), new Field('path', new Utf8(), true)]);

function arrowType(feature: HfFeature, asPath: boolean): DataType {
  switch (feature._type) {
    case 'Image':
      return asPath ? new Utf8() : IMAGE_TYPE();
    case 'Value':
      switch (feature.dtype) {
        case 'string':
          return new Utf8();
        case 'int64':
          return new Int64();
        case 'int32':
          return new Int32();
        case 'float64':
          return new Float64();
        case 'float32':
          return new Float32();
        case 'bool':
          return new Bool();
      }
      break;
    case 'List':
    case 'Sequence':
      return new List(new Field('item', arrowType(feature.feature, false), true));
  }
  throw new Error(`fixture: unsupported feature ${JSON.stringify(feature)}`);
}

/** Values in the form apache-arrow's builders take (int64 as bigint). */
function builderValue(feature: HfFeature, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (feature._type === 'Value' && feature.dtype === 'int64') return BigInt(v as number);
  if (feature._type === 'List' || feature._type === 'Sequence') {
    return (v as unknown[]).map((x) => builderValue(feature.feature, x));
  }
  return v;
}

function encodeShard(
  schema: Schema,
  features: Record<string, HfFeature>,
  rows: FixtureRow[],
  batchRows: number,
): Uint8Array {
  const batches: RecordBatch[] = [];
  for (let start = 0; start < rows.length || (start === 0 && batches.length === 0); start += batchRows) {
    const chunk = rows.slice(start, start + batchRows);
    const children = schema.fields.map((field) => {
      const feature = features[field.name] as HfFeature;
      const values = chunk.map((r) => builderValue(feature, r[field.name]));
      return vectorFromArray(values, field.type).data[0];
    });
    const data = makeData({ type: new Struct(schema.fields), length: chunk.length, nullCount: 0, children });
    batches.push(new RecordBatch(schema, data));
    if (chunk.length === 0) break;
  }
  return RecordBatchStreamWriter.writeAll(batches).toUint8Array(true);
}

function splitFiles(
  prefix: string,
  rows: FixtureRow[],
  options: HfArrowFixtureOptions,
  split: string | null,
): FixtureFile[] {
  const asPaths = new Set(options.imagesAsPaths ?? []);
  const fields = Object.entries(options.features).map(
    ([name, f]) => new Field(name, arrowType(f, asPaths.has(name)), true),
  );
  const meta = new Map<string, string>();
  if (!options.omitSchemaMetadata)
    meta.set('huggingface', JSON.stringify({ info: { features: options.features } }));
  const schema = new Schema(fields, meta);
  const shards = Math.max(1, options.shards ?? 1);
  const per = Math.ceil(rows.length / shards);
  const out: FixtureFile[] = [];
  const dataFiles: { filename: string }[] = [];
  const enc = new TextEncoder();
  for (let s = 0; s < shards; s++) {
    const filename = `data-${String(s).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.arrow`;
    dataFiles.push({ filename });
    const bytes = encodeShard(
      schema,
      options.features,
      rows.slice(s * per, (s + 1) * per),
      options.batchRows ?? 1000,
    );
    out.push({ path: `${prefix}${filename}`, bytes });
  }
  const state = {
    _data_files: dataFiles,
    _fingerprint: 'fixture0000000000',
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: split,
  };
  out.push({ path: `${prefix}state.json`, bytes: enc.encode(JSON.stringify(state, null, 2)) });
  if (!options.omitDatasetInfo) {
    const info = { citation: '', description: '', features: options.features, homepage: '', license: '' };
    out.push({ path: `${prefix}dataset_info.json`, bytes: enc.encode(JSON.stringify(info, null, 2)) });
  }
  return out;
}

/** The files of a save_to_disk folder (paths relative to it), built in memory. */
export function buildHfArrowFiles(options: HfArrowFixtureOptions): FixtureFile[] {
  if (!options.dict) return splitFiles('', options.rows ?? [], options, null);
  const out: FixtureFile[] = [];
  for (const [split, rows] of Object.entries(options.dict))
    out.push(...splitFiles(`${split}/`, rows, options, split));
  out.push({
    path: 'dataset_dict.json',
    bytes: new TextEncoder().encode(JSON.stringify({ splits: Object.keys(options.dict) })),
  });
  return out;
}

/** The same folder as in-memory DroppedFiles under `folder` (a drop of that folder). */
export function hfArrowDroppedFiles(options: HfArrowFixtureOptions, folder = 'ds'): DroppedFile[] {
  return buildHfArrowFiles(options).map((f) => droppedFileFromBytes(`${folder}/${f.path}`, f.bytes));
}

/** Writes the folder under `dir` (created if missing). */
export async function writeHfArrowDataset(dir: string, options: HfArrowFixtureOptions): Promise<void> {
  for (const f of buildHfArrowFiles(options)) {
    const full = join(dir, ...f.path.split('/'));
    await mkdir(join(full, '..'), { recursive: true });
    await writeFile(full, f.bytes);
  }
}
