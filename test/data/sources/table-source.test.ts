// Grounding rows from a columnar table, independent of the Arrow / Parquet readers: a hand-built
// TabularTable whose records carry embedded PNGs (sizes known from how they were written), path-only
// images found among the dropped files, and broken rows whose reasons are known by construction.

import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { toGroundingRows } from '../../../src/data/dataset.ts';
import { type DroppedFile, droppedFileFromBytes } from '../../../src/data/files/files.ts';
import { decodeImage } from '../../../src/data/image/image-decode-node.ts';
import {
  HEAD_BYTES,
  type ImageCell,
  type TableObject,
  type TableRecord,
  type TabularTable,
} from '../../../src/data/sources/table.ts';
import { openTableDataset } from '../../../src/data/sources/table-source.ts';

function png(width: number, height: number, shade = 128): Uint8Array {
  const p = new PNG({ width, height });
  p.data.fill(shade);
  return new Uint8Array(PNG.sync.write(p));
}

/** Cells whose record is no longer current: their head is gone, as with the real readers. */
const expired = new WeakSet<object>();

/** An embedded cell that counts whole-image reads. */
function embedded(bytes: Uint8Array, counter: { reads: number }, path?: string): ImageCell {
  const cell: ImageCell = {
    kind: 'image',
    ...(path === undefined ? {} : { path }),
    bytes: {
      length: bytes.length,
      get head() {
        return expired.has(cell) ? new Uint8Array(0) : bytes.subarray(0, HEAD_BYTES);
      },
      read: async () => {
        counter.reads++;
        return bytes;
      },
    },
  };
  return cell;
}

function table(values: TableObject[], extra: Partial<TabularTable> = {}): TabularTable {
  return {
    source: 'ds',
    container: 'hf-arrow',
    numRows: values.length,
    columns: Object.keys(values[0] ?? {}),
    imageColumns: ['picture'],
    records: async function* (): AsyncGenerator<TableRecord> {
      for (let row = 0; row < values.length; row++) {
        const value = values[row] as TableObject;
        yield { row, value };
        for (const v of Object.values(value)) if (v !== null && typeof v === 'object') expired.add(v);
      }
    },
    ...extra,
  };
}

