// The dataset code (src/data) in Debian's Chromium, in a module Worker (where the app loads data) and in
// the page, without the app build: test/e2e/data-entry.ts is bundled here with Vite's JS API (in memory)
// and served on a made-up origin through Playwright routing. Datasets reach the browser as a person's
// picks do: files on disk chosen through <input type=file> (webkitdirectory for folders). The browser's
// report must equal the one Node computes on the same bytes, its pixels pngjs's decode of the PNGs, and
// the synthetic generator's rows and RGBA bytes must equal Node's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { tsImport } from 'tsx/esm/api';
import { build } from 'vite';
import { openServedPage, ROOT } from './harness.js';

const ORIGIN = 'http://data.test';
const ENTRY = path.join(ROOT, 'test/e2e/data-entry.ts');

/** The bundle of ENTRY (and any chunks it splits off), in memory, keyed by URL path ('/data-entry.js'). */
async function bundle() {
  const result = await build({
    root: ROOT,
    configFile: false,
    envDir: false,
    publicDir: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: false,
      sourcemap: false,
      target: 'es2022',
      modulePreload: false,
      copyPublicDir: false,
      rollupOptions: {
        input: { 'data-entry': ENTRY },
        preserveEntrySignatures: 'exports-only',
        output: {
          format: 'es',
          entryFileNames: '[name].js',
          chunkFileNames: 'chunks/[name]-[hash].js',
          assetFileNames: 'assets/[name]-[hash][extname]',
        },
      },
    },
  });
  const files = new Map();
  for (const out of (Array.isArray(result) ? result : [result]).flatMap((r) => r.output)) {
    files.set(`/${out.fileName}`, out.type === 'chunk' ? out.code : out.source);
  }
  assert.ok(files.has('/data-entry.js'), `no entry chunk in ${[...files.keys()].join(', ')}`);
  return files;
}

const WORKER = `
import * as api from '/data-entry.js';
self.onmessage = async (event) => {
  const { fn, args } = event.data;
  const result = await api[fn](...args);
  self.postMessage({ scope: self.constructor.name, result });
};
`;
const PAGE = `<!doctype html><title>data</title>
<input type="file" id="folder" webkitdirectory>
<input type="file" id="files" multiple>
<script type="module">
import * as api from '/data-entry.js';
const call = (fn, args) => new Promise((resolve, reject) => {
  const worker = new Worker('/worker.js', { type: 'module' });
  worker.onmessage = (event) => { resolve(event.data); worker.terminate(); };
  worker.onerror = (event) => { reject(new Error(event.message || 'worker error')); worker.terminate(); };
  worker.postMessage({ fn, args });
});
// The input's File objects are posted to the worker as the app posts a drop's files.
window.openPicked = async (input, where, options) => {
  const files = [...document.getElementById(input).files];
  if (where === 'page') return { scope: 'Window', result: await api.openFiles(files, options) };
  return call('openFiles', [files, options]);
};
window.synthetic = async (where, seed, count, opts) =>
  where === 'page' ? { scope: 'Window', result: await api.synthetic(seed, count, opts) } : call('synthetic', [seed, count, opts]);
window.ready = true;
</script>`;

/** A PNG whose pixels encode (x, y, seed), alpha included, so a wrong image or channel shows. */
function png(width, height, seed) {
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = (i * 7 + seed) & 255;
    p.data[4 * i + 1] = (i >> 3) & 255;
    p.data[4 * i + 2] = (seed * 40) & 255;
    p.data[4 * i + 3] = [255, 254, 128, 1, 0][(i + seed) % 5];
  }
  return new Uint8Array(PNG.sync.write(p));
}

const N = 10;
/** Broken by construction: 2 (box far outside), 4 (not an image), 6 (no question), 8 (1 px over: clamped). */
const ROWS = Array.from({ length: N }, (_, i) => {
  const width = 18 + 3 * i;
  const height = 14 + 2 * i;
  let box = [1 + (i % 3), 2, width - 3, height - 4];
  if (i === 2) box = [0, 0, width + 30, height];
  if (i === 8) box = [0, 1, width + 1, height];
  return {
    name: `img_${i}.png`,
    bytes: i === 4 ? new TextEncoder().encode('these bytes are not a PNG') : png(width, height, i),
    width,
    height,
    question: i === 6 ? '' : `Where is thing ${i}?`,
    answer: `answer ${i}`,
    box,
  };
});
const EXPECTED_ISSUES = [
  [2, 'box-outside-image', 'skipped'],
  [4, 'undecodable-image', 'skipped'],
  [6, 'missing-question', 'skipped'],
  [8, 'box-clamped', 'repaired'],
];
const USABLE = [0, 1, 3, 5, 7, 8, 9];

