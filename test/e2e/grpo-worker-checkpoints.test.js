// End-to-end test of the GRPO worker's stored runs, eval and export, in Chromium with WebGPU on
// SwiftShader (the build's worker chunk; run `npm run build` first). nano with LoRA (f32 weights) takes
// two single steps with save_steps 1, so OPFS holds checkpoint-1 and -2; `runs` lists them; the run is
// evaluated on held-out synthetic rows and exported (PEFT adapter, merged model, metrics); it is stopped
// and resumed from its run id: a conflicting config field is refused by name, then the run continues at
// step 3 (checkpoint-1 deleted: a run keeps 2), and an eval sent during that step runs after it. A
// stopped run's adapter exports from its files, and delete-run removes it; nano dropped as a folder with
// that adapter beside it starts a run that trains the adapter further. Then the worker without OPFS:
// one warning, and a step that trains and logs all the same. (SwiftShader has no shader-f16: the merged
// export's refusal of f16 weights, and the merge of a trained adapter, are checked in Node by
// test/grpo/export.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  events,
  NANO_FILES,
  send,
  startWorker,
  waitFor,
  waitForReply,
  workerChunk,
} from './grpo-worker-harness.js';
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

const CONFIG = {
  num_generations: 2,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 1,
  max_completion_length: 8,
  max_steps: 3,
  logging_steps: 1,
  save_steps: 1,
  max_pixels: 12544,
  use_peft: true,
  lora_r: 4,
  lora_alpha: 8,
  weight_dtype: 'f32',
};

const START = {
  type: 'start',
  model: { kind: 'nano' },
  dataset: { kind: 'synthetic', seed: 7, count: 8 },
  preset: 'nano-demo',
  config: CONFIG,
  paused: true,
};

