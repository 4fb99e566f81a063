// Test fixture: writes grounding rows in the tutorial's shape ({image, question, answer, width,
// height, bboxs}) as a Parquet file the way HF `datasets` does (Image struct<bytes, path>, int64
// sizes, list<list<double>> boxes, 'huggingface' key-value metadata), with hyparquet-writer.

import { gzipSync } from 'fflate';
import type { SchemaElement } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { PNG } from 'pngjs';

/** An HF Image value: embedded bytes and / or a path. */
export interface FixtureImage {
  bytes: Uint8Array | null;
  path: string | null;
}

export interface FixtureRow {
  /** An Image struct, or a plain path string (with `imageAs: 'path'`), or null. */
  image: FixtureImage | string | null;
  question: string;
  answer: string;
  width: number;
  height: number;
  bboxs: number[][];
}

export interface ParquetFixtureOptions {
  rows: readonly FixtureRow[];
  /** 'struct' (HF Image: struct<bytes: binary, path: string>) or 'path' (a string column). Default 'struct'. */
  imageAs?: 'struct' | 'path';
  /** Write the 'huggingface' key-value metadata (features with `_type: 'Image'`). Default true. */
  huggingface?: boolean;
  /** Rows per row group. Default 1000. */
  rowGroupSize?: number;
  /** Default 'SNAPPY' (pyarrow's default). GZIP is compressed with fflate. */
  codec?: 'UNCOMPRESSED' | 'SNAPPY' | 'GZIP';
}

/** The Parquet file's bytes. */
export function writeParquetDataset(options: ParquetFixtureOptions): Uint8Array {
  const { rows, imageAs = 'struct', huggingface = true, rowGroupSize = 1000, codec = 'SNAPPY' } = options;
  const imageSchema: SchemaElement[] =
    imageAs === 'struct'
      ? [
          { name: 'image', repetition_type: 'OPTIONAL', num_children: 2 },
          { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
          { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        ]
      : [{ name: 'image', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }];
  const schema: SchemaElement[] = [
    { name: 'schema', num_children: 6 },
    ...imageSchema,
    { name: 'question', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'answer', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'width', type: 'INT64', repetition_type: 'OPTIONAL' },
    { name: 'height', type: 'INT64', repetition_type: 'OPTIONAL' },
    { name: 'bboxs', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  ];
  const value = (kind: string) => ({ dtype: kind, _type: 'Value' });
  const features = {
    image: imageAs === 'struct' ? { _type: 'Image' } : value('string'),
    question: value('string'),
    answer: value('string'),
    width: value('int64'),
    height: value('int64'),
    bboxs: { feature: { feature: value('float64'), _type: 'Sequence' }, _type: 'Sequence' },
  };
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'image', data: rows.map((r) => r.image) },
      { name: 'question', data: rows.map((r) => r.question) },
      { name: 'answer', data: rows.map((r) => r.answer) },
      { name: 'width', data: rows.map((r) => BigInt(r.width)) },
      { name: 'height', data: rows.map((r) => BigInt(r.height)) },
      { name: 'bboxs', data: rows.map((r) => r.bboxs) },
    ],
    schema,
    codec,
    compressors: { GZIP: (input: Uint8Array) => gzipSync(input) },
    rowGroupSize,
    kvMetadata: huggingface ? [{ key: 'huggingface', value: JSON.stringify({ info: { features } }) }] : [],
    createdBy: 'vision-grpo test fixture',
  });
  return new Uint8Array(buffer);
}

/** A PNG whose pixels depend on `seed` (noise, so it barely compresses and sizes are realistic). */
export function fixturePng(width: number, height: number, seed: number): Uint8Array {
  const png = new PNG({ width, height });
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < png.data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    png.data[i] = (i & 3) === 3 ? 255 : s & 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}
