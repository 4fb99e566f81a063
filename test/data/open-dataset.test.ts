// Every dropped form of one grounding dataset gives the same rows and the same report: an HF
// save_to_disk folder, a DatasetDict, Parquet, JSONL with an image folder, and zips of each (from disk
// and from browser File objects), plus `vgrpo inspect-dataset` on each. The dataset's broken rows and
// its boxes are known by construction; image pixels are checked against pngjs's own decode.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Zippable, zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, toGroundingRows } from '../../src/data/dataset.ts';
import { DatasetFormatError } from '../../src/data/errors.ts';
import { droppedFileFromBytes, droppedFilesFromFileList } from '../../src/data/files/files.ts';
import { decodeImage } from '../../src/data/image/image-decode-node.ts';
import { detectSourceKind, openDataset } from '../../src/data/open-dataset.ts';
import { openDatasetAt } from '../../src/data/open-dataset-node.ts';
import { vgrpo } from '../cli/vgrpo.ts';
import { buildHfArrowFiles, type HfFeature, writeHfArrowDataset } from './sources/hf-arrow-fixture.ts';
import { writeParquetDataset } from './sources/parquet-fixture.ts';

/** A PNG whose pixels encode (x, y, seed), so a wrong image or a wrong crop is visible. */
function png(width: number, height: number, seed: number): Uint8Array {
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = (i * 7 + seed) & 255;
    p.data[4 * i + 1] = (i >> 3) & 255;
    p.data[4 * i + 2] = seed & 255;
    p.data[4 * i + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(p));
}

interface Row {
  name: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  question: string;
  box: number[];
}

const N = 12;
/** Rows 3 (1 px over: clamped), 5 (far outside), 7 (not an image), 9 (no question) are the broken ones. */
const ROWS: Row[] = Array.from({ length: N }, (_, i) => {
  const width = 20 + 3 * i;
  const height = 16 + 2 * i;
  let box = [1 + (i % 3), 2, width - 4, height - 3];
  if (i === 3) box = [0, 0, width + 1, height];
  if (i === 5) box = [0, 0, width + 40, height];
  return {
    name: `img_${i}.png`,
    bytes: i === 7 ? new TextEncoder().encode('this is not a png at all') : png(width, height, i),
    width,
    height,
    question: i === 9 ? '' : `Where is object ${i}?`,
    box,
  };
});

const EXPECTED_ISSUES = [
  [3, 'box-clamped', 'repaired'],
  [5, 'box-outside-image', 'skipped'],
  [7, 'undecodable-image', 'skipped'],
  [9, 'missing-question', 'skipped'],
];
const USABLE = [0, 1, 2, 3, 4, 6, 8, 10, 11];

const FEATURES: Record<string, HfFeature> = {
  image: { _type: 'Image' },
  question: { _type: 'Value', dtype: 'string' },
  answer: { _type: 'Value', dtype: 'string' },
  width: { _type: 'Value', dtype: 'int64' },
  height: { _type: 'Value', dtype: 'int64' },
  bboxs: { _type: 'Sequence', feature: { _type: 'Sequence', feature: { _type: 'Value', dtype: 'float64' } } },
};

const tableRow = (r: Row) => ({
  image: { bytes: r.bytes, path: r.name },
  question: r.question,
  answer: 'A',
  width: r.width,
  height: r.height,
  bboxs: [r.box],
});

function zipOf(files: { path: string; bytes: Uint8Array }[], level: 0 | 6): Uint8Array {
  const tree: Zippable = {};
  for (const f of files) tree[f.path] = [f.bytes, { level }];
  return zipSync(tree);
}

