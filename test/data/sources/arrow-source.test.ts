// HF save_to_disk Arrow folders as a TabularTable: values read back equal the rows written (over
// shards and batches), image bytes are read lazily and exactly, DatasetDict splits, the fallbacks
// for image-column detection, IPC framings, and broken folders failing with DatasetFormatError.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Message, RecordBatchFileWriter, RecordBatchStreamReader } from 'apache-arrow';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../src/data/errors.ts';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { droppedFilesFromDirectory } from '../../../src/data/files/files-node.ts';
import { looksLikeHfArrow, openHfArrowDataset } from '../../../src/data/sources/arrow-source.ts';
import {
  HEAD_BYTES,
  type ImageCell,
  isImageCell,
  type TableRecord,
  type TabularTable,
} from '../../../src/data/sources/table.ts';
import { uniformStream as rng } from '../../../src/model/random.ts';
import {
  buildHfArrowFiles,
  type FixtureRow,
  type HfArrowFixtureOptions,
  type HfFeature,
  hfArrowDroppedFiles,
  writeHfArrowDataset,
} from './hf-arrow-fixture.ts';

function randomPng(w: number, h: number, rand: () => number): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < png.data.length; i++) png.data[i] = Math.floor(rand() * 256);
  return new Uint8Array(PNG.sync.write(png));
}

const FEATURES: Record<string, HfFeature> = {
  image: { _type: 'Image', decode: true, id: null },
  question: { _type: 'Value', dtype: 'string', id: null },
  answer: { _type: 'Value', dtype: 'string', id: null },
  width: { _type: 'Value', dtype: 'int64', id: null },
  height: { _type: 'Value', dtype: 'int64', id: null },
  bboxs: {
    _type: 'List',
    feature: { _type: 'List', feature: { _type: 'Value', dtype: 'float64', id: null } },
  },
  dataset: { _type: 'Value', dtype: 'string', id: null },
  split: { _type: 'Value', dtype: 'string', id: null },
};

interface TutorialRow extends FixtureRow {
  image: { bytes: Uint8Array | null; path: string | null } | null;
  question: string;
  answer: string;
  width: number;
  height: number;
  bboxs: number[][];
  dataset: string;
  split: string;
}

function tutorialRows(n: number, seed: number, bigEvery = 9): TutorialRow[] {
  const rand = rng(seed);
  const rows: TutorialRow[] = [];
  for (let i = 0; i < n; i++) {
    // Most images are small; every `bigEvery`-th is larger than HEAD_BYTES (random pixels do not compress).
    const big = i % bigEvery === 4;
    const w = big ? 150 : 4 + Math.floor(rand() * 12);
    const h = big ? 150 : 4 + Math.floor(rand() * 12);
    const boxes = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => [
      Math.round(rand() * 100) / 4,
      Math.round(rand() * 100) / 4,
      100 + Math.round(rand() * 400) / 8,
      100 + Math.round(rand() * 400) / 8,
    ]);
    rows.push({
      image: { bytes: randomPng(w, h, rand), path: `img_${i}.png` },
      question: `What is written on sign ${i}? ünïcødé ${'x'.repeat(i % 5)}`,
      answer: i % 7 === 0 ? '' : `answer ${Math.floor(rand() * 1e6)}`,
      width: 512 + i,
      height: 2 ** 40 + i, // beyond int32: int64 read as a number
      bboxs: boxes,
      dataset: 'textvqa',
      split: i % 2 ? 'train' : 'val',
    });
  }
  return rows;
}

async function collect(table: TabularTable): Promise<TableRecord[]> {
  const out: TableRecord[] = [];
  for await (const r of table.records()) out.push(r);
  return out;
}

async function expectFormatError(p: Promise<unknown>, pattern?: RegExp): Promise<DatasetFormatError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetFormatError);
  if (pattern) expect((err as Error).message).toMatch(pattern);
  return err as DatasetFormatError;
}

/** Checks every record against the rows written, image bytes included (read through the cell). */
async function expectRowsEqual(records: TableRecord[], rows: TutorialRow[]): Promise<void> {
  expect(records.map((r) => r.row)).toEqual(rows.map((_, i) => i));
  for (let i = 0; i < rows.length; i++) {
    const { image, ...rest } = rows[i] as TutorialRow;
    const got = (records[i] as TableRecord).value;
    const { image: gotImage, ...gotRest } = got;
    expect(gotRest).toEqual(rest);
    expect(Array.isArray(gotRest.bboxs)).toBe(true);
    for (const b of gotRest.bboxs as unknown[]) expect(Array.isArray(b)).toBe(true);
    expect(isImageCell(gotImage)).toBe(true);
    const cell = gotImage as ImageCell;
    expect(cell.path).toBe(image?.path);
    const bytes = image?.bytes as Uint8Array;
    expect(cell.bytes?.length).toBe(bytes.length);
    expect(Array.from(await (cell.bytes as NonNullable<ImageCell['bytes']>).read())).toEqual(
      Array.from(bytes),
    );
  }
}