const FEATURES = {
  image: { _type: 'Image' },
  question: { _type: 'Value', dtype: 'string' },
  answer: { _type: 'Value', dtype: 'string' },
  width: { _type: 'Value', dtype: 'int64' },
  height: { _type: 'Value', dtype: 'int64' },
  bboxs: { _type: 'Sequence', feature: { _type: 'Sequence', feature: { _type: 'Value', dtype: 'float64' } } },
};
const tableRow = (r) => ({
  image: { bytes: r.bytes, path: r.name },
  question: r.question,
  answer: r.answer,
  width: r.width,
  height: r.height,
  bboxs: [r.box],
});

/** The picks: a zip of an HF save_to_disk folder (deflated), a Parquet folder, a JSONL folder with images. */
const CASES = [
  { name: 'HF save_to_disk zip', input: 'files', pick: 'arrow.zip', container: 'hf-arrow', options: {} },
  { name: 'Parquet folder', input: 'folder', pick: 'pq', container: 'parquet', options: {} },
  {
    name: 'JSONL folder',
    input: 'folder',
    pick: 'jsonl',
    container: 'jsonl',
    options: { checkImages: true },
  },
];

/** @type {import('playwright-core').Browser | undefined} */
let browser;
/** @type {import('playwright-core').Page | undefined} */
let page;
const pageErrors = [];
let dir = '';
/** @type {Record<string, any>} modules loaded through tsx */
let node;

function writeTree(root, files) {
  for (const f of files) {
    const full = path.join(root, ...f.path.split('/'));
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, f.bytes);
  }
}

