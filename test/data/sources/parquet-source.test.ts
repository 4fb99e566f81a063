// Parquet source: HF-style files written here with hyparquet-writer (test/data/sources/parquet-fixture.ts),
// read back as a TabularTable and compared with the rows that were written: values, image bytes and
// heads, laziness (bytes read through an instrumented readRange), splits, compression, and broken
// files that must give DatasetFormatError.

import { parquetMetadata } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../src/data/errors.ts';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { looksLikeParquet, openParquetDataset } from '../../../src/data/sources/parquet-source.ts';
import {
  HEAD_BYTES,
  type ImageCell,
  isImageCell,
  type TableRecord,
} from '../../../src/data/sources/table.ts';
import { type FixtureImage, type FixtureRow, fixturePng, writeParquetDataset } from './parquet-fixture.ts';

/** Rows first..first+count-1; row 3 has an image larger than HEAD_BYTES, row 5 none, row 6 a path only. */
function makeRows(first: number, count: number): FixtureRow[] {
  const rows: FixtureRow[] = [];
  for (let r = first; r < first + count; r++) {
    const side = r === 3 ? 180 : 48 + (r % 4) * 8;
    let image: FixtureImage | null = { bytes: fixturePng(side, side, r + 1), path: `img_${r}.png` };
    if (r === 5) image = null;
    if (r === 6) image = { bytes: null, path: `/home/someone/textvqa/img_${r}.jpg` };
    rows.push({
      image,
      question: `What is written on sign ${r}? Output the bounding box.`,
      answer: `word${r}`,
      width: 512 + r,
      height: 384 - r,
      bboxs:
        r % 3 === 0
          ? [[r, r + 1.5, r + 40, r + 60.25]]
          : [
              [1, 2, 3, 4],
              [10 + r, 20, 30.5, 40],
            ],
    });
  }
  return rows;
}

interface Counted {
  file: DroppedFile;
  bytesRead: () => number;
  reset: () => void;
}

/** A file over bytes whose readRange counts the bytes it hands out and whose read() must not be used. */
function counted(path: string, bytes: Uint8Array): Counted {
  const inner = droppedFileFromBytes(path, bytes);
  let total = 0;
  return {
    file: {
      path: inner.path,
      size: inner.size,
      read: async () => {
        throw new Error(`read() of the whole file ${path} must not be used`);
      },
      readRange: async (start, end) => {
        const out = await inner.readRange(start, end);
        total += out.length;
        return out;
      },
    },
    bytesRead: () => total,
    reset: () => {
      total = 0;
    },
  };
}