describe('openHfArrowDataset on a save_to_disk folder on disk', () => {
  const rows = tutorialRows(45, 1);
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-arrow-'));
    await writeHfArrowDataset(join(dir, 'textvqa'), { rows, features: FEATURES, shards: 3, batchRows: 4 });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads every value back as written, over 3 shards of several batches', async () => {
    const files = await droppedFilesFromDirectory(dir);
    expect(looksLikeHfArrow(files)).toBe(true);
    const table = await openHfArrowDataset(files);
    expect(table.container).toBe('hf-arrow');
    expect(table.source).toBe('textvqa');
    expect(table.numRows).toBe(45);
    expect(table.columns).toEqual([
      'image',
      'question',
      'answer',
      'width',
      'height',
      'bboxs',
      'dataset',
      'split',
    ]);
    expect(table.imageColumns).toEqual(['image']);
    expect(table.splits).toBeUndefined();
    const records: TableRecord[] = [];
    for await (const r of table.records()) {
      // The head is a prefix of the written bytes, checked while the record is current.
      const cell = r.value.image as ImageCell;
      const written = (rows[r.row] as TutorialRow).image?.bytes as Uint8Array;
      const head = cell.bytes?.head as Uint8Array;
      expect(head.length).toBe(Math.min(written.length, HEAD_BYTES));
      expect(Array.from(head)).toEqual(Array.from(written.subarray(0, head.length)));
      records.push(r);
    }
    expect(rows.some((r) => (r.image?.bytes?.length ?? 0) > HEAD_BYTES)).toBe(true);
    await expectRowsEqual(records, rows);
  });

  it('can be run twice (records() restarts)', async () => {
    const table = await openHfArrowDataset(await droppedFilesFromDirectory(dir));
    expect((await collect(table)).length).toBe(45);
    expect((await collect(table)).length).toBe(45);
  });
});

/** Wraps files so that reads of .arrow files are counted and whole-file reads of them fail. */
function instrument(files: DroppedFile[]): { files: DroppedFile[]; bytes: () => number; reset: () => void } {
  let count = 0;
  const out = files.map((f): DroppedFile => {
    if (!f.path.endsWith('.arrow')) return f;
    return {
      path: f.path,
      size: f.size,
      read: async () => {
        throw new Error(`whole-file read of ${f.path}`);
      },
      readRange: async (start, end) => {
        const b = await f.readRange(start, end);
        count += b.length;
        return b;
      },
    };
  });
  return {
    files: out,
    bytes: () => count,
    reset: () => {
      count = 0;
    },
  };
}

describe('laziness', () => {
  it('reads one image with one range of exactly its length, and never a whole .arrow file', async () => {
    const rows = tutorialRows(30, 2, 5);
    const base = hfArrowDroppedFiles({ rows, features: FEATURES, shards: 3, batchRows: 3 });
    const arrowBytes = base.filter((f) => f.path.endsWith('.arrow')).reduce((n, f) => n + f.size, 0);
    const io = instrument(base);
    const table = await openHfArrowDataset(io.files);
    // Opening reads only message headers.
    expect(io.bytes()).toBeLessThan(30 * 4096);
    io.reset();
    const cells: ImageCell[] = [];
    for await (const r of table.records()) cells.push(r.value.image as ImageCell);
    // Iterating reads each batch once (plus the small schema re-reads of nothing: bodies only).
    expect(io.bytes()).toBeLessThanOrEqual(arrowBytes);
    // Kept cells hold no batch: their heads are empty once the batch has been passed.
    expect(cells.every((c) => c.bytes?.head.length === 0)).toBe(true);
    for (const i of [0, 4, 17, 29]) {
      io.reset();
      const cell = cells[i] as ImageCell;
      const got = await cell.bytes?.read();
      const written = rows[i]?.image?.bytes as Uint8Array;
      expect(Array.from(got as Uint8Array)).toEqual(Array.from(written));
      expect(io.bytes()).toBe(written.length);
    }
  });
});

