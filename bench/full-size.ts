// Full-size checkpoints: for each folder scripts/make-random-checkpoint.py wrote under --checkpoints DIR
// (qwen2-vl-2b/, qwen2.5-vl-3b/: the published configs, names, shapes, bf16 shards, random weights), with
// f32 weights and, where the adapter has shader-f16, f16 weights: the memory plan's estimate, the
// streaming load's time, one forward's log-probs against transformers' on the same checkpoint and prompt
// (the folder's reference.json), and one LoRA GRPO step (G 2, 8 new tokens, the synthetic 84 x 84 scenes)
// with its split and the buffer pool's peak. Each row runs on a device of its own, destroyed after it.
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { loadPromptModel } from '../src/cli/model-input.ts';
import { NANO_TASK, syntheticDataset } from '../src/data/synthetic.ts';
import { noGrad } from '../src/gpu/autograd.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import { resolveConfig } from '../src/grpo/config.ts';
import { memoryPlan } from '../src/grpo/plan.ts';
import { GrpoTrainer } from '../src/grpo/trainer.ts';
import { directoryOpener } from '../src/model/byte-source-node.ts';
import { parameterCount } from '../src/model/config.ts';
import { loadModel, type WeightDtype } from '../src/model/load.ts';
import { stopTokenIds } from '../src/model/prompt.ts';
import { modelForward } from '../src/model/qwen-vl.ts';
import { disposeWeights, type Weights } from '../src/model/weights.ts';

export const FULL_SIZE_MODELS = ['qwen2-vl-2b', 'qwen2.5-vl-3b'];

export interface FullSizeRow {
  name: string;
  model: string;
  weight_dtype: WeightDtype;
  parameters: number;
  load_s: number;
  /** The largest |ours - transformers| over the reference's scored log-probs. */
  logprob_max_abs_diff: number;
  plan_total_bytes: number;
  plan_fits: boolean;
  /** The buffer pool's peak of live bytes over the load and the step. */
  peak_bytes: number;
  step_s: number;
  generation_s: number;
  backward_s: number;
  optimizer_s: number;
  completion_tokens: number;
}

interface Reference {
  input_ids: number[];
  pixel_values: number[];
  image_grid_thw: [number, number, number];
  scored_from: number;
  logprobs: number[];
}

export async function benchFullSize(
  { only, checkpoints }: { only?: RegExp; checkpoints?: string },
  log: (s: string) => void = () => {},
): Promise<FullSizeRow[]> {
  const rows: FullSizeRow[] = [];
  if (!checkpoints) {
    if (!only || only.test('full-size'))
      log('  full-size: skipped (pass --checkpoints DIR; see bench/full-size.ts)');
    return rows;
  }
  for (const model of FULL_SIZE_MODELS) {
    const dir = join(checkpoints, model);
    if (!existsSync(join(dir, 'reference.json'))) {
      log(`  full-size-${model}: skipped (no ${dir}/reference.json)`);
      continue;
    }
    for (const dtype of ['f32', 'f16'] as const) {
      const name = `full-size-${model}-${dtype}`;
      if (only && !only.test(name)) continue;
      const row = await benchOne(dir, model, dtype, log);
      if (row) rows.push(row);
    }
  }
  return rows;
}