before(async () => {
  const t0 = performance.now();
  const files = await bundle();
  const bundleMs = performance.now() - t0;
  files.set('/worker.js', WORKER);

  node = await tsImport('./data-node.ts', import.meta.url);

  dir = mkdtempSync(path.join(tmpdir(), 'vgrpo-e2e-data-'));
  const arrowFiles = node.buildHfArrowFiles({
    rows: ROWS.map(tableRow),
    features: FEATURES,
    shards: 2,
    batchRows: 3,
  });
  const zipTree = {};
  for (const f of arrowFiles) zipTree[`my_dataset/${f.path}`] = [f.bytes, { level: 6 }];
  writeFileSync(path.join(dir, 'arrow.zip'), zipSync(zipTree));
  const parquet = node.writeParquetDataset({ rows: ROWS.map(tableRow), rowGroupSize: 4 });
  writeTree(path.join(dir, 'pq'), [
    { path: 'data/train-00000-of-00001.parquet', bytes: parquet },
    { path: 'README.md', bytes: new TextEncoder().encode('# a dataset card\n') },
  ]);
  // Relative image paths, and absolute ones from the author's machine (resolved by file name).
  const jsonl = ROWS.map((r, i) =>
    JSON.stringify({
      image: i % 2 === 0 ? `images/${r.name}` : `/home/author/pics/${r.name}`,
      question: r.question,
      bboxs: [r.box],
    }),
  ).join('\n');
  writeTree(path.join(dir, 'jsonl'), [
    { path: 'train.jsonl', bytes: new TextEncoder().encode(`${jsonl}\n`) },
    ...ROWS.map((r) => ({ path: `images/${r.name}`, bytes: r.bytes })),
  ]);

  ({ browser, page } = await openServedPage(ORIGIN, PAGE, files, pageErrors));
  await page.waitForFunction(() => window.ready === true);
  console.log(`vite bundle: ${Math.round(bundleMs)} ms, ${files.size - 1} file(s)`);
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * What a pick of `pick` (a file or a folder under dir) holds, as DroppedFiles with a folder drop's paths.
 * The bytes stay Node Buffers, whose slice() is a view, not a copy (the Parquet reader once relied on it).
 */
function nodeDrop(pick) {
  const full = path.join(dir, pick);
  if (!statSync(full).isDirectory()) return [node.droppedFileFromBytes(pick, readFileSync(full))];
  return readdirSync(full, { recursive: true })
    .map((rel) => rel.split(path.sep).join('/'))
    .filter((rel) => statSync(path.join(full, rel)).isFile())
    .sort()
    .map((rel) => node.droppedFileFromBytes(`${pick}/${rel}`, readFileSync(path.join(full, rel))));
}

/** JSON's view of a value (what crosses to and from the browser), so undefined members compare alike. */
const plain = (v) => JSON.parse(JSON.stringify(v));

async function openPicked(c, where) {
  const input = page.locator(`#${c.input}`);
  await input.setInputFiles(path.join(dir, c.pick));
  const { scope, result } = await page.evaluate(
    ([i, w, o]) => window.openPicked(i, w, o),
    [c.input, where, c.options],
  );
  assert.equal(scope, where === 'page' ? 'Window' : 'DedicatedWorkerGlobalScope');
  assert.equal(
    result.error,
    undefined,
    `${c.name} in the ${where}: ${result.error?.name}: ${result.error?.message}`,
  );
  return result;
}

for (const c of CASES) {
  test(`${c.name}: the worker's and the page's report equal Node's; pixels equal the PNGs`, async () => {
    const drop = nodeDrop(c.pick);
    const nodeDs = await node.openDataset(drop, { ...c.options, decode: node.decodeImage });
    const nodeReport = plain(nodeDs.report);
    // Node itself against the construction, so an equal-but-wrong pair cannot pass.
    assert.equal(nodeReport.container, c.container);
    assert.deepEqual(
      nodeReport.issues.map((i) => [i.row, i.reason, i.action]),
      EXPECTED_ISSUES,
    );

    for (const where of ['worker', 'page']) {
      const got = await openPicked(c, where);
      assert.deepEqual(
        [...got.paths].sort(),
        drop.map((f) => f.path),
        `${where}: the picked files' paths`,
      );
      assert.deepEqual(got.report, nodeReport, `${where}: the report differs from Node's`);
      assert.equal(got.report.rows, N);
      assert.equal(got.report.usable, USABLE.length);
      assert.equal(got.report.boxFormat, 'xyxy');
      assert.deepEqual(
        got.rows.map((r) => r.row),
        USABLE,
      );
      for (const r of got.rows) {
        const src = ROWS[r.row];
        assert.equal(r.question, src.question);
        assert.deepEqual(r.box, r.row === 8 ? [0, 1, src.width, src.height] : src.box, `row ${r.row} box`);
        assert.deepEqual([r.width, r.height], [src.width, src.height]);
        const ref = PNG.sync.read(Buffer.from(src.bytes));
        assert.deepEqual([r.image.width, r.image.height], [ref.width, ref.height], `row ${r.row} size`);
        assert.ok(Buffer.from(r.image.data, 'base64').equals(ref.data), `${where}: row ${r.row} pixels`);
      }
    }
  });
}

test('synthetic rows: the worker and the page generate what Node does, byte for byte', async () => {
  const [seed, count] = [20250611, 6];
  const opts = { width: 112, height: 84, objects: 4, distractors: true, text: true };
  const rows = node.syntheticDataset(seed, count, opts);
  const want = plain(
    rows.map((r) => ({
      id: r.id,
      width: r.width,
      height: r.height,
      question: r.question,
      box: [...r.box],
      answer: r.answer,
    })),
  );
  const wantImages = [];
  for (const r of rows) wantImages.push(await r.image());
  const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');
  assert.equal(new Set(wantImages.map((im) => sha(im.data))).size, count, 'the images should all differ');

  for (const where of ['worker', 'page']) {
    const { scope, result } = await page.evaluate(
      ([w, s, n, o]) => window.synthetic(w, s, n, o),
      [where, seed, count, opts],
    );
    assert.equal(scope, where === 'page' ? 'Window' : 'DedicatedWorkerGlobalScope');
    assert.equal(result.error, undefined, `${where}: ${result.error?.name}: ${result.error?.message}`);
    assert.deepEqual(result.rows, want, `${where}: rows differ from Node's`);
    for (let i = 0; i < count; i++) {
      const im = result.images[i];
      assert.deepEqual([im.width, im.height], [wantImages[i].width, wantImages[i].height]);
      const bytes = Buffer.from(im.data, 'base64');
      assert.equal(sha(bytes), sha(wantImages[i].data), `${where}: image ${i} RGBA bytes differ from Node's`);
    }
  }
  assert.deepEqual(pageErrors, []);
});
