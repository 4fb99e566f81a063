// End-to-end test of opening a run TRL trained in the built app (dist/), in Debian's Chromium with WebGPU on
// SwiftShader: the recorded run of test/fixtures/trl-bridge/run (an exported nano job that TRL's
// GRPOTrainer trained 2 steps), with nano's files as the job's model/, picked as a folder. The page shows
// what it is, its metrics and charts, its last generation on its images with TRL's completions and rewards,
// every sample in the table, and makes the model with the run's LoRA adapter the one Train continues;
// a folder without a trainer state is refused with what to drop. Run `npm run build` first.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { canvasColours, ROOT, startPreview, UI_TIMEOUT, WEBGPU_ARGS, withPage } from './harness.js';

/** @type {{ port: number, close: () => Promise<void> } | undefined} */
let server;
const dir = mkdtempSync(path.join(tmpdir(), 'vgrpo-trl-run-'));
const job = path.join(dir, 'job');
const expected = JSON.parse(
  readFileSync(path.join(ROOT, 'test/fixtures/trl-bridge/run/expected.json'), 'utf8'),
);

before(async () => {
  cpSync(path.join(ROOT, 'test/fixtures/trl-bridge/run'), job, { recursive: true });
  rmSync(path.join(job, 'expected.json'));
  cpSync(path.join(ROOT, 'public/nano'), path.join(job, 'model'), { recursive: true });
  mkdirSync(path.join(dir, 'empty'));
  cpSync(path.join(ROOT, 'test/fixtures/trl-bridge/run/data'), path.join(dir, 'empty/data'), {
    recursive: true,
  });
  server = await startPreview();
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('opens a TRL run: its metrics, completions on their images, and its adapter to train further', {
  timeout: 300_000,
}, async () => {
  await withPage(WEBGPU_ARGS, `http://127.0.0.1:${server?.port}/`, 'app-trl-import.png', async (page) => {
    await page.getByTestId('training-panel').waitFor({ timeout: UI_TIMEOUT });

    // A folder that is no run: the error says what to drop, and nothing else changes.
    await page.getByTestId('trl-run-input').setInputFiles(path.join(dir, 'empty'));
    await page
      .getByTestId('run-error')
      .filter({ hasText: /trainer_state\.json/ })
      .waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.getByTestId('run-state').textContent()) ?? '', /^idle$/);

    await page.getByTestId('trl-run-input').setInputFiles(job);
    const note = page.getByTestId('imported-run');
    await note.waitFor({ timeout: UI_TIMEOUT });
    const text = (await note.textContent()) ?? '';
    assert.match(
      text,
      /A run trained by TRL \(job\/output\/trainer_state\.json\): step 2 of 2, 4 completions per prompt/,
    );
    assert.match(text, /Train continues its LoRA adapter on the model in job\/model/);
    assert.match(
      (await page.getByTestId('run-subject').textContent()) ?? '',
      /the model in job\/model with the TRL run's LoRA adapter/,
    );
    assert.equal(((await page.getByTestId('run-error').textContent()) ?? '').trim(), '');

    // TRL's last logged values, under our metric names, and the charts.
    const last = expected.log_history.filter((/** @type {any} */ e) => !('train_runtime' in e)).at(-1);
    const metrics = (await page.getByTestId('run-metrics').textContent()) ?? '';
    assert.ok(metrics.includes(`reward${last.reward.toFixed(3)}`), metrics);
    await page.getByTestId('charts').waitFor({ timeout: UI_TIMEOUT });

    // Step 2's generation: 2 prompts on their images, 4 completions each with TRL's rewards.
    const samples = page.getByTestId('batch-sample');
    // The batch view mounts its thumbnails one per frame.
    await samples.nth(1).waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await samples.count(), 2);
    const colours = await canvasColours(samples.first().locator('canvas').first());
    assert.ok(colours > 20, `the stage shows ${colours} colours`);
    const rows = page.getByTestId('completion-row');
    await rows.first().waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await rows.count(), 4);
    const step2 = expected.tables[1].rows;
    const shown = await rows.first().locator('td').allTextContents();
    assert.ok(
      step2.some((/** @type {any} */ r) => shown[1]?.includes(r.completion.slice(0, 30))),
      shown[1],
    );
    // Every completion of both steps in the samples table.
    await page.getByTestId('samples-table').waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.getByTestId('sample-row').count(), 16);
  });
});