test('stored runs in OPFS: checkpoints, list, eval, export, resume, delete', {
  timeout: 600_000,
}, async () => {
  await withPage(
    WEBGPU_ARGS,
    `http://127.0.0.1:${server?.port}/`,
    'grpo-worker-checkpoints.png',
    async (page) => {
      const t0 = Date.now();
      const mark = (label) => console.log(`  ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await startWorker(page, chunk);
      const count = async () => (await events(page)).length;

      // Nothing is loaded: eval is refused, answering its id.
      await send(page, { type: 'eval', id: 1, rows: { kind: 'synthetic', count: 2 } });
      const idle = await waitForReply(page, 0, 1);
      assert.equal(idle.type, 'error');
      assert.equal(idle.kind, 'request');
      assert.match(idle.message, /needs a loaded run/);

      await send(page, START);
      const ready = await waitFor(page, 0, 'ready', (e) => e.type === 'ready');
      const runId = ready.run.id;
      assert.match(runId, /^\d{8}-\d{6}-[0-9a-f]{4}$/);
      assert.deepEqual(ready.run, { id: runId, resumedFrom: null, saving: true });
      assert.equal(ready.model.weightDtype, 'f32');
      await waitFor(page, 0, 'paused', (e) => e.type === 'state' && e.state === 'paused');
      await send(page, { type: 'step' });
      await waitFor(page, 0, 'checkpoint 1', (e) => e.type === 'checkpoint' && e.step === 1);
      await send(page, { type: 'step' });
      const second = await waitFor(page, 0, 'checkpoint 2', (e) => e.type === 'checkpoint' && e.step === 2);
      assert.equal(second.path, `runs/${runId}/checkpoint-2`);
      assert.deepEqual(second.removed, []);
      assert.ok(second.bytes > 0);
      mark('two steps saved');

      let from = await count();
      await send(page, { type: 'runs', id: 2 });
      const listed = await waitForReply(page, from, 2);
      assert.equal(listed.type, 'runs');
      assert.equal(listed.available, true);
      assert.equal(listed.runs.length, 1);
      const [stored] = listed.runs;
      assert.equal(stored.id, runId);
      assert.equal(stored.model, 'nano');
      assert.equal(stored.dataset, 'synthetic (seed 7, 8 rows)');
      assert.equal(stored.config.save_steps, 1);
      assert.deepEqual(
        stored.checkpoints.map((c) => [c.step, c.path]),
        [
          [1, `runs/${runId}/checkpoint-1`],
          [2, `runs/${runId}/checkpoint-2`],
        ],
      );
      assert.deepEqual(stored.checkpoints[1].files, [
        'adapter_config.json',
        'adapter_model.safetensors',
        'optimizer.safetensors',
        'trainer_state.json',
      ]);
      assert.equal(stored.lastMetrics.step, 2);
      assert.ok(Number.isFinite(stored.lastMetrics.loss));

      from = await count();
      await send(page, { type: 'eval', id: 3, rows: { kind: 'synthetic', count: 2 } });
      const evaluated = await waitForReply(page, from, 3);
      assert.equal(evaluated.type, 'eval-result');
      assert.equal(evaluated.n, 2);
      assert.equal(evaluated.step, 2);
      assert.equal(evaluated.rows, 'synthetic (seed 424242, 2 rows)');
      assert.equal(evaluated.samples.length, 2);
      for (const k of ['acc50', 'mean_iou', 'format_rate'])
        assert.ok(evaluated[k] >= 0 && evaluated[k] <= 1, `${k} ${evaluated[k]}`);
      const evalProgress = (await events(page))
        .slice(from)
        .filter((e) => e.type === 'progress' && e.phase === 'evaluating');
      assert.deepEqual(evalProgress.at(-1).done, 2);
      // Rows of the dataset the panel opened, by index; one that is not there is refused.
      from = await count();
      await send(page, { type: 'dataset-synthetic', id: 100, seed: 3, count: 2 });
      await send(page, { type: 'eval', id: 14, rows: { kind: 'opened', indices: [1] } });
      const opened = await waitForReply(page, from, 14);
      assert.equal(opened.type, 'eval-result', opened.message);
      assert.equal(opened.rows, 'synthetic (seed 3, 2 rows) rows 1');
      assert.deepEqual([opened.n, opened.samples[0].id], [1, 'synthetic-3-1']);
      await send(page, { type: 'eval', id: 15, rows: { kind: 'opened', indices: [2] } });
      const missing = await waitForReply(page, from, 15);
      assert.equal(missing.kind, 'request');
      assert.match(missing.message, /no usable row 2 in the opened dataset .* \(it has 2\)/);
      mark('evals of 2 synthetic rows and 1 opened row');

      from = await count();
      await send(page, { type: 'export', id: 4, what: 'adapter' });
      const adapter = await waitForReply(page, from, 4);
      assert.equal(adapter.type, 'export-result');
      assert.deepEqual(
        adapter.files.map((f) => f.name),
        ['adapter_config.json', 'adapter_model.safetensors'],
      );
      const peft = await page.evaluate((id) => {
        const file = window.fileOf;
        const config = JSON.parse(new TextDecoder().decode(file(id, 'adapter_config.json')));
        const st = file(id, 'adapter_model.safetensors');
        const n = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
        const header = JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + n)));
        return { config, names: Object.keys(header).filter((k) => k !== '__metadata__') };
      }, 4);
      assert.equal(peft.config.peft_type, 'LORA');
      assert.equal(peft.config.r, 4);
      assert.equal(peft.config.base_model_name_or_path, 'nano');
      assert.ok(
        peft.names.length > 0 && peft.names.every((n) => /^base_model\.model\..*lora_[AB]\.weight$/.test(n)),
      );

      from = await count();
      await send(page, { type: 'export', id: 5, what: 'merged' });
      const merged = await waitForReply(page, from, 5);
      assert.equal(merged.type, 'export-result', merged.message);
      assert.deepEqual(merged.files.map((f) => f.name).sort(), [
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'preprocessor_config.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
      // Against nano's own (bf16) weights and the exported adapter: a weight without an adapter is the
      // base one; an adapted projection is W + (alpha / r) B A (alpha 8, r 4).
      const compared = await page.evaluate(async () => {
        const parse = (bytes) => {
          const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
          const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
          const names = Object.keys(header).filter((k) => k !== '__metadata__');
          const values = (suffix) => {
            const { dtype, data_offsets: range } = header[names.find((k) => k.endsWith(suffix))];
            const raw = bytes.slice(8 + n + range[0], 8 + n + range[1]);
            if (dtype === 'F32') return new Float32Array(raw.buffer);
            return new Float32Array(Uint32Array.from(new Uint16Array(raw.buffer), (x) => x << 16).buffer);
          };
          return { header, names, values };
        };
        const out = parse(window.fileOf(5, 'model.safetensors'));
        const base = parse(new Uint8Array(await (await fetch('/nano/model.safetensors')).arrayBuffer()));
        const lora = parse(window.fileOf(4, 'adapter_model.safetensors'));
        const embedOut = out.values('model.embed_tokens.weight');
        const embedBase = base.values('model.embed_tokens.weight');
        const q = 'layers.0.self_attn.q_proj';
        const w = out.values(`${q}.weight`);
        const w0 = base.values(`${q}.weight`);
        const A = lora.values(`${q}.lora_A.weight`);
        const B = lora.values(`${q}.lora_B.weight`);
        const rows = B.length / 4;
        const cols = A.length / 4;
        let worst = 0;
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            let d = 0;
            for (let k = 0; k < 4; k++) d += B[i * 4 + k] * A[k * cols + j];
            worst = Math.max(worst, Math.abs(w[i * cols + j] - (w0[i * cols + j] + 2 * d)));
          }
        return {
          count: out.names.length,
          dtypes: [...new Set(out.names.map((k) => out.header[k].dtype))],
          embed: embedOut.length === embedBase.length && embedOut.every((v, i) => v === embedBase[i]),
          size: [w.length, rows * cols],
          worst,
          bMax: B.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
        };
      });
      assert.ok(compared.count >= 80, `${compared.count} tensors`);
      assert.deepEqual(compared.dtypes, ['F32']);
      assert.equal(compared.embed, true, 'a weight without an adapter is the base one');
      assert.equal(compared.size[0], compared.size[1]);
      assert.ok(compared.worst < 1e-6, `the merged q_proj is off by ${compared.worst}`);
      // Two steps whose completions all score alike leave B at 0; the merge itself is checked in Node.
      console.log(`  merged export: largest |lora_B| of layer 0's q_proj after 2 steps ${compared.bMax}`);

      from = await count();
      await send(page, { type: 'export', id: 6, what: 'metrics' });
      const metrics = await waitForReply(page, from, 6);
      assert.deepEqual(
        metrics.files.map((f) => f.name),
        ['metrics.jsonl', 'metrics.csv'],
      );
      const table = await page.evaluate((id) => {
        const file = window.fileOf;
        const text = (name) => new TextDecoder().decode(file(id, name));
        return { jsonl: text('metrics.jsonl'), csv: text('metrics.csv') };
      }, 6);
      assert.deepEqual(
        table.jsonl
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).step),
        [1, 2],
      );
      assert.match(table.csv, /^step,/);
      assert.equal(table.csv.trim().split('\n').length, 3);
      mark('three exports');

      await send(page, { type: 'stop' });
      await waitFor(page, 0, 'stopped', (e) => e.type === 'state' && e.state === 'stopped');

      // Resuming keeps the run's config: a different learning_rate is refused by name.
      from = await count();
      await send(page, { ...START, config: { ...CONFIG, learning_rate: 5e-4 }, resume: { runId } });
      const conflict = await waitFor(page, from, 'config error', (e) => e.type === 'error');
      assert.equal(conflict.kind, 'config');
      assert.equal(conflict.field, 'learning_rate');
      assert.match(conflict.message, /was trained with 0\.0001/);
      await waitFor(page, from, 'idle', (e) => e.type === 'state' && e.state === 'idle');

      from = await count();
      await send(page, { ...START, resume: { runId } });
      const resumed = await waitFor(page, from, 'ready', (e) => e.type === 'ready' || e.type === 'error');
      assert.equal(resumed.type, 'ready', resumed.message);
      assert.deepEqual(resumed.run, { id: runId, resumedFrom: 2, saving: true });
      await waitFor(page, from, 'paused', (e) => e.type === 'state' && e.state === 'paused');
      // Training again, with an eval sent while step 3 is in flight: it runs after that step.
      await send(page, { type: 'resume' });
      await send(page, { type: 'eval', id: 13, rows: { kind: 'synthetic', count: 1 } });
      await waitFor(page, from, 'finished', (e) => e.type === 'state' && e.state === 'finished');
      mark('resumed, took step 3, evaluated');
      const all = await events(page);
      const after = all.slice(all.findIndex((e) => e.type === 'ready' && e.run.resumedFrom === 2));
      assert.deepEqual(
        after
          .filter((e) => ['metrics', 'checkpoint', 'eval-result', 'state'].includes(e.type))
          .map((e) => `${e.type} ${e.step}${e.state ? ` ${e.state}` : ''}`),
        [
          'state 2 paused',
          'state 2 running',
          'metrics 3',
          'checkpoint 3',
          'eval-result 3',
          'state 3 finished',
        ],
      );
      const third = after.find((e) => e.type === 'checkpoint');
      assert.deepEqual(third.removed, [1], 'a run keeps its last 2 checkpoints');
      assert.equal(after.find((e) => e.type === 'eval-result').n, 1);
      assert.deepEqual(
        all.filter((e) => e.type === 'metrics').map((e) => e.step),
        [1, 2, 3],
      );
      assert.deepEqual(
        all.filter((e) => e.type === 'samples').map((e) => e.step),
        [1, 2, 3],
      );
      assert.deepEqual(
        after.filter((e) => e.type === 'progress' && e.phase === 'training').map((e) => e.done),
        [2, 3],
      );

      from = await count();
      await send(page, { type: 'runs', id: 7 });
      const again = await waitForReply(page, from, 7);
      assert.deepEqual(
        again.runs[0].checkpoints.map((c) => c.step),
        [2, 3],
      );
      assert.equal(again.runs[0].lastMetrics.step, 3);

      await send(page, { type: 'stop' });
      await waitFor(page, from, 'stopped', (e) => e.type === 'state' && e.state === 'stopped');

      // A stored run that is not loaded: its adapter from its newest checkpoint; then deleted.
      from = await count();
      await send(page, { type: 'export', id: 8, what: 'adapter', runId });
      const storedAdapter = await waitForReply(page, from, 8);
      assert.equal(storedAdapter.type, 'export-result', storedAdapter.message);
      assert.equal(storedAdapter.step, 3);
      await send(page, { type: 'delete-run', id: 9, runId });
      assert.equal((await waitForReply(page, from, 9)).type, 'run-deleted');
      await send(page, { type: 'runs', id: 10 });
      assert.deepEqual((await waitForReply(page, from, 10)).runs, []);
      await send(page, { type: 'delete-run', id: 11, runId });
      const gone = await waitForReply(page, from, 11);
      assert.equal(gone.kind, 'checkpoint');
      assert.match(gone.message, /no run .* send 'runs'/);

      const late = await events(page);
      assert.deepEqual(
        late.filter((e) => e.type === 'warning'),
        [],
        'no warnings',
      );

      // nano as a dropped folder with that adapter beside its weights: the new run trains the adapter
      // further, whose adapter_config.json sets the LoRA fields over the request's (and says so).
      from = await count();
      await page.evaluate(
        async ([start, names]) => {
          const fetched = (n) => fetch(`/nano/${n}`).then(async (r) => new File([await r.blob()], n));
          const files = await Promise.all(names.map(fetched));
          for (const n of ['adapter_config.json', 'adapter_model.safetensors'])
            files.push(new File([window.fileOf(8, n)], n));
          window.grpo.postMessage({ ...start, model: { kind: 'files', files } });
        },
        [{ ...START, config: { ...CONFIG, use_peft: false, lora_r: 16 } }, NANO_FILES],
      );
      const continued = await waitFor(page, from, 'ready', (e) => e.type === 'ready' || e.type === 'error');
      assert.equal(continued.type, 'ready', continued.message);
      const { use_peft, lora_r, lora_alpha } = continued.config;
      assert.deepEqual([use_peft, lora_r, lora_alpha], [true, 4, 8]);
      assert.equal(continued.model.trainableParameters, ready.model.trainableParameters);
      const note = (await events(page)).slice(from).find((e) => e.type === 'warning');
      assert.match(
        note?.message ?? '',
        /continues the LoRA adapter it starts from.* use_peft true, lora_r 4/,
      );
      await waitFor(page, from, 'paused', (e) => e.type === 'state' && e.state === 'paused');
      await send(page, { type: 'step' });
      const step = await waitFor(page, from, 'metrics', (e) => e.type === 'metrics' || e.type === 'error');
      assert.equal(step.step, 1, step.message);
      await send(page, { type: 'stop' });
      await waitFor(page, from, 'stopped', (e) => e.type === 'state' && e.state === 'stopped');
      mark('done');
    },
  );
});