async function collect(records: AsyncIterable<TableRecord>): Promise<TableRecord[]> {
  const out: TableRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

function expectRowMatches(got: TableRecord['value'], want: FixtureRow): void {
  expect(got.question).toBe(want.question);
  expect(got.answer).toBe(want.answer);
  expect(got.width).toBe(want.width);
  expect(got.height).toBe(want.height);
  expect(got.bboxs).toEqual(want.bboxs);
  const boxes = got.bboxs as unknown[];
  expect(Array.isArray(boxes)).toBe(true);
  for (const b of boxes) expect(Array.isArray(b)).toBe(true);
}

async function expectImageMatches(got: unknown, want: FixtureImage | string | null): Promise<void> {
  if (want === null) {
    expect(got).toBeNull();
    return;
  }
  expect(isImageCell(got)).toBe(true);
  const cell = got as ImageCell;
  const wantPath = typeof want === 'string' ? want : want.path;
  expect(cell.path).toBe(wantPath ?? undefined);
  const wantBytes = typeof want === 'string' ? null : want.bytes;
  if (wantBytes === null) {
    expect(cell.bytes).toBeUndefined();
    return;
  }
  const embedded = cell.bytes;
  if (!embedded) throw new Error('expected embedded bytes');
  expect(embedded.length).toBe(wantBytes.length);
  expect(embedded.head).toEqual(wantBytes.subarray(0, Math.min(wantBytes.length, HEAD_BYTES)));
  expect(await embedded.read()).toEqual(wantBytes);
}

const FIRST = makeRows(0, 25);
const SECOND = makeRows(25, 20);
const ALL = [...FIRST, ...SECOND];

function twoShards() {
  return [
    counted('ds/data/train-00000-of-00002.parquet', writeParquetDataset({ rows: FIRST, rowGroupSize: 7 })),
    counted('ds/data/train-00001-of-00002.parquet', writeParquetDataset({ rows: SECOND, rowGroupSize: 6 })),
  ];
}

describe('HF-style Parquet shards', () => {
  it('reads every row of two shards with several row groups, values as written', async () => {
    const shards = twoShards();
    const readme = droppedFileFromBytes('ds/README.md', new TextEncoder().encode('# a dataset'));
    const files = [readme, shards[1]!.file, shards[0]!.file];
    expect(looksLikeParquet(files)).toBe(true);
    const table = await openParquetDataset(files);
    expect(table.container).toBe('parquet');
    expect(table.numRows).toBe(45);
    expect(table.columns).toEqual(['image', 'question', 'answer', 'width', 'height', 'bboxs']);
    expect(table.imageColumns).toEqual(['image']);
    expect(table.split).toBe('train');
    expect(table.splits).toEqual(['train']);
    expect(table.source).toBe('ds/data');

    const records = await collect(table.records());
    expect(records.map((r) => r.row)).toEqual(ALL.map((_, i) => i));
    for (let i = 0; i < ALL.length; i++) {
      const want = ALL[i]!;
      const got = records[i]!.value;
      expectRowMatches(got, want);
      await expectImageMatches(got.image, want.image);
    }
    // The image larger than HEAD_BYTES: its head is a strict prefix.
    const big = (records[3]!.value.image as ImageCell).bytes!;
    expect(big.length).toBeGreaterThan(HEAD_BYTES);
    expect(big.head.length).toBe(HEAD_BYTES);
  });

  it('reads lazily: opening reads the footers, one image reads far less than its file', async () => {
    const shards = twoShards();
    const table = await openParquetDataset(shards.map((s) => s.file));
    for (const s of shards) {
      expect(s.bytesRead()).toBeLessThan(s.file.size / 4);
      s.reset();
    }
    // The first record comes after reading the first row group only.
    const iterator = table.records()[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(shards[0]!.bytesRead()).toBeLessThan(shards[0]!.file.size / 2);
    expect(shards[1]!.bytesRead()).toBe(0);

    // Walk to row 43 (second shard, whose row groups hold 6 rows: 37-42, then 43-44), keeping cells.
    const cells = new Map<number, ImageCell>();
    let rec = first.value as TableRecord;
    while (rec.row < 43) {
      rec = (await iterator.next()).value as TableRecord;
      cells.set(rec.row, rec.value.image as ImageCell);
    }
    await iterator.return?.();
    const imageOf = (row: number) => (ALL[row]!.image as FixtureImage).bytes;
    // Row 40's image alone: its row group's image column, not the file.
    for (const s of shards) s.reset();
    const bytes = await cells.get(40)!.bytes!.read();
    expect(bytes).toEqual(imageOf(40));
    expect(shards[0]!.bytesRead()).toBe(0);
    expect(shards[1]!.bytesRead()).toBeGreaterThanOrEqual(bytes.length);
    expect(shards[1]!.bytesRead()).toBeLessThan(shards[1]!.file.size / 2);
    // Row 41 is in the same row group, kept from that read; row 43 is in the next one.
    shards[1]!.reset();
    expect(await cells.get(41)!.bytes!.read()).toEqual(imageOf(41));
    expect(shards[1]!.bytesRead()).toBe(0);
    expect(await cells.get(43)!.bytes!.read()).toEqual(imageOf(43));
    expect(shards[1]!.bytesRead()).toBeGreaterThan(0);
  });

  it('rejects shards of one split whose schemas differ', async () => {
    const a = writeParquetDataset({ rows: FIRST.slice(0, 4) });
    const pathRows = SECOND.slice(0, 4).map((r) => ({ ...r, image: 'a.png' }));
    const b = writeParquetDataset({ rows: pathRows, imageAs: 'path', huggingface: false });
    const files = [
      droppedFileFromBytes('data/train-00000-of-00002.parquet', a),
      droppedFileFromBytes('data/train-00001-of-00002.parquet', b),
    ];
    await expect(openParquetDataset(files)).rejects.toThrow(/different schema/);
    await expect(openParquetDataset(files)).rejects.toBeInstanceOf(DatasetFormatError);
  });
});

describe('splits', () => {
  const small = (first: number) => writeParquetDataset({ rows: makeRows(first, 3), rowGroupSize: 2 });

  it('opens train by default and another split on request', async () => {
    const files = [
      droppedFileFromBytes('data/test-00000-of-00001.parquet', small(100)),
      droppedFileFromBytes('data/train-00000-of-00002.parquet', small(0)),
      droppedFileFromBytes('data/train-00001-of-00002.parquet', small(10)),
      droppedFileFromBytes('data/validation.parquet', small(200)),
    ];
    const train = await openParquetDataset(files);
    expect(train.split).toBe('train');
    expect(train.splits).toEqual(['test', 'train', 'validation']);
    expect(train.numRows).toBe(6);
    const trainRows = await collect(train.records());
    expect(trainRows.map((r) => r.value.answer)).toEqual([
      'word0',
      'word1',
      'word2',
      'word10',
      'word11',
      'word12',
    ]);

    const test = await openParquetDataset(files, { split: 'test' });
    expect(test.split).toBe('test');
    expect((await collect(test.records())).map((r) => r.value.answer)).toEqual([
      'word100',
      'word101',
      'word102',
    ]);
    const val = await openParquetDataset(files, { split: 'validation', source: 'my drop' });
    expect(val.source).toBe('my drop');
    expect((await collect(val.records())).map((r) => r.row)).toEqual([0, 1, 2]);

    await expect(openParquetDataset(files, { split: 'dev' })).rejects.toThrow(
      /"dev".*"test", "train", "validation"/,
    );
  });

  it('reads <config>/<split>/0000.parquet folders; without train it asks for a split', async () => {
    const files = [
      droppedFileFromBytes('default/test/0000.parquet', small(0)),
      droppedFileFromBytes('default/validation/0000.parquet', small(50)),
      droppedFileFromBytes('default/validation/0001.parquet', small(60)),
    ];
    const err = await openParquetDataset(files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect(String(err)).toMatch(/"test", "validation".*split option/);
    const val = await openParquetDataset(files, { split: 'validation' });
    expect(val.numRows).toBe(6);
    expect((await collect(val.records())).map((r) => r.value.answer)).toEqual([
      'word50',
      'word51',
      'word52',
      'word60',
      'word61',
      'word62',
    ]);
  });

  it('takes a single file of any name as the split to open', async () => {
    const table = await openParquetDataset([droppedFileFromBytes('grounding.parquet', small(7))]);
    expect(table.numRows).toBe(3);
    expect(table.source).toBe('grounding.parquet');
    expect(looksLikeParquet([droppedFileFromBytes('rows.jsonl', new Uint8Array(1))])).toBe(false);
  });
});

describe('image columns and codecs', () => {
  it('keeps a string path column as strings', async () => {
    const rows = makeRows(0, 5).map((r, i) => ({ ...r, image: `images/${i}.jpg` }));
    const bytes = writeParquetDataset({ rows, imageAs: 'path', rowGroupSize: 2 });
    const table = await openParquetDataset([droppedFileFromBytes('train.parquet', bytes)]);
    expect(table.imageColumns).toEqual([]);
    const records = await collect(table.records());
    expect(records.map((r) => r.value.image)).toEqual(rows.map((r) => r.image));
    for (let i = 0; i < rows.length; i++) expectRowMatches(records[i]!.value, rows[i]!);
  });

  it('finds struct<bytes, path> image columns without the huggingface metadata', async () => {
    const rows = makeRows(0, 8);
    const bytes = writeParquetDataset({ rows, huggingface: false, rowGroupSize: 3, codec: 'UNCOMPRESSED' });
    const table = await openParquetDataset([droppedFileFromBytes('x/train.parquet', bytes)]);
    expect(table.imageColumns).toEqual(['image']);
    const records = await collect(table.records());
    for (let i = 0; i < rows.length; i++) {
      expectRowMatches(records[i]!.value, rows[i]!);
      await expectImageMatches(records[i]!.value.image, rows[i]!.image);
    }
  });

  it('reads gzip-compressed files', async () => {
    const rows = makeRows(0, 9);
    const bytes = writeParquetDataset({ rows, codec: 'GZIP', rowGroupSize: 4 });
    // The codec really is gzip: the footer names it.
    const codecs = parquetMetadata(bytes).row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec));
    expect(new Set(codecs)).toEqual(new Set(['GZIP']));
    const table = await openParquetDataset([droppedFileFromBytes('train.parquet', bytes)]);
    const records = await collect(table.records());
    expect(records.length).toBe(9);
    for (let i = 0; i < rows.length; i++) {
      expectRowMatches(records[i]!.value, rows[i]!);
      await expectImageMatches(records[i]!.value.image, rows[i]!.image);
    }
  });
});

describe('broken files', () => {
  const good = writeParquetDataset({ rows: makeRows(0, 6), rowGroupSize: 3 });
  const open = (bytes: Uint8Array) =>
    openParquetDataset([droppedFileFromBytes('data/train-00000-of-00001.parquet', bytes)]);
  const expectFormatError = async (bytes: Uint8Array, message: RegExp) => {
    const err = await open(bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).source).toBe('data/train-00000-of-00001.parquet');
    expect(String(err)).toMatch(message);
  };

  it('a truncated file', async () => {
    await expectFormatError(good.subarray(0, good.length - 100), /truncated/);
    await expectFormatError(good.subarray(0, good.length >> 1), /truncated/);
    await expectFormatError(good.subarray(0, 6), /too small/);
    await expectFormatError(new Uint8Array(0), /too small/);
  });

  it('a bad leading magic', async () => {
    const bad = good.slice();
    bad.set([0x50, 0x41, 0x52, 0x32], 0);
    await expectFormatError(bad, /not a Parquet file/);
  });

  it('a file that is not Parquet', async () => {
    const text = new TextEncoder().encode(
      JSON.stringify(makeRows(0, 3).map((r) => ({ ...r, image: 'a.png' }))),
    );
    await expectFormatError(text, /not a Parquet file/);
  });

  it('a corrupt footer length or footer', async () => {
    const badLength = good.slice();
    new DataView(badLength.buffer).setUint32(badLength.length - 8, 0x7fffffff, true);
    await expectFormatError(badLength, /truncated|corrupt/);
    const zeroFooter = good.slice();
    const footerLength = new DataView(good.buffer, good.byteOffset).getUint32(good.length - 8, true);
    zeroFooter.fill(0, good.length - 8 - footerLength, good.length - 8);
    await expectFormatError(zeroFooter, /corrupt|truncated|not supported/);
  });

  it('corrupt data pages fail while reading records, with the typed error', async () => {
    const bad = good.slice();
    bad.fill(0xff, 4, 64);
    const table = await open(bad);
    const err = await collect(table.records()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
  });
});