describe('openTableDataset', () => {
  it('indexes embedded images by their header sizes without reading or decoding them', async () => {
    const counter = { reads: 0 };
    const a = png(40, 30);
    const b = png(17, 9, 200);
    const ds = await openTableDataset(
      table([
        { picture: embedded(a, counter), question: 'where is a?', bboxs: [[1, 2, 30, 20]] },
        { picture: embedded(b, counter, 'b.png'), question: 'where is b?', bboxs: [[0, 0, 17, 9]] },
      ]),
      [],
      { decode: decodeImage },
    );
    expect(counter.reads).toBe(0);
    expect(ds.report).toMatchObject({ container: 'hf-arrow', rows: 2, usable: 2, issues: [] });
    expect(ds.report.fields.image).toBe('picture');
    expect(ds.rows.map((r) => [r.width, r.height, r.box, r.imageRef])).toEqual([
      [40, 30, [1, 2, 30, 20], 'ds#0'],
      [17, 9, [0, 0, 17, 9], 'b.png'],
    ]);
    const rows = toGroundingRows(ds);
    const img = await rows[1]?.image();
    expect(counter.reads).toBe(1);
    expect([img?.width, img?.height, img?.data[0]]).toEqual([17, 9, 200]);
  });

  it('reports each broken row with its reason and keeps the rest', async () => {
    const counter = { reads: 0 };
    const good = png(20, 10);
    const garbage = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const ds = await openTableDataset(
      table([
        { picture: embedded(good, counter), question: 'ok', bboxs: [[1, 1, 5, 5]] },
        { picture: embedded(garbage, counter), question: 'garbage image', bboxs: [[1, 1, 5, 5]] },
        { picture: embedded(good, counter), question: 'far out', bboxs: [[1, 1, 50, 5]] },
        { picture: embedded(good, counter), question: 'nudged', bboxs: [[-1, 0, 21, 10]] },
        { picture: embedded(good, counter), question: '', bboxs: [[1, 1, 5, 5]] },
        { picture: embedded(good, counter), question: 'flat', bboxs: [[3, 3, 3, 8]] },
        {
          picture: embedded(good, counter),
          question: 'says 30 wide',
          width: 30,
          height: 10,
          bboxs: [[1, 1, 5, 5]],
        },
        { picture: null, question: 'no image', bboxs: [[1, 1, 5, 5]] },
        {
          picture: { kind: 'image', path: 'elsewhere/missing.png' },
          question: 'lost',
          bboxs: [[1, 1, 5, 5]],
        },
        { picture: embedded(good, counter), question: 'nan', bboxs: [[1, null, 5, 5]] },
      ]),
      [],
    );
    expect(ds.report.rows).toBe(10);
    expect(ds.report.usable).toBe(2);
    expect(ds.report.repaired).toBe(1);
    expect(ds.rows.map((r) => [r.row, r.box])).toEqual([
      [0, [1, 1, 5, 5]],
      [3, [0, 0, 20, 10]],
    ]);
    expect(ds.report.issues.map((i) => [i.row, i.reason, i.action])).toEqual([
      [1, 'undecodable-image', 'skipped'],
      [2, 'box-outside-image', 'skipped'],
      [3, 'box-clamped', 'repaired'],
      [4, 'missing-question', 'skipped'],
      [5, 'degenerate-box', 'skipped'],
      [6, 'image-size-mismatch', 'skipped'],
      [7, 'missing-image', 'skipped'],
      [8, 'missing-image', 'skipped'],
      [9, 'non-numeric-box', 'skipped'],
    ]);
    expect(counter.reads).toBe(0);
  });

  it('finds path-only images among the dropped files and reads only their headers', async () => {
    const bytes = png(64, 48);
    let reads = 0;
    let ranged = 0;
    const inner = droppedFileFromBytes('ds/images/cat.png', bytes);
    const file: DroppedFile = {
      ...inner,
      read: async () => {
        reads++;
        return inner.read();
      },
      readRange: async (s, e) => {
        ranged += Math.min(e, bytes.length) - s;
        return inner.readRange(s, e);
      },
    };
    const ds = await openTableDataset(
      table(
        [
          {
            image_path: '/home/someone/data/images/cat.png',
            question: 'the cat',
            bboxes: [0.1, 0.25, 0.5, 0.75],
          },
          { image_path: 'dog.png', question: 'the dog', bboxes: [0.1, 0.1, 0.2, 0.2] },
        ],
        { imageColumns: [], container: 'parquet' },
      ),
      [file],
      { boxFormat: 'norm1', decode: decodeImage },
    );
    expect(reads).toBe(0);
    expect(ranged).toBeLessThanOrEqual(bytes.length);
    expect(ds.rows).toHaveLength(1);
    expect(ds.rows[0]).toMatchObject({ width: 64, height: 48, box: [6.4, 12, 32, 36] });
    expect(ds.report.issues.map((i) => [i.row, i.reason])).toEqual([[1, 'missing-image']]);
    expect((await ds.loadImage(ds.rows[0] as never)).width).toBe(64);
  });

  it('decodes every image when asked to check them', async () => {
    const counter = { reads: 0 };
    const truncated = png(12, 12).subarray(0, 60);
    const ds = await openTableDataset(
      table([
        { picture: embedded(png(12, 12), counter), question: 'a', bboxs: [[1, 1, 5, 5]] },
        { picture: embedded(truncated, counter), question: 'b', bboxs: [[1, 1, 5, 5]] },
      ]),
      [],
      { decode: decodeImage, checkImages: true },
    );
    expect(counter.reads).toBe(2);
    expect(ds.report.issues.map((i) => [i.row, i.reason])).toEqual([[1, 'undecodable-image']]);
  });
});