describe('DatasetDict folders', () => {
  const train = tutorialRows(12, 3);
  const test = tutorialRows(5, 4);
  const dict = hfArrowDroppedFiles(
    { features: FEATURES, dict: { train, test }, shards: 2, batchRows: 4 },
    'dd',
  );

  it('opens train by default and lists the splits', async () => {
    const table = await openHfArrowDataset(dict);
    expect(table.splits).toEqual(['train', 'test']);
    expect(table.split).toBe('train');
    expect(table.source).toBe('dd');
    expect(table.numRows).toBe(12);
    await expectRowsEqual(await collect(table), train);
  });

  it('opens the split asked for', async () => {
    const table = await openHfArrowDataset(dict, { split: 'test' });
    expect(table.split).toBe('test');
    expect(table.numRows).toBe(5);
    await expectRowsEqual(await collect(table), test);
  });

  it('rejects an unknown split, naming the ones there are', async () => {
    await expectFormatError(openHfArrowDataset(dict, { split: 'validation' }), /"train", "test"/);
  });

  it('without train: the only split, else an error asking for one', async () => {
    const only = hfArrowDroppedFiles({ features: FEATURES, dict: { test } }, 'dd');
    const t = await openHfArrowDataset(only);
    expect(t.split).toBe('test');
    expect(t.numRows).toBe(5);
    const two = hfArrowDroppedFiles({ features: FEATURES, dict: { a: test, b: train } }, 'dd');
    await expectFormatError(openHfArrowDataset(two), /"a", "b".*split/);
    expect((await openHfArrowDataset(two, { split: 'b' })).numRows).toBe(12);
  });

  it('options.source picks one folder of the drop', async () => {
    const t = await openHfArrowDataset(dict, { source: 'dd/test' });
    expect(t.numRows).toBe(5);
    expect(t.split).toBeUndefined();
  });
});

describe('image columns', () => {
  const features: Record<string, HfFeature> = {
    image: { _type: 'Image' },
    label: { _type: 'Value', dtype: 'int32' },
  };
  const png = randomPng(5, 5, rng(9));
  const rows: FixtureRow[] = [
    { image: { bytes: null, path: 'images/a.jpg' }, label: 1 },
    { image: { bytes: png, path: null }, label: 2 },
    { image: null, label: null },
    { image: { bytes: png, path: 'b.png' }, label: 4 },
  ];

  it('null bytes with a path give a path-only cell; a null struct gives null', async () => {
    const records = await collect(
      await openHfArrowDataset(hfArrowDroppedFiles({ rows, features, batchRows: 3 })),
    );
    expect(records.map((r) => r.value.label)).toEqual([1, 2, null, 4]);
    const [a, b, c, d] = records.map((r) => r.value.image);
    expect(a).toEqual({ kind: 'image', path: 'images/a.jpg' });
    expect((b as ImageCell).path).toBeUndefined();
    expect(Array.from(await ((b as ImageCell).bytes as NonNullable<ImageCell['bytes']>).read())).toEqual(
      Array.from(png),
    );
    expect(c).toBeNull();
    expect((d as ImageCell).path).toBe('b.png');
    expect((d as ImageCell).bytes?.length).toBe(png.length);
  });

  it('an Image feature stored as path strings gives path cells', async () => {
    const pathRows = [
      { image: 'x/1.png', label: 1 },
      { image: null, label: 2 },
    ];
    const t = await openHfArrowDataset(
      hfArrowDroppedFiles({ rows: pathRows, features, imagesAsPaths: ['image'] }),
    );
    expect(t.imageColumns).toEqual(['image']);
    expect((await collect(t)).map((r) => r.value.image)).toEqual([{ kind: 'image', path: 'x/1.png' }, null]);
  });

  it('finds image columns from the schema metadata, then from the struct type', async () => {
    const viaMeta = await openHfArrowDataset(hfArrowDroppedFiles({ rows, features, omitDatasetInfo: true }));
    expect(viaMeta.imageColumns).toEqual(['image']);
    const viaType = await openHfArrowDataset(
      hfArrowDroppedFiles({ rows, features, omitDatasetInfo: true, omitSchemaMetadata: true }),
    );
    expect(viaType.imageColumns).toEqual(['image']);
    expect((await collect(viaType))[3]?.value.image).toMatchObject({ kind: 'image', path: 'b.png' });
    // A string column is an image column only where the features say so.
    const strings = await openHfArrowDataset(
      hfArrowDroppedFiles({
        rows: [{ image: 'a.png', label: 1 }],
        features,
        imagesAsPaths: ['image'],
        omitDatasetInfo: true,
        omitSchemaMetadata: true,
      }),
    );
    expect(strings.imageColumns).toEqual([]);
    expect((await collect(strings))[0]?.value.image).toBe('a.png');
  });
});

