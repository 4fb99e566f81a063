// Files written by the real HF `datasets` library (test/fixtures/hf-datasets, made by
// scripts/make-hf-dataset-fixtures.py): a DatasetDict saved with save_to_disk and its train split
// exported with to_parquet. Rows, image sizes and pixels must equal what `datasets` itself decodes
// (expected.json, including its EXIF transpose of a JPEG); the broken rows are known by construction.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../../src/data/dataset.ts';
import { openDatasetAt } from '../../../src/data/open-dataset-node.ts';

const DIR = new URL('../../fixtures/hf-datasets/', import.meta.url).pathname;

interface ExpectedRow {
  row: number;
  question: string;
  width: number;
  height: number;
  bboxs: number[][];
  format: 'PNG' | 'JPEG';
  rgba_sha256: string;
}
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8')) as {
  datasets_version: string;
  train: ExpectedRow[];
  test: ExpectedRow[];
};

/** Row 5 is 1 px over its image (clamped), row 6 far outside, row 7 has an empty question. */
const TRAIN_ISSUES = [
  [5, 'box-clamped', 'repaired'],
  [6, 'box-outside-image', 'skipped'],
  [7, 'missing-question', 'skipped'],
];

async function expectRows(ds: Dataset, expected: ExpectedRow[]) {
  for (const r of ds.rows) {
    const want = expected[r.row] as ExpectedRow;
    expect([r.question, r.width, r.height]).toEqual([want.question, want.width, want.height]);
    const [x1, y1, x2, y2] = want.bboxs[0] as number[];
    expect(r.box).toEqual([x1, y1, Math.min(x2 as number, want.width), y2]);
    const img = await ds.loadImage(r);
    expect([img.width, img.height]).toEqual([want.width, want.height]);
    // Our JPEG decoder is exact with Pillow's libjpeg-turbo, so every image's pixels are.
    expect(createHash('sha256').update(img.data).digest('hex')).toBe(want.rgba_sha256);
  }
}

describe(`files written by HF datasets ${EXPECTED.datasets_version}`, () => {
  it('save_to_disk DatasetDict: the train split by default, as datasets decodes it', async () => {
    const ds = await openDatasetAt(`${DIR}saved`);
    expect(ds.report).toMatchObject({
      container: 'hf-arrow',
      split: 'train',
      splits: ['train', 'test'],
      format: 'visual-cot',
      rows: EXPECTED.train.length,
      usable: 6,
      repaired: 1,
      boxFormat: 'xyxy',
    });
    expect(ds.report.fields).toMatchObject({ image: 'image', question: 'question', box: 'bboxs' });
    expect(ds.report.issues.map((i) => [i.row, i.reason, i.action])).toEqual(TRAIN_ISSUES);
    expect(ds.rows.map((r) => r.row)).toEqual([0, 1, 2, 3, 4, 5]);
    await expectRows(ds, EXPECTED.train);
  });

  it('save_to_disk DatasetDict: the test split', async () => {
    const ds = await openDatasetAt(`${DIR}saved`, { split: 'test' });
    expect([ds.report.split, ds.report.rows, ds.report.usable, ds.report.issues]).toEqual(['test', 2, 2, []]);
    await expectRows(ds, EXPECTED.test);
  });

  it('to_parquet: the same rows, issues and pixels', async () => {
    const ds = await openDatasetAt(`${DIR}train-00000-of-00001.parquet`);
    expect(ds.report).toMatchObject({
      container: 'parquet',
      rows: EXPECTED.train.length,
      usable: 6,
      repaired: 1,
    });
    expect(ds.report.issues.map((i) => [i.row, i.reason, i.action])).toEqual(TRAIN_ISSUES);
    await expectRows(ds, EXPECTED.train);
  });
});