test('without OPFS the worker warns once and trains without saving', { timeout: 300_000 }, async () => {
  await withPage(
    WEBGPU_ARGS,
    `http://127.0.0.1:${server?.port}/`,
    'grpo-worker-no-opfs.png',
    async (page) => {
      const t0 = Date.now();
      // The worker chunk behind a module that removes OPFS first (as in a browser without it).
      await page.evaluate((src) => {
        window.events = [];
        const code =
          'delete StorageManager.prototype.getDirectory;\n' +
          `await import(${JSON.stringify(new URL(src, location.href).href)});\n` +
          "postMessage({ type: 'loaded' });\n";
        window.grpo = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), {
          type: 'module',
        });
        window.grpo.onmessage = (e) => window.events.push(e.data);
        window.grpo.onerror = (e) => window.events.push({ type: 'worker-error', message: e.message });
      }, chunk);
      await waitFor(page, 0, 'loaded', (e) => e.type === 'loaded');
      await send(page, { ...START, config: { ...CONFIG, max_steps: 1 } });
      const ready = await waitFor(page, 0, 'ready', (e) => e.type === 'ready' || e.type === 'error');
      assert.equal(ready.type, 'ready', ready.message);
      assert.equal(ready.run.saving, false);
      await waitFor(page, 0, 'paused', (e) => e.type === 'state' && e.state === 'paused');
      await send(page, { type: 'runs', id: 1 });
      const listed = await waitForReply(page, 0, 1);
      assert.deepEqual([listed.available, listed.runs], [false, []]);
      await send(page, { type: 'step' });
      await waitFor(page, 0, 'finished', (e) => e.type === 'state' && e.state === 'finished');
      await send(page, { type: 'export', id: 2, what: 'metrics' });
      const metrics = await waitForReply(page, 0, 2);
      assert.equal(metrics.type, 'export-result', metrics.message);
      const lines = await page.evaluate(() => new TextDecoder().decode(window.fileOf(2, 'metrics.jsonl')));
      assert.equal(JSON.parse(lines).step, 1, 'the metrics are kept in memory');
      const all = await events(page);
      const warnings = all.filter((e) => e.type === 'warning');
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0].message,
        /no Origin Private File System .* training goes on without checkpoints/,
      );
      assert.deepEqual(
        all.filter((e) => e.type === 'checkpoint' || e.type === 'error'),
        [],
      );
      console.log(
        `  without OPFS: one step and a metrics export in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    },
  );
});