async function benchOne(
  dir: string,
  model: string,
  dtype: WeightDtype,
  log: (s: string) => void,
): Promise<FullSizeRow | undefined> {
  const name = `full-size-${model}-${dtype}`;
  const gpu = await createNodeGpu({ announce: false });
  let weights: Weights | undefined;
  try {
    if (dtype === 'f16' && !gpu.hasF16) {
      log(`  ${name}: skipped (the adapter has no shader-f16)`);
      return undefined;
    }
    const prompt = await loadPromptModel(dir);
    const config = resolveConfig(
      {
        use_peft: true,
        weight_dtype: dtype,
        num_generations: 2,
        per_device_train_batch_size: 2,
        gradient_accumulation_steps: 1,
        max_completion_length: 8,
        temperature: 1,
        max_steps: 1,
        logging_steps: 1,
      },
      {},
    );
    const limits = gpu.device.limits;
    const plan = memoryPlan(
      {
        model: prompt.config,
        processor: prompt.imageOptions,
        image: { width: NANO_TASK.width!, height: NANO_TASK.height! },
      },
      config,
      {
        maxBufferSize: limits.maxBufferSize,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        memoryBytes: totalmem(),
        hasF16: gpu.hasF16,
      },
    );
    const t0 = performance.now();
    const loaded = await loadModel(gpu, directoryOpener(dir), { weightDtype: dtype });
    weights = loaded.weights;
    await gpu.sync();
    const loadS = (performance.now() - t0) / 1000;
    log(`  ${name}: loaded in ${loadS.toFixed(1)} s; plan ${(plan.bytes.total / 2 ** 30).toFixed(2)} GiB`);

    const diff = await forwardDiff(gpu, prompt.config, weights, dir);
    log(`  ${name}: log-probs within ${diff.toExponential(2)} of transformers'`);

    const trainer = new GrpoTrainer({
      gpu,
      model: prompt,
      weights,
      rows: syntheticDataset(1, 8, NANO_TASK),
      config,
      space: 'pixels',
      stopIds: stopTokenIds(prompt.tokenizer, prompt.config.tokens.eosTokenIds),
    });
    let m: Record<string, number | null | undefined>;
    try {
      m = (await trainer.trainStep()).metrics;
      await gpu.sync();
    } finally {
      trainer.dispose();
    }
    const row: FullSizeRow = {
      name,
      model,
      weight_dtype: dtype,
      parameters: parameterCount(prompt.config),
      load_s: loadS,
      logprob_max_abs_diff: diff,
      plan_total_bytes: plan.bytes.total,
      plan_fits: plan.fits,
      peak_bytes: gpu.pool.snapshot().peakLiveBytes,
      step_s: m.step_time!,
      generation_s: m['time/generation']!,
      backward_s: m['time/backward']!,
      optimizer_s: m['time/optimizer']!,
      completion_tokens: m['completions/mean_length']! * config.num_generations,
    };
    log(
      `  ${name}: step ${row.step_s.toFixed(1)} s (generation ${row.generation_s.toFixed(1)} s, forward + backward ` +
        `${row.backward_s.toFixed(1)} s, optimiser ${row.optimizer_s.toFixed(1)} s); peak ` +
        `${(row.peak_bytes / 2 ** 30).toFixed(2)} GiB against the plan's ${(row.plan_total_bytes / 2 ** 30).toFixed(2)} GiB`,
    );
    return row;
  } finally {
    if (weights) disposeWeights(weights);
    gpu.destroy();
  }
}

/** The reference prompt's scored log-probs, ours against transformers'. */
async function forwardDiff(
  gpu: Awaited<ReturnType<typeof createNodeGpu>>,
  config: Awaited<ReturnType<typeof loadPromptModel>>['config'],
  weights: Weights,
  dir: string,
): Promise<number> {
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
  const logits = noGrad(gpu, () =>
    modelForward(gpu, config, weights, {
      inputIds: Int32Array.from(ref.input_ids),
      pixelValues: Float32Array.from(ref.pixel_values),
      imageGrids: [ref.image_grid_thw],
    }),
  );
  const V = config.text.vocabSize;
  const values = await gpu.read(logits);
  logits.dispose();
  let worst = 0;
  ref.logprobs.forEach((want, i) => {
    const t = ref.scored_from + i;
    const row = values.subarray((t - 1) * V, t * V);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const got = row[ref.input_ids[t]!]! - max - Math.log(sum);
    worst = Math.max(worst, Math.abs(got - want));
  });
  return worst;
}
