// End-to-end test of training in the built app (dist/) in Debian's Chromium with WebGPU on SwiftShader:
// a bad config value is refused naming its field; then two nano steps with a micro config from the form,
// and the page shows the progress, the metrics and their live charts, the batch's image on a konva stage
// with the reward legend, the prompt's completions with their rewards, and the table of every sample; the
// run stored, downloaded, and trained further after a reload. A second test trains on a dataset zip
// dropped on the page (after exporting its settings and rows as a TRL job) and resumes that run once the
// zip is dropped again. Run `npm run build` first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { unzipSync, zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { canvasColours, startPreview, UI_TIMEOUT, WEBGPU_ARGS, withPage } from './harness.js';

/** @type {{ port: number, close: () => Promise<void> } | undefined} */
let server;

before(async () => {
  server = await startPreview();
});

after(async () => {
  await server?.close();
});

const MICRO = {
  max_steps: '2',
  num_generations: '2',
  per_device_train_batch_size: '2',
  gradient_accumulation_steps: '1',
  max_completion_length: '8',
};

test('trains two nano steps from the page and shows the batch', { timeout: 600_000 }, async () => {
  await withPage(WEBGPU_ARGS, `http://127.0.0.1:${server?.port}/`, 'app-training.png', async (page) => {
    await page.getByTestId('training-panel').waitFor({ timeout: UI_TIMEOUT });
    const train = page.getByTestId('train');

    // The memory estimate follows the settings: the preset's, then (below) the
    // micro config's, which needs less.
    const total = page.getByTestId('memory-total');
    await total.waitFor({ timeout: UI_TIMEOUT });
    const mib = async () => {
      const m = /^([\d.]+) (KiB|MiB|GiB)$/.exec((await total.textContent()) ?? '');
      assert.ok(m, `memory total ${await total.textContent()}`);
      return Number(m[1]) * { KiB: 1 / 1024, MiB: 1, GiB: 1024 }[/** @type {'KiB'|'MiB'|'GiB'} */ (m[2])];
    };
    const presetNeeds = await mib();
    assert.equal(await page.getByTestId('memory-misfit').count(), 0);

    // Against a GPU memory the person gives just under the plan's total, the run does not fit: Train is
    // off, and an advised change, applied from the list, makes it fit.
    await page.getByTestId('memory-limit').fill(String((presetNeeds * 0.97) / 1024));
    const misfit = page.getByTestId('memory-misfit');
    await misfit.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await misfit.textContent()) ?? '', /This will not fit: it needs .* of the device's/);
    assert.equal(await train.isDisabled(), true);
    const advice = page.getByTestId('memory-advice');
    assert.ok((await advice.count()) > 0, 'no advice offered');
    await advice.first().click();
    await misfit.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    assert.equal(await train.isDisabled(), false);
    // Back to the preset's settings and an unknown GPU memory (kept across visits, so cleared).
    await page.reload();
    await page.getByTestId('memory-limit').fill('');
    await total.waitFor({ timeout: UI_TIMEOUT });

    await page.locator('input[name="learning_rate"]').fill('fast');
    assert.match((await page.getByTestId('config-error').textContent()) ?? '', /learning_rate/);
    assert.equal(await train.isDisabled(), true);
    await page.locator('input[name="learning_rate"]').fill('');
    await page.locator('input[name="num_generations"]').fill('1');
    assert.match((await page.getByTestId('config-error').textContent()) ?? '', /num_generations/);
    await page.locator('input[name="num_generations"]').fill('');
    // The further settings: behind "More settings", opened by an error in one of them.
    const more = page.getByTestId('config-more');
    assert.equal(await more.getAttribute('open'), null);
    await more.locator('summary').click();
    await page.locator('input[name="reward_weights"]').fill('1, x');
    assert.match((await page.getByTestId('config-error').textContent()) ?? '', /reward_weights: 'x'/);
    await page.locator('input[name="reward_weights"]').fill('');
    assert.equal(await page.locator('select[name="use_peft"]').inputValue(), '');

    for (const [name, value] of Object.entries(MICRO))
      await page.locator(`input[name="${name}"]`).fill(value);
    const microNeeds = await mib();
    assert.ok(
      microNeeds < presetNeeds,
      `the micro config needs ${microNeeds} MiB, the preset ${presetNeeds} MiB`,
    );
    assert.equal(await page.getByTestId('config-error').count(), 0);
    // Every gap between animation frames while the run trains, for the record (the work is in the worker).
    await page.evaluate(() => {
      const gaps = /** @type {number[]} */ ([]);
      // Main-thread tasks over 50 ms: the page's own share of the gaps.
      const longTasks = /** @type {number[]} */ ([]);
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      }).observe({ type: 'longtask' });
      // Frames over 100 ms and the scripts that ran in them (none: the page waited on something else).
      const slowFrames = /** @type {string[]} */ ([]);
      new PerformanceObserver((list) => {
        for (const e of /** @type {any[]} */ (list.getEntries())) {
          if (e.duration <= 100) continue;
          const scripts = e.scripts.map(
            (/** @type {any} */ s) => `${s.invoker || s.invokerType} ${Math.round(s.duration)} ms`,
          );
          slowFrames.push(`${Math.round(e.duration)} ms [${scripts.join(', ') || 'no script'}]`);
        }
      }).observe({ type: 'long-animation-frame' });
      Object.assign(window, { frameGaps: gaps, longTasks, slowFrames });
      let last = performance.now();
      const tick = (/** @type {number} */ now) => {
        gaps.push(now - last);
        last = now;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await train.click();

    // A corrupt file dropped while the run trains: an inline error in the dataset panel, and the run goes on.
    await page
      .getByTestId('run-state')
      .filter({ hasText: /^running$/ })
      .waitFor({ timeout: UI_TIMEOUT });
    const transfer = await page.evaluateHandle(() => {
      const t = new DataTransfer();
      t.items.add(new File([new Uint8Array([80, 75, 9, 9, 1, 2, 3])], 'broken.zip'));
      return t;
    });
    await page.locator('header').dispatchEvent('dragover', { dataTransfer: transfer });
    await page.locator('header').dispatchEvent('drop', { dataTransfer: transfer });
    await page.getByTestId('dataset-error').waitFor({ timeout: UI_TIMEOUT });
    assert.match(
      (await page.getByTestId('dataset-error').textContent()) ?? '',
      /broken\.zip could not be read/,
    );
    assert.match(
      (await page.getByTestId('run-subject').textContent()) ?? '',
      /on the built-in synthetic set/,
    );

    await page
      .getByTestId('run-state')
      .filter({ hasText: /^finished$/ })
      .waitFor({ timeout: 540_000 });
    const { gaps, longTasks, slowFrames } = await page.evaluate(() => {
      const w = /** @type {{ frameGaps: number[], longTasks: number[], slowFrames: string[] }} */ (
        /** @type {unknown} */ (window)
      );
      return { gaps: w.frameGaps.slice(1), longTasks: w.longTasks, slowFrames: w.slowFrames };
    });
    const sorted = [...gaps].sort((a, b) => a - b);
    console.log(
      `# frames while training: ${gaps.length}, longest gap ${Math.round(sorted.at(-1) ?? 0)} ms, ` +
        `99th percentile ${Math.round(sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0)} ms; ` +
        `main-thread tasks over 50 ms: ${longTasks.length}, longest ${Math.round(Math.max(0, ...longTasks))} ms; ` +
        `frames over 100 ms: ${slowFrames.join('; ') || 'none'}`,
    );

    assert.equal(((await page.getByTestId('run-error').textContent()) ?? '').trim(), '');
    assert.match((await page.getByTestId('run-step').textContent()) ?? '', /step 2 \/ 2/);
    const metrics = (await page.getByTestId('run-metrics').textContent()) ?? '';
    assert.match(metrics, /reward\d+\.\d{3}/);

    // One prompt per step (2 completions / num_generations 2), drawn on a konva stage over its image.
    const samples = page.getByTestId('batch-sample');
    assert.equal(await samples.count(), 1);
    const canvas = samples.first().locator('canvas');
    assert.ok((await canvas.count()) >= 1, 'no konva canvas');
    const size = await canvas.first().evaluate((c) => [c.clientWidth, c.clientHeight]);
    assert.deepEqual(size, [168, 168]);
    // The stage's pixels are the image (not the empty-stage fill): nano's synthetic scenes are colourful.
    const colours = await canvasColours(canvas.first());
    assert.ok(colours > 20, `the stage shows ${colours} colours`);
    assert.equal(await page.getByTestId('reward-legend').locator('li').count(), 6);
    // The selected prompt drawn large; the wheel zooms it about the pointer.
    const large = page.getByTestId('inspector-stage').locator('canvas').first();
    assert.deepEqual(await large.evaluate((c) => [c.clientWidth, c.clientHeight]), [384, 384]);
    await large.hover({ position: { x: 100, y: 100 } });
    const before = await large.evaluate((c) => c.toDataURL());
    await page.mouse.wheel(0, -300);
    await page.waitForTimeout(200);
    const after = await large.evaluate((c) => c.toDataURL());
    assert.ok(after !== before, 'the wheel zooms the large view');

    const rows = page.getByTestId('completion-row');
    assert.equal(await rows.count(), 2);
    for (let i = 0; i < 2; i++) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      // #, completion, IoU, grounding, format, total, advantage
      assert.equal(cells.length, 7);
      assert.match(cells[4] ?? '', /^[01]\.00$/);
      assert.match(cells[5] ?? '', /\d\.\d{3}/);
      assert.match(cells[6] ?? '', /^-?\d+\.\d{3}$/);
    }
    // Live charts, one point per step for the metrics every step has.
    const charts = page.getByTestId('metric-chart');
    assert.ok((await charts.count()) >= 8, 'fewer charts than expected');
    const points = await page
      .locator('[data-testid="metric-chart"][data-title="reward"]')
      .getAttribute('data-points');
    assert.equal(points, '2');
    assert.ok((await page.locator('[data-testid="metric-chart"][data-title="loss"] canvas').count()) >= 1);
    // Held-out synthetic scenes evaluated before the first step and at the end of the run.
    const held = page.locator('[data-testid="metric-chart"][data-title="held-out Acc@0.5 / mean IoU"]');
    assert.equal(await held.getAttribute('data-points'), '2');

    // The arrow keys select the batch's completions.
    await page.locator('body').press('ArrowDown');
    assert.equal(await page.locator('[data-testid="completion-row"].selected').count(), 1);
    assert.equal(((await rows.nth(1).getAttribute('class')) ?? '').includes('selected'), true);

    // Every completion in the samples table: 2 steps x 1 prompt x 2 completions; filters, sorting, detail.
    const sampleRows = page.getByTestId('sample-row');
    assert.equal(await sampleRows.count(), 4);
    await page.getByTestId('samples-format-failures').check();
    assert.equal(await sampleRows.count(), 4, '8-token completions cannot close the format');
    await page.getByTestId('samples-search').fill('no such question');
    assert.equal(await sampleRows.count(), 0);
    await page.getByTestId('samples-search').fill('');
    const firstCells = () =>
      sampleRows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('td')?.textContent));
    // Numbers sort high to low first, then low to high.
    await page.getByTestId('sort-step').click();
    assert.equal(await page.locator('th[aria-sort="descending"]').count(), 1);
    assert.deepEqual(await firstCells(), ['2', '2', '1', '1']);
    await page.getByTestId('sort-step').click();
    assert.equal(await page.locator('th[aria-sort="ascending"]').count(), 1);
    assert.deepEqual(await firstCells(), ['1', '1', '2', '2']);
    await sampleRows.first().click();
    assert.match(
      (await page.getByTestId('sample-detail').textContent()) ?? '',
      /^step 1, synthetic-0-\d+, completion \d:/,
    );

    // No sideways scrolling, on a laptop or a phone, with everything shown.
    for (const [width, height] of [
      [1280, 800],
      [390, 844],
    ]) {
      await page.setViewportSize({ width, height });
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= width, `${width} px wide: the page scrolls sideways (${scrollWidth} px)`);
    }

    // The form is editable again once the run has finished.
    assert.equal(await page.locator('input[name="max_steps"]').isEditable(), true);

    // The run is kept in the browser: its metrics download as a zip, and after a reload it trains further.
    await page.setViewportSize({ width: 1100, height: 900 });
    const stored = page.getByTestId('stored-run');
    await stored.first().waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await stored.count(), 1);
    assert.match(
      (await stored.textContent()) ?? '',
      /nano on synthetic \(seed \d+, \d+ rows\).*checkpoint at step 2/,
    );
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: UI_TIMEOUT }),
      stored.getByTestId('download-metrics').click(),
    ]);
    assert.match(download.suggestedFilename(), /-metrics-step2\.zip$/);
    const zipped = unzipSync(readFileSync(/** @type {string} */ (await download.path())));
    const jsonl = Object.entries(zipped).find(([name]) => name.endsWith('/metrics.jsonl'));
    assert.ok(jsonl, `metrics.jsonl in ${Object.keys(zipped)}`);
    const lines = new TextDecoder().decode(jsonl[1]).trim().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).step),
      [1, 2],
    );

    const [configFile] = await Promise.all([
      page.waitForEvent('download', { timeout: UI_TIMEOUT }),
      stored.getByTestId('download-config').click(),
    ]);
    assert.match(configFile.suggestedFilename(), /-config\.json$/);
    const config = JSON.parse(readFileSync(/** @type {string} */ (await configFile.path()), 'utf8'));
    assert.equal(config.max_steps, 2);
    assert.equal(config.num_generations, 2);
    assert.equal(config.max_completion_length, 8);

    await page.reload();
    await stored.first().waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.getByTestId('run-state').textContent(), 'idle');
    await stored.getByTestId('more-steps').fill('1');
    await stored.getByTestId('resume-run').click();
    await page
      .getByTestId('run-state')
      .filter({ hasText: /^finished$/ })
      .waitFor({ timeout: 300_000 });
    assert.equal(((await page.getByTestId('run-error').textContent()) ?? '').trim(), '');
    assert.match((await page.getByTestId('run-step').textContent()) ?? '', /step 3 \/ 3/);
    await stored.filter({ hasText: /checkpoint at step 3/ }).waitFor({ timeout: UI_TIMEOUT });
    // The charts hold the steps stored before the reload and the one taken after it.
    assert.equal(
      await page.locator('[data-testid="metric-chart"][data-title="reward"]').getAttribute('data-points'),
      '3',
    );
    assert.equal(await held.getAttribute('data-points'), '3');
  });
});

