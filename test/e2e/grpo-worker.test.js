// End-to-end test of the GRPO worker as the build bundles it (dist/assets/worker-*.js), in Chromium with
// WebGPU on SwiftShader: a page of the served app starts the worker, which fetches nano from the app's
// own files and trains it on a small synthetic set. The run starts paused, takes one step on `step`, the
// second on `resume`, finishes (saving a checkpoint), and is stopped; every message is checked (states,
// progress, TRL metric names, per-sample records). Then the same worker refuses a bad configuration naming its field, serves
// dataset requests, loads nano as a dropped folder with LoRA on the dataset it opened, and names the file
// a folder lacks. Run `npm run build` first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { events, NANO_FILES, send, startWorker, waitFor, workerChunk } from './grpo-worker-harness.js';
import { startPreview, WEBGPU_ARGS, withPage } from './harness.js';

/** @type {{ port: number, close: () => Promise<void> } | undefined} */
let server;
let chunk = '';

before(async () => {
  server = await startPreview();
  chunk = workerChunk();
});

after(async () => {
  await server?.close();
});

const START = {
  type: 'start',
  model: { kind: 'nano' },
  dataset: { kind: 'synthetic', seed: 7, count: 8 },
  preset: 'nano-demo',
  config: {
    num_generations: 2,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 1,
    max_completion_length: 8,
    max_steps: 2,
    logging_steps: 1,
    max_pixels: 12544,
  },
  paused: true,
};

