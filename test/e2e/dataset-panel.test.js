// End-to-end test of the app's dataset panel (dist/) in Chromium: the built-in synthetic set by
// default, a zip picked through the file input and a folder through the folder input (opened in the
// GRPO worker, report and preview shown), an ambiguous box format settled through the panel, field
// names given (Enter submits) and remembered for the next drop of that layout, a 5,000-row zip whose
// opening shows progress and loses to a later, smaller pick, and a corrupt drop on the page that
// leaves the loaded set and the app working. Datasets are written here; their broken rows and pixels
// are known by construction. Run `npm run build` first.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { startPreview, UI_TIMEOUT, WEBGPU_ARGS, withPage } from './harness.js';

/** @type {{ port: number, close: () => Promise<void> } | undefined} */
let server;
let dir = '';

/** A PNG whose pixel (x, y) is (x * 5, y * 7, 90). */
function png(width, height) {
  const p = new PNG({ width, height });
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      p.data[i] = (x * 5) & 255;
      p.data[i + 1] = (y * 7) & 255;
      p.data[i + 2] = 90;
      p.data[i + 3] = 255;
    }
  return PNG.sync.write(p);
}

const W = 48;
const H = 32;
/** Six rows: row 2's box is far outside, row 4 has no question; the others are usable. */
const ROWS = [0, 1, 2, 3, 4, 5].map((i) => ({
  image: `/somewhere/else/pic_${i}.png`,
  question: i === 4 ? '' : `Where is item ${i}?`,
  bboxs: [i === 2 ? [0, 0, W + 30, H] : [2 + i, 3, 20 + i, 25]],
}));