/** A zip of four JSONL grounding rows with 48 x 32 PNG images (a gradient, the box over a dark square). */
function itemsZip() {
  /** @type {Record<string, Uint8Array>} */
  const tree = {};
  const rows = [];
  for (let i = 0; i < 4; i++) {
    const p = new PNG({ width: 48, height: 32 });
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 48; x++) {
        const inside = x >= 4 + i && x < 20 + i && y >= 4 && y < 24;
        p.data.set(inside ? [20, 20, 20, 255] : [x * 5, y * 7, 90, 255], 4 * (y * 48 + x));
      }
    tree[`images/${i}.png`] = PNG.sync.write(p);
    rows.push(
      JSON.stringify({
        image: `images/${i}.png`,
        question: `Where is item ${i}?`,
        bbox: [4 + i, 4, 20 + i, 24],
      }),
    );
  }
  tree['rows.jsonl'] = new TextEncoder().encode(rows.join('\n'));
  return Buffer.from(zipSync(tree)).toString('base64');
}

/** Drops a zip (base64) named `name` on the page's header, as a person dragging it in would. */
async function dropZip(/** @type {import('playwright-core').Page} */ page, name, base64) {
  const transfer = await page.evaluateHandle(
    ([n, b]) => {
      const bytes = Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
      const t = new DataTransfer();
      t.items.add(new File([bytes], n));
      return t;
    },
    [name, base64],
  );
  await page.locator('header').dispatchEvent('dragover', { dataTransfer: transfer });
  await page.locator('header').dispatchEvent('drop', { dataTransfer: transfer });
}

