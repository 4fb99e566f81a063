// Dataset benchmark (CPU only): opening 20,000 grounding rows with images in each stored form (HF
// save_to_disk Arrow with embedded PNGs, Parquet with row groups of 100 as HF writes image sets,
// JSONL beside 20,000 PNG files without sizes, the Arrow folder zipped with deflate) and then loading
// random rows' images (read + decode). Open: rows / s of the whole index and validation pass; image:
// median ms per random row.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import type { Dataset } from '../src/data/dataset.ts';
import { openDatasetAt } from '../src/data/open-dataset-node.ts';
import { buildHfArrowFiles, type HfFeature } from '../test/data/sources/hf-arrow-fixture.ts';
import { writeParquetDataset } from '../test/data/sources/parquet-fixture.ts';

export interface DatasetRow {
  name: string;
  rows: number;
  open_ms: number;
  rows_per_s: number;
  image_ms: number;
}

const ROWS = 20_000;
const DISTINCT = 64;
const IMAGE_SAMPLES = 50;

function png(width: number, height: number, seed: number): Uint8Array {
  const p = new PNG({ width, height });
  let state = seed * 2654435761;
  for (let i = 0; i < p.data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    p.data[i] = i % 4 === 3 ? 255 : state >>> 24;
  }
  return new Uint8Array(PNG.sync.write(p));
}

const FEATURES: Record<string, HfFeature> = {
  image: { _type: 'Image' },
  question: { _type: 'Value', dtype: 'string' },
  answer: { _type: 'Value', dtype: 'string' },
  width: { _type: 'Value', dtype: 'int64' },
  height: { _type: 'Value', dtype: 'int64' },
  bboxs: { _type: 'Sequence', feature: { _type: 'Sequence', feature: { _type: 'Value', dtype: 'float64' } } },
};

function writeForms(dir: string): Record<string, string> {
  const images = Array.from({ length: DISTINCT }, (_, k) => ({
    w: 40 + k,
    h: 30 + k,
    bytes: png(40 + k, 30 + k, k),
  }));
  const rows = Array.from({ length: ROWS }, (_, i) => {
    const img = images[i % DISTINCT] as (typeof images)[number];
    return { i, img, box: [1, 2, img.w - 3, img.h - 4] };
  });
  const table = rows.map(({ i, img, box }) => ({
    image: { bytes: img.bytes, path: `img_${i}.png` },
    question: `Where is thing ${i}?`,
    answer: 'A',
    width: img.w,
    height: img.h,
    bboxs: [box],
  }));
  const arrow = buildHfArrowFiles({ rows: table, features: FEATURES, shards: 4, batchRows: 1000 });
  for (const f of arrow) {
    mkdirSync(join(dir, 'arrow', f.path, '..'), { recursive: true });
    writeFileSync(join(dir, 'arrow', f.path), f.bytes);
  }
  writeFileSync(
    join(dir, 'arrow.zip'),
    zipSync(Object.fromEntries(arrow.map((f) => [`ds/${f.path}`, [f.bytes, { level: 6 }]]))),
  );
  mkdirSync(join(dir, 'parquet'));
  writeFileSync(
    join(dir, 'parquet', 'train-00000-of-00001.parquet'),
    writeParquetDataset({ rows: table, rowGroupSize: 100 }),
  );
  mkdirSync(join(dir, 'jsonl', 'images'), { recursive: true });
  const lines = rows.map(({ i, img, box }) => {
    writeFileSync(join(dir, 'jsonl', 'images', `img_${i}.png`), img.bytes);
    return JSON.stringify({ image: `images/img_${i}.png`, question: `Where is thing ${i}?`, bboxs: [box] });
  });
  writeFileSync(join(dir, 'jsonl', 'train.jsonl'), lines.join('\n'));
  return {
    'hf-arrow': join(dir, 'arrow'),
    parquet: join(dir, 'parquet'),
    'jsonl+png': join(dir, 'jsonl'),
    'hf-arrow.zip': join(dir, 'arrow.zip'),
  };
}

async function imageMs(ds: Dataset): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < IMAGE_SAMPLES; k++) {
    const row = ds.rows[(k * 7919) % ds.rows.length];
    if (row === undefined) continue;
    const t0 = performance.now();
    await ds.loadImage(row);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1] ?? Number.NaN;
}

export async function benchDatasets(
  { only }: { only?: RegExp } = {},
  log: (s: string) => void = () => {},
): Promise<DatasetRow[]> {
  const names = ['dataset-hf-arrow', 'dataset-parquet', 'dataset-jsonl+png', 'dataset-hf-arrow.zip'];
  if (only && !names.some((n) => only.test(n))) return [];
  const dir = mkdtempSync(join(tmpdir(), 'vgrpo-bench-data-'));
  try {
    const forms = writeForms(dir);
    const out: DatasetRow[] = [];
    for (const [form, path] of Object.entries(forms)) {
      const name = `dataset-${form}`;
      if (only && !only.test(name)) continue;
      const t0 = performance.now();
      const ds = await openDatasetAt(path);
      const openMs = performance.now() - t0;
      if (ds.report.usable !== ROWS)
        throw new Error(`${name}: ${ds.report.usable} usable rows, expected ${ROWS}`);
      const row: DatasetRow = {
        name,
        rows: ROWS,
        open_ms: +openMs.toFixed(1),
        rows_per_s: Math.round((ROWS / openMs) * 1000),
        image_ms: +(await imageMs(ds)).toFixed(2),
      };
      log(`  ${name}: open ${row.open_ms} ms (${row.rows_per_s} rows/s), image ${row.image_ms} ms`);
      out.push(row);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