before(async () => {
  server = await startPreview();
  dir = mkdtempSync(path.join(tmpdir(), 'vgrpo-panel-'));
  /** @type {Record<string, Uint8Array>} */
  const tree = { 'train.jsonl': new TextEncoder().encode(ROWS.map((r) => JSON.stringify(r)).join('\n')) };
  for (let i = 0; i < ROWS.length; i++) tree[`images/pic_${i}.png`] = png(W, H);
  writeFileSync(path.join(dir, 'grounding.zip'), zipSync(tree));
  // A folder whose boxes are all 0 / 1: pixels or 0-1 normalised cannot be told apart.
  const amb = path.join(dir, 'ambiguous');
  mkdirSync(path.join(amb, 'img'), { recursive: true });
  const rows = [0, 1, 2].map((i) => ({ image: `img/a${i}.png`, question: `q${i}`, bboxs: [[0, 0, 1, 1]] }));
  writeFileSync(path.join(amb, 'data.json'), JSON.stringify(rows));
  for (let i = 0; i < 3; i++) writeFileSync(path.join(amb, 'img', `a${i}.png`), png(W, H));
  // A folder whose field names nothing recognises.
  const custom = path.join(dir, 'custom');
  mkdirSync(custom, { recursive: true });
  const odd = [0, 1].map((i) => ({ pic: `c${i}.png`, ask: `find ${i}`, region: [1, 1, 10 + i, 12] }));
  // The same layout again, in another folder: the names given for the first are used for it.
  const again = path.join(dir, 'custom-again');
  mkdirSync(again, { recursive: true });
  writeFileSync(
    path.join(again, 'rows.json'),
    JSON.stringify([{ pic: 'c0.png', ask: 'again', region: [2, 2, 9, 9] }]),
  );
  writeFileSync(path.join(again, 'c0.png'), png(W, H));
  // 5,000 R1-V rows ({image, problem, solution}) with their images in one zip (images stored, as
  // photographs are, the annotations deflated).
  /** @type {Record<string, Uint8Array | [Uint8Array, { level: 0 }]>} */
  const big = {};
  const lines = [];
  const image = png(W, H);
  for (let i = 0; i < 5000; i++) {
    big[`images/${i}.png`] = [image, { level: 0 }];
    lines.push(
      JSON.stringify({
        image: `images/${i}.png`,
        problem: `Where is ${i}?`,
        solution: `<answer>[1, 2, ${10 + (i % 30)}, 20]</answer>`,
      }),
    );
  }
  big['rows.jsonl'] = new TextEncoder().encode(lines.join('\n'));
  writeFileSync(path.join(dir, 'r1v-5000.zip'), zipSync(big));
  writeFileSync(path.join(custom, 'labels.json'), JSON.stringify(odd));
  for (let i = 0; i < 2; i++) writeFileSync(path.join(custom, `c${i}.png`), png(W, H));
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const url = () => `http://127.0.0.1:${server?.port}/`;

/** The RGBA of canvas pixel (x, y) of the preview. */
async function canvasPixel(page, x, y) {
  return page
    .getByTestId('preview-canvas')
    .evaluate((c, [px, py]) => Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data), [x, y]);
}

test('the synthetic set by default; a picked zip is opened, reported and previewed', {
  timeout: 90_000,
}, async () => {
  await withPage(WEBGPU_ARGS, url(), 'dataset-zip.png', async (page) => {
    const panel = page.getByTestId('dataset-panel');
    await panel.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('dataset-synthetic').textContent()) ?? '', /1,000 grounding tasks/);
    await page.getByTestId('preview-show').click();
    await page.getByTestId('dataset-preview').waitFor({ timeout: UI_TIMEOUT });
    // A synthetic question in any of its three forms ("Where is the ...?", "Find the ... in the image.").
    assert.match(
      (await page.getByTestId('preview-question').textContent()) ?? '',
      /^(Where is the|Find the|What is the bounding box of the) \w+/,
    );
    assert.match((await page.getByTestId('preview-position').textContent()) ?? '', /1 \/ 1,000/);
    // A page of 12 thumbnails, each the scene drawn small.
    const thumbs = page.getByTestId('preview-thumb');
    await thumbs.nth(11).locator('canvas').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await thumbs.count(), 12);
    const colours = await thumbs
      .nth(5)
      .locator('canvas')
      .evaluate((c) => {
        const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
        const seen = new Set();
        for (let i = 0; i < data.length; i += 4 * 7) seen.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
        return seen.size;
      });
    assert.ok(colours > 20, `the thumbnail shows ${colours} colours`);

    await page.getByTestId('dataset-files-input').setInputFiles(path.join(dir, 'grounding.zip'));
    const counts = page.getByTestId('report-counts');
    await counts.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await counts.textContent()) ?? '', /6 rows read, 4 usable/);
    assert.equal(await page.getByTestId('report-container').textContent(), 'jsonl');
    assert.match(
      (await page.getByTestId('report-source').textContent()) ?? '',
      /grounding\.zip › train\.jsonl/,
    );
    const issues = (await page.getByTestId('report-issues').textContent()) ?? '';
    assert.match(issues, /2 \(line 3\)box-outside-imageskipped/);
    assert.match(issues, /4 \(line 5\)missing-questionskipped/);

    // The first usable row is row 0: its image, with the box [2, 3, 20, 25] drawn on it.
    await page.getByTestId('dataset-preview').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.getByTestId('preview-question').textContent(), 'Where is item 0?');
    assert.deepEqual(await canvasPixel(page, 40, 10), [200, 70, 90, 255]);
    assert.deepEqual(await canvasPixel(page, 30, 28), [150, 196, 90, 255]);
    const edge = await canvasPixel(page, 2, 10);
    assert.notDeepEqual(edge, [10, 70, 90, 255], 'the box is not drawn');
    await page.getByRole('button', { name: 'Next ›' }).click();
    await page.getByText('Where is item 1?').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('preview-position').textContent()) ?? '', /2 \/ 4/);
    // The thumbnails are the zip's 4 usable rows; the one shown is marked, and a click shows another.
    await thumbs.nth(3).locator('canvas').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await thumbs.count(), 4);
    assert.equal(await thumbs.nth(1).locator('button').getAttribute('aria-pressed'), 'true');
    await thumbs.nth(3).locator('button').click();
    await page
      .getByTestId('preview-position')
      .filter({ hasText: /4 \/ 4/ })
      .waitFor({ timeout: UI_TIMEOUT });
  });
});

test('a picked folder with an ambiguous box format: the panel asks, the answer is applied', {
  timeout: 90_000,
}, async () => {
  await withPage(WEBGPU_ARGS, url(), 'dataset-ambiguous.png', async (page) => {
    await page.getByTestId('dataset-panel').waitFor({ timeout: UI_TIMEOUT });
    await page.getByTestId('dataset-folder-input').setInputFiles(path.join(dir, 'ambiguous'));
    await page.getByTestId('report-ambiguity').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('report-counts').textContent()) ?? '', /3 rows read, 0 usable/);
    await page.getByTestId('report-box-format').selectOption('norm1');
    await page.getByText('3 rows read, 3 usable').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.getByTestId('report-ambiguity').count(), 0);
    await page.getByTestId('dataset-preview').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('dataset-preview').textContent()) ?? '', /box \[0, 0, 48, 32\]/);
  });
});