test('trains on a dropped dataset zip, and resumes that run when the zip is dropped again', {
  timeout: 600_000,
}, async () => {
  await withPage(WEBGPU_ARGS, `http://127.0.0.1:${server?.port}/`, 'app-training-zip.png', async (page) => {
    await page.getByTestId('training-panel').waitFor({ timeout: UI_TIMEOUT });
    const zip = itemsZip();
    await dropZip(page, 'items.zip', zip);
    await page.getByText('4 rows read, 4 usable').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('run-subject').textContent()) ?? '', /on items\.zip\./);
    // The estimate takes the zip's largest image (48 x 32) as nano's processor resizes it (at least 3,136
    // pixels, sides multiples of 28: 84 x 56).
    assert.match((await page.getByTestId('memory-fit').textContent()) ?? '', /its largest image 84×56 as/);

    // The same settings on the same rows as a TRL job: a zip of the Python project, the rows with their
    // pixels and ground truth, nano shipped in it.
    for (const [name, value] of Object.entries({ ...MICRO, max_steps: '1' }))
      await page.locator(`input[name="${name}"]`).fill(value);
    const [job] = await Promise.all([
      page.waitForEvent('download', { timeout: UI_TIMEOUT }),
      page.getByTestId('trl-export-button').click(),
    ]);
    assert.match(job.suggestedFilename(), /^trl-nano-items\.zip$/);
    const files = unzipSync(readFileSync(/** @type {string} */ (await job.path())));
    const root = 'trl-nano-items/';
    for (const f of [
      'train.py',
      'rewards.py',
      'job.json',
      'requirements.txt',
      'README.md',
      'model/model.safetensors',
    ])
      assert.ok(files[root + f], `${f} missing from the job`);
    const settings = JSON.parse(new TextDecoder().decode(files[`${root}job.json`]));
    assert.equal(settings.model, 'model');
    assert.equal(settings.box_space, 'pixels');
    assert.equal(settings.grpo_config.num_generations, 2);
    assert.equal(settings.grpo_config.max_steps, 1);
    const lines = new TextDecoder().decode(files[`${root}data/train.jsonl`]).trim().split('\n');
    assert.equal(lines.length, 4);
    for (const [i, line] of lines.entries()) {
      const row = JSON.parse(line);
      assert.equal(row.question, `Where is item ${i}?`);
      // The rows as the panel reads them: a `bbox` field is COCO's [x, y, width, height].
      assert.deepEqual(row.box, [4 + i, 4, 24 + 2 * i, 28]);
      assert.deepEqual([row.width, row.height, row.input_width, row.input_height], [48, 32, 84, 56]);
      const png = PNG.sync.read(Buffer.from(files[`${root}data/${row.image}`] ?? []));
      assert.deepEqual([png.width, png.height], [48, 32]);
      assert.deepEqual([...png.data.subarray(0, 3)], [0, 0, 90]);
      assert.deepEqual([...png.data.subarray(4 * (10 * 48 + 10), 4 * (10 * 48 + 10) + 3)], [20, 20, 20]);
    }

    for (const [name, value] of Object.entries({ ...MICRO, max_steps: '1' }))
      await page.locator(`input[name="${name}"]`).fill(value);
    await page.getByTestId('train').click();
    await page
      .getByTestId('run-state')
      .filter({ hasText: /^finished$/ })
      .waitFor({ timeout: 540_000 });
    assert.equal(((await page.getByTestId('run-error').textContent()) ?? '').trim(), '');
    assert.match((await page.getByTestId('batch-sample').first().textContent()) ?? '', /^Where is item \d\?/);
    const stored = page.getByTestId('stored-run');
    await stored
      .filter({ hasText: /nano on items\.zip.*checkpoint at step 1/ })
      .waitFor({ timeout: UI_TIMEOUT });

    // After a reload the page is back on the synthetic set: resuming waits for the zip.
    await page.reload();
    await stored.first().waitFor({ timeout: UI_TIMEOUT });
    await stored.getByTestId('more-steps').fill('1');
    assert.equal(await stored.getByTestId('resume-run').isDisabled(), true);
    assert.match(
      (await stored.textContent()) ?? '',
      /To resume, open the dataset items\.zip in the dataset panel/,
    );
    await dropZip(page, 'items.zip', zip);
    await page.getByText('4 rows read, 4 usable').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await stored.getByTestId('resume-run').isDisabled(), false);
    await stored.getByTestId('resume-run').click();
    await page
      .getByTestId('run-step')
      .filter({ hasText: /step 2 \/ 2/ })
      .waitFor({ timeout: 300_000 });
    await page
      .getByTestId('run-state')
      .filter({ hasText: /^finished$/ })
      .waitFor({ timeout: 60_000 });
    assert.equal(((await page.getByTestId('run-error').textContent()) ?? '').trim(), '');
  });
});