/** Re-frames an Arrow stream in the legacy framing (int32 length, no 0xFFFFFFFF continuation). */
function toLegacyFraming(stream: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let pos = 0;
  while (pos < stream.length) {
    expect(view.getUint32(pos, true)).toBe(0xffffffff);
    const len = view.getInt32(pos + 4, true);
    const lenBytes = new Uint8Array(4);
    new DataView(lenBytes.buffer).setInt32(0, len, true);
    parts.push(lenBytes);
    if (len === 0) break;
    const metadata = stream.subarray(pos + 8, pos + 8 + len);
    const bodyLength = Number(Message.decode(metadata).bodyLength);
    parts.push(stream.subarray(pos + 8, pos + 8 + len + bodyLength));
    pos += 8 + len + bodyLength;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('IPC framings', () => {
  const rows = tutorialRows(10, 5);
  const options: HfArrowFixtureOptions = { rows, features: FEATURES, batchRows: 3 };

  function withShard(transform: (bytes: Uint8Array) => Uint8Array): DroppedFile[] {
    return buildHfArrowFiles(options).map((f) =>
      droppedFileFromBytes(`ds/${f.path}`, f.path.endsWith('.arrow') ? transform(f.bytes) : f.bytes),
    );
  }

  it('reads the legacy stream framing', async () => {
    const files = withShard(toLegacyFraming);
    await expectRowsEqual(await collect(await openHfArrowDataset(files)), rows);
  });

  it('reads the Arrow file format (ARROW1 magic and footer)', async () => {
    const files = withShard((stream) => {
      const batches = [...RecordBatchStreamReader.from(stream)];
      return RecordBatchFileWriter.writeAll(batches).toUint8Array(true);
    });
    const shard = files.find((f) => f.path.endsWith('.arrow')) as DroppedFile;
    expect(new TextDecoder().decode((await shard.read()).subarray(0, 6))).toBe('ARROW1');
    const table = await openHfArrowDataset(files);
    expect(table.numRows).toBe(10);
    await expectRowsEqual(await collect(table), rows);
  });

  it('without state.json: the .arrow files in name order', async () => {
    const files = hfArrowDroppedFiles({ ...options, shards: 2 }).filter(
      (f) => !f.path.endsWith('state.json'),
    );
    const reversed = [...files].reverse();
    await expectRowsEqual(await collect(await openHfArrowDataset(reversed)), rows);
  });
});

describe('broken folders fail with DatasetFormatError', () => {
  const rows = tutorialRows(8, 6);
  const built = buildHfArrowFiles({ rows, features: FEATURES, shards: 2, batchRows: 3 });
  const drop = (change: (path: string, bytes: Uint8Array) => Uint8Array | null): DroppedFile[] =>
    built.flatMap((f) => {
      const b = change(f.path, f.bytes);
      return b ? [droppedFileFromBytes(`ds/${f.path}`, b)] : [];
    });

  it('a truncated .arrow shard (cut in a body, in a header, in the prefix)', async () => {
    const shard = built.find((f) => f.path === 'data-00001-of-00002.arrow') as { bytes: Uint8Array };
    for (const keep of [shard.bytes.length - 100, 300, 150, 6, 2]) {
      const files = drop((p, b) => (p === 'data-00001-of-00002.arrow' ? b.slice(0, keep) : b));
      await expectFormatError(
        openHfArrowDataset(files).then((t) => collect(t)),
        /truncated|not an Arrow|not a valid Arrow|corrupt/,
      );
    }
  });

  it('state.json naming a missing shard', async () => {
    const files = drop((p, b) => (p === 'data-00001-of-00002.arrow' ? null : b));
    await expectFormatError(openHfArrowDataset(files), /data-00001-of-00002\.arrow/);
  });

  it('invalid JSON in state.json', async () => {
    const files = drop((p, b) => (p === 'state.json' ? new TextEncoder().encode('{"_data_files": [') : b));
    await expectFormatError(openHfArrowDataset(files), /state\.json.*not valid JSON/);
  });

  it('a non-Arrow file named like a shard', async () => {
    const text = new TextEncoder().encode('this is not arrow data at all, just some text\n'.repeat(20));
    const png = randomPng(8, 8, rng(7));
    for (const bytes of [text, png, new Uint8Array(3), new Uint8Array(64).fill(0x22)]) {
      const files = [droppedFileFromBytes('x/data-00000-of-00001.arrow', bytes)];
      await expectFormatError(openHfArrowDataset(files).then((t) => collect(t)));
    }
  });

  it('an empty drop', async () => {
    expect(looksLikeHfArrow([droppedFileFromBytes('a/rows.json', new Uint8Array(2))])).toBe(false);
    await expectFormatError(openHfArrowDataset([droppedFileFromBytes('a/rows.json', new Uint8Array(2))]));
  });
});