test('unrecognised field names: the error says so, the names are taken (Enter) and remembered', {
  timeout: 90_000,
}, async () => {
  await withPage(WEBGPU_ARGS, url(), 'dataset-fields.png', async (page) => {
    await page.getByTestId('dataset-panel').waitFor({ timeout: UI_TIMEOUT });
    await page.getByTestId('dataset-folder-input').setInputFiles(path.join(dir, 'custom'));
    const error = page.getByTestId('dataset-error');
    await error.waitFor({ timeout: UI_TIMEOUT });
    const text = (await error.textContent()) ?? '';
    assert.match(text, /cannot tell which field holds the image/);
    assert.match(text, /The built-in synthetic set stays loaded/);
    assert.doesNotMatch(text, /--/, 'the page speaks of its own controls, not of CLI flags');
    assert.match((await page.getByTestId('field-names').first().textContent()) ?? '', /ask, pic, region/);
    await page.getByTestId('field-image').first().fill('pic');
    await page.getByTestId('field-question').first().fill('ask');
    await page.getByTestId('field-box').first().fill('region');
    await page.getByTestId('field-box').first().press('Enter');
    await page.getByText('2 rows read, 2 usable').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('report-format').textContent()) ?? '', /image: pic, box: region/);
    assert.equal(await page.getByTestId('preview-question').textContent(), 'find 0');
    assert.equal(await page.getByTestId('dataset-error').count(), 0);

    // Another folder with the same fields opens with the names chosen above.
    await page.getByTestId('dataset-folder-input').setInputFiles(path.join(dir, 'custom-again'));
    await page.getByText('1 rows read, 1 usable').waitFor({ timeout: UI_TIMEOUT });
    await page.getByTestId('dataset-remembered').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.getByTestId('preview-question').textContent(), 'again');
  });
});

test('a 5,000-row zip shows its progress; a later pick wins over it', { timeout: 120_000 }, async () => {
  await withPage(WEBGPU_ARGS, url(), 'dataset-newer-wins.png', async (page) => {
    await page.getByTestId('dataset-panel').waitFor({ timeout: UI_TIMEOUT });
    // Every text the progress line shows is kept: on a fast machine it is up for a moment only.
    await page.evaluate(() => {
      const seen = /** @type {string[]} */ ([]);
      Object.assign(window, { openingSeen: seen });
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid="dataset-opening"]')?.textContent;
        if (text && seen.at(-1) !== text) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const t0 = Date.now();
    await page.getByTestId('dataset-files-input').setInputFiles(path.join(dir, 'r1v-5000.zip'));
    await page.getByText('5,000 rows read, 5,000 usable').waitFor({ timeout: UI_TIMEOUT });
    const seen = await page.evaluate(
      () => /** @type {{ openingSeen: string[] }} */ (/** @type {unknown} */ (window)).openingSeen,
    );
    assert.ok(
      seen.some((t) => /Reading r1v-5000\.zip \(1 files\)/.test(t)),
      `the progress line named the zip: ${JSON.stringify(seen)}`,
    );
    assert.ok(
      seen.some((t) => /\d+ \/ 5,000 rows indexed/.test(t)),
      `the progress line counted rows: ${JSON.stringify(seen)}`,
    );
    // A measurement for the record, not a check: how long 5,000 rows take to open here.
    console.log(`# 5,000-row JSONL + images zip opened in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(
      await page
        .getByTestId('report-format')
        .textContent()
        .then((t) => /^r1v/.test(t ?? '')),
      true,
    );

    // The big zip again, then at once the small one: the small one is what stays.
    await page.getByTestId('dataset-files-input').setInputFiles(path.join(dir, 'r1v-5000.zip'));
    await page.getByTestId('dataset-files-input').setInputFiles(path.join(dir, 'grounding.zip'));
    await page.getByText('6 rows read, 4 usable').waitFor({ timeout: UI_TIMEOUT });
    await page.waitForTimeout(4000);
    assert.match((await page.getByTestId('report-counts').textContent()) ?? '', /6 rows read, 4 usable/);
    assert.match((await page.getByTestId('report-source').textContent()) ?? '', /grounding\.zip/);
  });
});

test('a corrupt drop anywhere on the page is reported; the loaded set stays and the app goes on', {
  timeout: 90_000,
}, async () => {
  await withPage(WEBGPU_ARGS, url(), 'dataset-corrupt.png', async (page) => {
    await page.getByTestId('dataset-panel').waitFor({ timeout: UI_TIMEOUT });
    const before = page.url();
    const transfer = await page.evaluateHandle(() => {
      const t = new DataTransfer();
      t.items.add(new File([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])], 'dataset.zip'));
      return t;
    });
    // Dropped on the header, far from the dataset panel.
    await page.locator('header').dispatchEvent('dragover', { dataTransfer: transfer });
    await page.locator('header').dispatchEvent('drop', { dataTransfer: transfer });
    const error = page.getByTestId('dataset-error');
    await error.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await error.textContent()) ?? '', /dataset\.zip could not be read\..*not a zip/i);
    assert.match((await error.textContent()) ?? '', /The built-in synthetic set stays loaded/);
    assert.equal(page.url(), before, 'a drop never navigates away');
    await page.getByTestId('dataset-synthetic').waitFor({ timeout: UI_TIMEOUT });
    await page.getByTestId('preview-show').click();
    await page.getByTestId('dataset-preview').waitFor({ timeout: UI_TIMEOUT });
  });
});