test('nano trains two steps in the worker: ready, progress, states, metrics, samples; stop', {
  timeout: 600_000,
}, async () => {
  await withPage(WEBGPU_ARGS, `http://127.0.0.1:${server?.port}/`, 'grpo-worker.png', async (page) => {
    await startWorker(page, chunk);
    await send(page, START);
    const ready = await waitFor(page, 0, 'ready', (e) => e.type === 'ready');
    await waitFor(page, 0, 'paused', (e) => e.type === 'state' && e.state === 'paused');
    await send(page, { type: 'step' });
    const first = await waitFor(page, 0, 'step 1', (e) => e.type === 'metrics' && e.step === 1);
    await send(page, { type: 'resume' });
    await waitFor(page, 0, 'finished', (e) => e.type === 'state' && e.state === 'finished');
    await send(page, { type: 'stop' });
    await waitFor(page, 0, 'stopped', (e) => e.type === 'state' && e.state === 'stopped');
    const all = await events(page);

    assert.deepEqual(
      all.filter((e) => e.type === 'error' || e.type === 'warning'),
      [],
      'no errors or warnings',
    );
    assert.deepEqual(
      all.filter((e) => e.type === 'state').map((e) => [e.state, e.step]),
      [
        ['running', 0],
        ['paused', 0],
        ['running', 1],
        ['finished', 2],
        ['stopped', 2],
      ],
    );

    // The finished run saved one checkpoint (save_steps 50, so only the one at the end) in OPFS.
    assert.equal(ready.run.saving, true);
    assert.deepEqual(
      all.filter((e) => e.type === 'checkpoint').map((e) => [e.step, e.path]),
      [[2, `runs/${ready.run.id}/checkpoint-2`]],
    );

    const { vendor, architecture, device, description } = ready.adapter;
    assert.match(`${vendor} ${architecture} ${device} ${description}`, /swiftshader/i);
    assert.deepEqual(ready.model, {
      kind: 'nano',
      parameters: 1_128_192,
      trainableParameters: 1_128_192,
      weightDtype: 'f32',
      boxSpace: 'pixels',
    });
    assert.deepEqual(ready.dataset, { name: 'synthetic (seed 7, 8 rows)', rows: 8 });
    assert.equal(ready.totalSteps, 2);
    assert.equal(ready.config.num_generations, 2);
    assert.equal(ready.config.learning_rate, 1e-4, 'the preset applies under the request');

    const progress = all.filter((e) => e.type === 'progress');
    const phase = (p) => progress.filter((e) => e.phase === p);
    assert.deepEqual(
      phase('opening-dataset').map((e) => [e.done, e.total]),
      [
        [0, 1],
        [1, 1],
      ],
    );
    const loading = phase('loading-model');
    const weights = loading.at(-1);
    assert.ok(weights.total > 2_000_000 && weights.done === weights.total, 'the weight bytes are all read');
    assert.ok(
      loading.every((e, i) => i === 0 || e.done >= loading[i - 1].done),
      'loading progress never goes back',
    );
    const training = phase('training').map((e) => [e.done, e.total]);
    assert.deepEqual(training, [
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    const [, afterOne, afterTwo] = phase('training');
    assert.ok(afterOne.etaSeconds > 0 && Number.isFinite(afterOne.etaSeconds), 'an ETA after step 1');
    assert.equal(afterTwo.etaSeconds, 0);

    const metrics = all.filter((e) => e.type === 'metrics');
    assert.deepEqual(
      metrics.map((e) => e.step),
      [1, 2],
    );
    for (const m of metrics) {
      assert.equal(m.totalSteps, 2);
      assert.ok(Number.isFinite(m.metrics.loss), `step ${m.step}: loss ${m.metrics.loss}`);
      for (const name of [
        'reward',
        'reward_std',
        'rewards/grounding/mean',
        'rewards/format/mean',
        'completions/mean_length',
        'completions/clipped_ratio',
        'entropy',
        'grad_norm',
        'learning_rate',
        'step_time',
      ]) {
        assert.ok(name in m.metrics, `step ${m.step}: no ${name} in the step's metrics`);
        assert.ok(name in m.logged, `step ${m.step}: no ${name} in the logged metrics`);
      }
      assert.ok(Number.isFinite(m.metrics.grad_norm));
      assert.ok(m.metrics['completions/mean_length'] >= 1 && m.metrics['completions/mean_length'] <= 8);
    }

    const samples = all.filter((e) => e.type === 'samples');
    assert.deepEqual(
      samples.map((e) => e.step),
      [1, 2],
    );
    for (const s of samples) {
      // One prompt per step: 2 completions per generation / num_generations 2.
      assert.equal(s.records.length, 1);
      const [record] = s.records;
      assert.equal(record.step, s.step);
      assert.match(record.id, /^synthetic-7-\d$/);
      assert.ok(record.question.length > 0);
      assert.equal(record.box.length, 4);
      assert.ok(record.frame.width > 0 && record.frame.inputWidth > 0);
      assert.equal(record.completions.length, 2);
      // The step's image travels with the record: nano's 84 x 84 images are under the thumbnail size.
      assert.equal(s.images.length, 1);
      const [image] = s.images;
      assert.deepEqual([image.width, image.height], [record.frame.width, record.frame.height]);
      const pixels = image.pixels.length ?? Object.keys(image.pixels).length;
      assert.equal(pixels, image.width * image.height * 4);
      for (const c of record.completions) {
        assert.equal(typeof c.text, 'string');
        assert.ok(c.tokens >= 1 && c.tokens <= 8);
        assert.deepEqual(Object.keys(c.rewards), ['grounding', 'format']);
        assert.ok(Number.isFinite(c.advantage));
      }
    }

    // Timings, for the record (the e2e suite must stay a few minutes).
    const at = (type, pred = () => true) => all.find((e) => e.type === type && pred(e)).at;
    const readyAt = at('ready');
    const step1 = first.at - readyAt;
    const step2 = at('metrics', (e) => e.step === 2) - first.at;
    console.log(
      `grpo worker: ready after ${(readyAt / 1000).toFixed(1)} s (nano fetched and uploaded), ` +
        `step 1 ${(step1 / 1000).toFixed(1)} s (first kernels compiled), step 2 ${(step2 / 1000).toFixed(1)} s, ` +
        `stopped at ${(at('state', (e) => e.state === 'stopped') / 1000).toFixed(1)} s`,
    );

    // The same worker refuses a bad configuration, naming the field, and stays usable.
    const before = all.length;
    await send(page, { ...START, config: { ...START.config, num_generations: 3 } });
    const refused = await waitFor(page, before, 'config error', (e) => e.type === 'error');
    assert.equal(refused.kind, 'config');
    assert.equal(refused.field, 'num_generations');
    assert.equal(refused.recoverable, true);
    assert.match(refused.message, /must be divisible by num_generations \(3\)/);
    await waitFor(page, before, 'idle', (e) => e.type === 'state' && e.state === 'idle');
    await send(page, { type: 'step' });
    const orphan = await waitFor(
      page,
      before,
      'request error',
      (e) => e.type === 'error' && e.kind === 'request',
    );
    assert.match(orphan.message, /send 'start' first/);
    const preview = { type: 'dataset-preview', id: 1, index: 0 };
    await send(page, { type: 'dataset-synthetic', id: 0, seed: 3, count: 2 });
    await send(page, preview);
    const row = await waitFor(page, before, 'preview', (e) => e.type === 'dataset-preview');
    assert.equal(row.id, 1);
    assert.equal(row.row.rowId, 'synthetic-3-0');

    // nano as a dropped folder (File objects, so a qwen2_vl checkpoint to the worker) with LoRA, on the
    // rows the dataset requests opened; loaded paused, then stopped without a step.
    const dropped = async (leaveOut) =>
      page.evaluate(
        async ([start, names]) => {
          const files = await Promise.all(
            names.map(async (n) => new File([await (await fetch(`/nano/${n}`)).blob()], n)),
          );
          window.grpo.postMessage({ ...start, model: { kind: 'files', files }, dataset: { kind: 'opened' } });
        },
        [
          { ...START, config: { ...START.config, use_peft: true, lora_r: 4, lora_alpha: 8 } },
          NANO_FILES.filter((n) => n !== leaveOut),
        ],
      );
    const beforeLora = (await events(page)).length;
    await dropped(undefined);
    const lora = await waitFor(page, beforeLora, 'ready', (e) => e.type === 'ready');
    assert.equal(lora.model.kind, 'qwen2_vl');
    // A dropped folder keeps the box space its config.json declares (nano's: original pixels).
    assert.equal(lora.model.boxSpace, 'pixels');
    assert.equal(lora.model.weightDtype, ready.adapter.features.includes('shader-f16') ? 'f16' : 'f32');
    assert.ok(lora.model.trainableParameters > 0 && lora.model.trainableParameters < 100_000);
    assert.deepEqual(lora.dataset, { name: 'synthetic (seed 3, 2 rows)', rows: 2 });
    await waitFor(page, beforeLora, 'paused', (e) => e.type === 'state' && e.state === 'paused');
    await send(page, { type: 'stop' });
    await waitFor(page, beforeLora, 'stopped', (e) => e.type === 'state' && e.state === 'stopped');

    // A folder without tokenizer.json: the error names the file.
    const beforeMissing = (await events(page)).length;
    await dropped('tokenizer.json');
    const missing = await waitFor(page, beforeMissing, 'model error', (e) => e.type === 'error');
    assert.equal(missing.kind, 'model');
    assert.equal(missing.name, 'CheckpointError');
    assert.equal(missing.recoverable, true);
    assert.match(missing.message, /no tokenizer\.json in the checkpoint; drop the whole checkpoint folder/);
    await waitFor(page, beforeMissing, 'idle', (e) => e.type === 'state' && e.state === 'idle');
    const late = (await events(page)).slice(before);
    assert.deepEqual(
      late.filter((e) => e.type === 'state').map((e) => e.state),
      ['running', 'idle', 'running', 'paused', 'stopped', 'running', 'idle'],
    );
  });
});
