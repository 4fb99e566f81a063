// 20,000 rows with images load without decoding them: an HF save_to_disk folder with the images
// embedded, and a JSONL file with 20,000 image files beside it (sizes only in the image headers).
// Opening must call no decoder and read no image or shard whole; asking for one row's image then
// decodes exactly that image, whose pixels are checked against pngjs.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toGroundingRows } from '../../src/data/dataset.ts';
import type { DroppedFile } from '../../src/data/files/files.ts';
import { droppedFilesFromDirectory } from '../../src/data/files/files-node.ts';
import { decodeImage } from '../../src/data/image/image-decode-node.ts';
import { openDataset } from '../../src/data/open-dataset.ts';
import type { RgbImage } from '../../src/model/image-processor.ts';
import { writeHfArrowDataset } from './sources/hf-arrow-fixture.ts';

const ROWS = 20_000;
const DISTINCT = 64;

function png(width: number, height: number, seed: number): Uint8Array {
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = (i + seed * 3) & 255;
    p.data[4 * i + 1] = seed;
    p.data[4 * i + 2] = (i >> 4) & 255;
    p.data[4 * i + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(p));
}

const IMAGES = Array.from({ length: DISTINCT }, (_, k) => ({
  width: 24 + k,
  height: 20 + ((k * 7) % 40),
  bytes: png(24 + k, 20 + ((k * 7) % 40), k),
}));
const imageOf = (row: number) => IMAGES[row % DISTINCT] as (typeof IMAGES)[number];
const boxOf = (row: number) => {
  const { width, height } = imageOf(row);
  return [row % 5, row % 3, width - (row % 7), height - 1];
};

/** Files whose whole-file reads are counted, and a decoder whose calls are counted. */
function instrument(files: DroppedFile[]) {
  const stats = { wholeReads: [] as string[], rangeBytes: 0, decodes: 0 };
  const wrapped = files.map(
    (f): DroppedFile => ({
      path: f.path,
      size: f.size,
      read: async () => {
        stats.wholeReads.push(f.path);
        return f.read();
      },
      readRange: async (start, end) => {
        const bytes = await f.readRange(start, end);
        stats.rangeBytes += bytes.length;
        return bytes;
      },
    }),
  );
  const decode = async (bytes: Uint8Array, name: string): Promise<RgbImage> => {
    stats.decodes++;
    return decodeImage(bytes, name);
  };
  return { files: wrapped, stats, decode };
}

function expectPixels(img: RgbImage, row: number) {
  const ref = PNG.sync.read(Buffer.from(imageOf(row).bytes));
  expect([img.width, img.height]).toEqual([ref.width, ref.height]);
  expect(Buffer.from(img.data).equals(ref.data)).toBe(true);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vgrpo-stream-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`${ROWS} rows with images`, () => {
  it('an HF save_to_disk folder with embedded images: indexed from headers, decoded on demand', async () => {
    const rows = Array.from({ length: ROWS }, (_, i) => ({
      image: { bytes: imageOf(i).bytes, path: `img_${i}.png` },
      question: `Where is thing ${i}?`,
      width: imageOf(i).width,
      height: imageOf(i).height,
      bboxs: [boxOf(i)],
    }));
    await writeHfArrowDataset(join(dir, 'arrow'), {
      rows,
      features: {
        image: { _type: 'Image' },
        question: { _type: 'Value', dtype: 'string' },
        width: { _type: 'Value', dtype: 'int64' },
        height: { _type: 'Value', dtype: 'int64' },
        bboxs: {
          _type: 'Sequence',
          feature: { _type: 'Sequence', feature: { _type: 'Value', dtype: 'float64' } },
        },
      },
      shards: 4,
      batchRows: 1000,
    });
    const { files, stats, decode } = instrument(await droppedFilesFromDirectory(join(dir, 'arrow')));
    const ds = await openDataset(files, { decode });
    expect(stats.decodes).toBe(0);
    expect(stats.wholeReads.filter((p) => p.endsWith('.arrow'))).toEqual([]);
    expect(ds.report).toMatchObject({ container: 'hf-arrow', rows: ROWS, usable: ROWS, issues: [] });
    const grounding = toGroundingRows(ds);
    for (const row of [0, 12_345, ROWS - 1]) {
      const g = grounding[row];
      expect(g?.box).toEqual(boxOf(row));
      const before = stats.rangeBytes;
      expectPixels(await (g as NonNullable<typeof g>).image(), row);
      expect(stats.rangeBytes - before).toBe(imageOf(row).bytes.length);
    }
    expect(stats.decodes).toBe(3);
  });

  it('JSONL beside 20,000 image files without sizes: sizes from headers, nothing decoded', async () => {
    const root = join(dir, 'jsonl');
    mkdirSync(join(root, 'images'), { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const name = `img_${String(i).padStart(5, '0')}.png`;
      writeFileSync(join(root, 'images', name), imageOf(i).bytes);
      lines.push(
        JSON.stringify({ image: `images/${name}`, question: `Where is thing ${i}?`, bboxs: [boxOf(i)] }),
      );
    }
    writeFileSync(join(root, 'train.jsonl'), lines.join('\n'));
    const { files, stats, decode } = instrument(await droppedFilesFromDirectory(root));
    const ds = await openDataset(files, { decode });
    expect(stats.decodes).toBe(0);
    expect(stats.wholeReads).toEqual(['train.jsonl']);
    expect(ds.report).toMatchObject({ container: 'jsonl', rows: ROWS, usable: ROWS, issues: [] });
    for (const row of [7, 19_998]) {
      const r = ds.rows[row];
      expect([r?.width, r?.height, r?.box]).toEqual([imageOf(row).width, imageOf(row).height, boxOf(row)]);
    }
    expectPixels(await ds.loadImage(ds.rows[4321] as NonNullable<(typeof ds.rows)[number]>), 4321);
    expect(stats.decodes).toBe(1);
  });
});