let dir: string;
const paths: Record<string, string> = {};
const zips: Record<string, Uint8Array> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vgrpo-open-'));
  const arrow = buildHfArrowFiles({ rows: ROWS.map(tableRow), features: FEATURES, shards: 2, batchRows: 4 });
  await writeHfArrowDataset(join(dir, 'arrow'), {
    rows: ROWS.map(tableRow),
    features: FEATURES,
    shards: 2,
    batchRows: 4,
  });
  await writeHfArrowDataset(join(dir, 'dict'), {
    features: FEATURES,
    dict: { train: ROWS.slice(0, 4).map(tableRow), test: ROWS.map(tableRow) },
  });
  const parquet = writeParquetDataset({
    rows: ROWS.map((r) => ({ ...tableRow(r), answer: 'A', bboxs: [r.box] })),
    rowGroupSize: 5,
  });
  mkdirSync(join(dir, 'pq', 'data'), { recursive: true });
  writeFileSync(join(dir, 'pq', 'data', 'train-00000-of-00001.parquet'), parquet);
  const jsonl = ROWS.map((r) =>
    JSON.stringify({ image: `/home/author/images/${r.name}`, question: r.question, bboxs: [r.box] }),
  ).join('\n');
  mkdirSync(join(dir, 'jsonl', 'images'), { recursive: true });
  writeFileSync(join(dir, 'jsonl', 'train.jsonl'), jsonl);
  for (const r of ROWS) writeFileSync(join(dir, 'jsonl', 'images', r.name), r.bytes);

  zips.arrow = zipOf(
    arrow.map((f) => ({ path: `my_dataset/${f.path}`, bytes: f.bytes })),
    6,
  );
  zips.pq = zipOf([{ path: 'data/train-00000-of-00001.parquet', bytes: parquet }], 0);
  zips.jsonl = zipOf(
    [
      { path: 'train.jsonl', bytes: new TextEncoder().encode(jsonl) },
      ...ROWS.map((r) => ({ path: `imgs/${r.name}`, bytes: r.bytes })),
    ],
    6,
  );
  for (const [k, z] of Object.entries(zips)) writeFileSync(join(dir, `${k}.zip`), z);
  Object.assign(paths, {
    arrow: join(dir, 'arrow'),
    parquet: join(dir, 'pq'),
    'parquet file': join(dir, 'pq', 'data', 'train-00000-of-00001.parquet'),
    jsonl: join(dir, 'jsonl'),
    'jsonl file': join(dir, 'jsonl', 'train.jsonl'),
    'arrow.zip': join(dir, 'arrow.zip'),
    'pq.zip': join(dir, 'pq.zip'),
    'jsonl.zip': join(dir, 'jsonl.zip'),
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectTheDataset(ds: Dataset, container: string) {
  expect(ds.report.container).toBe(container);
  expect(ds.report.rows).toBe(N);
  expect(ds.report.usable).toBe(USABLE.length);
  expect(ds.report.repaired).toBe(1);
  expect(ds.report.issues.map((i) => [i.row, i.reason, i.action])).toEqual(EXPECTED_ISSUES);
  expect(ds.report.boxFormat).toBe('xyxy');
  expect(ds.rows.map((r) => r.row)).toEqual(USABLE);
  for (const r of ds.rows) {
    const src = ROWS[r.row] as Row;
    expect([r.width, r.height]).toEqual([src.width, src.height]);
    const want = r.row === 3 ? [0, 0, src.width, src.height] : src.box;
    expect(r.box).toEqual(want);
  }
  const rows = toGroundingRows(ds);
  for (const k of [0, 6]) {
    const g = rows[k];
    const src = ROWS[USABLE[k] as number] as Row;
    const img = await g?.image();
    const ref = PNG.sync.read(Buffer.from(src.bytes));
    expect([img?.width, img?.height]).toEqual([ref.width, ref.height]);
    expect(Buffer.from(img?.data ?? []).equals(ref.data)).toBe(true);
  }
}

describe('openDatasetAt: one dataset in every form', () => {
  const cases: [string, string][] = [
    ['arrow', 'hf-arrow'],
    ['parquet', 'parquet'],
    ['parquet file', 'parquet'],
    ['jsonl', 'jsonl'],
    ['jsonl file', 'jsonl'],
    ['arrow.zip', 'hf-arrow'],
    ['pq.zip', 'parquet'],
    ['jsonl.zip', 'jsonl'],
  ];
  for (const [name, container] of cases) {
    it(name, async () => {
      const ds = await openDatasetAt(paths[name] as string);
      await expectTheDataset(ds, container);
      if (name.endsWith('.zip')) expect(ds.report.zip).toBe(join(dir, name));
      else expect(ds.report.source.startsWith(dir)).toBe(true);
    });
  }

  it('one shard of a save_to_disk folder, named on its own, is read on its own', async () => {
    const ds = await openDatasetAt(join(dir, 'arrow', 'data-00001-of-00002.arrow'));
    // The second shard holds rows 6-11: row 7 (not an image) and row 9 (no question) are its 1 and 3.
    expect([ds.report.container, ds.report.rows, ds.report.usable]).toEqual(['hf-arrow', 6, 4]);
    expect(ds.report.issues.map((i) => [i.row, i.reason])).toEqual([
      [1, 'undecodable-image'],
      [3, 'missing-question'],
    ]);
    expect(ds.rows.map((r) => r.box)).toEqual([6, 8, 10, 11].map((i) => (ROWS[i] as Row).box));
  });

  it('a DatasetDict folder: train by default, another split on request, unknown splits listed', async () => {
    const train = await openDatasetAt(join(dir, 'dict'));
    expect([train.report.split, train.report.splits, train.report.rows]).toEqual([
      'train',
      ['train', 'test'],
      4,
    ]);
    const test = await openDatasetAt(join(dir, 'dict'), { split: 'test' });
    await expectTheDataset(test, 'hf-arrow');
    await expect(openDatasetAt(join(dir, 'dict'), { split: 'dev' })).rejects.toThrow(
      /test.*train|train.*test/,
    );
  });
});

describe('openDataset on browser File objects', () => {
  it('opens a dropped zip the same way', async () => {
    for (const [name, container] of [
      ['arrow.zip', 'hf-arrow'],
      ['jsonl.zip', 'jsonl'],
      ['downloaded-dataset', 'jsonl'],
    ] as const) {
      // The last is jsonl.zip without its extension: known as a zip by its bytes.
      const bytes = zips[name === 'downloaded-dataset' ? 'jsonl' : name.replace('.zip', '')];
      const file = new File([bytes as BlobPart], name);
      const ds = await openDataset(droppedFilesFromFileList([file]), { decode: decodeImage });
      await expectTheDataset(ds, container);
    }
  });

  it('a zip entry that cannot be read spoils its row only', async () => {
    const z = new Uint8Array(zips.jsonl as Uint8Array);
    // Flip a byte inside img_1.png's stored data: its local header is found by name.
    const name = new TextEncoder().encode('imgs/img_1.png');
    let at = -1;
    for (let i = 0; i + 30 < z.length && at < 0; i++) {
      if (z[i] === 0x50 && z[i + 1] === 0x4b && z[i + 2] === 3 && z[i + 3] === 4) {
        const n = (z[i + 26] as number) | ((z[i + 27] as number) << 8);
        if (n === name.length && name.every((b, k) => z[i + 30 + k] === b)) at = i;
      }
    }
    expect(at).toBeGreaterThan(0);
    const extra = (z[at + 28] as number) | ((z[at + 29] as number) << 8);
    const data = at + 30 + name.length + extra;
    z[data + 10] = (z[data + 10] as number) ^ 0xff;
    const ds = await openDataset(droppedFilesFromFileList([new File([z as BlobPart], 'broken.zip')]), {
      decode: decodeImage,
    });
    const row1 = ds.report.issues.filter((i) => i.row === 1);
    expect(row1.map((i) => i.reason)).toEqual(['undecodable-image']);
    expect(ds.report.usable).toBe(USABLE.length - 1);
  });

  it('Node Buffers (views into larger memory) work as dropped bytes', async () => {
    const pool = Buffer.alloc(1 << 16, 7);
    const files = (['pq/data/train-00000-of-00001.parquet'] as const).map((rel) => {
      const bytes = readFileSync(join(dir, rel));
      // A Buffer that starts inside a larger allocation, whose slice() is a view, not a copy.
      const view = Buffer.concat([pool, bytes]).subarray(pool.length);
      return droppedFileFromBytes(rel, view);
    });
    await expectTheDataset(await openDataset(files, { decode: decodeImage }), 'parquet');
  });

  it('says what to drop when nothing is a dataset', () => {
    const files = droppedFilesFromFileList([new File(['hello'], 'notes.txt'), new File(['x'], 'a.png')]);
    expect(() => detectSourceKind(files)).toThrow(DatasetFormatError);
    expect(() => detectSourceKind(files)).toThrow(/save_to_disk.*Parquet.*JSON/);
  });
});

describe('vgrpo inspect-dataset on each form', () => {
  it('--json on a zipped save_to_disk folder, a Parquet folder and a DatasetDict split', async () => {
    for (const [args, container, rows] of [
      [[paths['arrow.zip'] as string], 'hf-arrow', N],
      [[paths.parquet as string], 'parquet', N],
      [[join(dir, 'dict'), '--split', 'test'], 'hf-arrow', N],
    ] as const) {
      const r = await vgrpo(['inspect-dataset', ...args, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect([report.container, report.rows, report.usable]).toEqual([container, rows, USABLE.length]);
      expect(report.issues.map((i: { row: number; reason: string }) => [i.row, i.reason])).toEqual(
        EXPECTED_ISSUES.map(([row, reason]) => [row, reason]),
      );
    }
  });

  it('a broken Arrow shard exits 1 with the reason', async () => {
    const shard = join(dir, 'arrow', 'data-00001-of-00002.arrow');
    const bytes = await readFile(shard);
    const broken = join(dir, 'broken-arrow');
    await writeHfArrowDataset(broken, {
      rows: ROWS.map(tableRow),
      features: FEATURES,
      shards: 2,
      batchRows: 4,
    });
    writeFileSync(join(broken, 'data-00001-of-00002.arrow'), bytes.subarray(0, bytes.length - 100));
    const r = await vgrpo(['inspect-dataset', broken]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data-00001-of-00002\.arrow/);
    expect(r.stderr).toMatch(/truncated|cut short|incomplete/i);
  });
});
