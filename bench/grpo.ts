// One GRPO step at the nano demo settings with 2 prompts per step where the preset has 16 (the shipped
// nano checkpoint, the synthetic set, G 8 x 2 prompts, up to 64 new tokens, full fine-tuning): the
// median step time after one warm-up step, its split into generation, scoring, forward + backward and
// optimiser, and tokens/s for generation (completion tokens sampled) and training (prompt + completion
// tokens through forward and backward).
// The medians of each part are taken over the same runs, so they need not add up to the step's median.
// Where the adapter has timestamp queries, one more step runs on a second, profiled device and its GPU
// time per kernel (each dispatch in its own pass, so a little slower than unprofiled) joins the row.
import { loadPromptModel, NANO_DIR } from '../src/cli/model-input.ts';
import { NANO_TASK, syntheticDataset } from '../src/data/synthetic.ts';
import type { Gpu } from '../src/gpu/context.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import type { KernelTime } from '../src/gpu/profiler.ts';
import { resolveConfig } from '../src/grpo/config.ts';
import { GrpoTrainer } from '../src/grpo/trainer.ts';
import { directoryOpener } from '../src/model/byte-source-node.ts';
import { loadModel } from '../src/model/load.ts';
import { stopTokenIds } from '../src/model/prompt.ts';
import { disposeWeights } from '../src/model/weights.ts';

export interface GrpoRow {
  name: string;
  num_generations: number;
  prompts: number;
  max_completion_length: number;
  step_ms: number;
  generation_ms: number;
  scoring_ms: number;
  backward_ms: number;
  optimizer_ms: number;
  completion_tokens: number;
  generation_tokens_per_s: number;
  training_tokens_per_s: number;
  /** GPU time per kernel over one profiled step, slowest first; absent without timestamp queries. */
  profile?: { step_gpu_ms: number; kernels: KernelTime[] };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function benchGrpo(
  gpu: Gpu,
  { only, runs = 5 }: { only?: RegExp; runs?: number } = {},
  log: (s: string) => void = () => {},
): Promise<GrpoRow[]> {
  const name = 'grpo-step-nano-demo';
  if (only && !only.test(name)) return [];
  const model = await loadPromptModel('nano');
  const config = resolveConfig(
    { max_steps: runs + 2, per_device_train_batch_size: 8, gradient_accumulation_steps: 2 },
    { preset: 'nano-demo' },
  );
  const parts: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    parts[k] ??= [];
    parts[k].push(v);
  };
  await withTrainer(gpu, model, config, async (trainer) => {
    await trainer.trainStep();
    for (let i = 0; i < runs; i++) {
      const m = (await trainer.trainStep()).metrics;
      add('step', m.step_time! * 1000);
      add('generation', m['time/generation']! * 1000);
      add('scoring', m['time/scoring']! * 1000);
      add('backward', m['time/backward']! * 1000);
      add('optimizer', m['time/optimizer']! * 1000);
      add('tokens', m['completions/mean_length']! * config.num_generations * 2);
      add('gen_tps', m['tokens_per_s/generation']!);
      add('train_tps', m['tokens_per_s/training']!);
    }
  });
  const row: GrpoRow = {
    name,
    num_generations: config.num_generations,
    prompts: 2,
    max_completion_length: config.max_completion_length,
    step_ms: median(parts.step!),
    generation_ms: median(parts.generation!),
    scoring_ms: median(parts.scoring!),
    backward_ms: median(parts.backward!),
    optimizer_ms: median(parts.optimizer!),
    completion_tokens: median(parts.tokens!),
    generation_tokens_per_s: median(parts.gen_tps!),
    training_tokens_per_s: median(parts.train_tps!),
  };
  if (gpu.hasTimestamps) row.profile = await profileStep(model, config);
  log(
    `  ${name}: ${(row.step_ms / 1000).toFixed(2)} s per step (generation ${(row.generation_ms / 1000).toFixed(2)} s, ` +
      `forward + backward ${(row.backward_ms / 1000).toFixed(2)} s, optimiser ${(row.optimizer_ms / 1000).toFixed(2)} s); ` +
      `${row.generation_tokens_per_s.toFixed(0)} generated tokens/s, ${row.training_tokens_per_s.toFixed(0)} trained tokens/s`,
  );
  if (row.profile) {
    log(`  profiled step: ${row.profile.step_gpu_ms.toFixed(0)} ms of GPU time; slowest kernels:`);
    for (const k of row.profile.kernels.slice(0, 8))
      log(`    ${k.kernel.padEnd(30)} ${k.totalMs.toFixed(1).padStart(8)} ms  (${k.calls} calls)`);
  }
  return [row];
}

type PromptModel = Awaited<ReturnType<typeof loadPromptModel>>;

/** A trainer on the shipped nano weights and synthetic rows, disposed (with its weights) after `fn`. */
async function withTrainer(
  gpu: Gpu,
  model: PromptModel,
  config: ReturnType<typeof resolveConfig>,
  fn: (trainer: GrpoTrainer) => Promise<void>,
): Promise<void> {
  const loaded = await loadModel(gpu, directoryOpener(NANO_DIR));
  const trainer = new GrpoTrainer({
    gpu,
    model,
    weights: loaded.weights,
    rows: syntheticDataset(1, 64, NANO_TASK),
    config,
    space: 'pixels',
    stopIds: stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds),
  });
  try {
    await fn(trainer);
  } finally {
    trainer.dispose();
    disposeWeights(loaded.weights);
  }
}

/** GPU time per kernel of the second step (after a warm-up step) on a profiled device. */
async function profileStep(
  model: PromptModel,
  config: ReturnType<typeof resolveConfig>,
): Promise<{ step_gpu_ms: number; kernels: KernelTime[] }> {
  const gpu = await createNodeGpu({ announce: false, profile: true });
  try {
    let kernels: KernelTime[] = [];
    await withTrainer(gpu, model, config, async (trainer) => {
      await trainer.trainStep();
      await gpu.sync();
      await gpu.profiler!.report();
      gpu.profiler!.reset();
      await trainer.trainStep();
      await gpu.sync();
      kernels = await gpu.profiler!.report();
    });
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      step_gpu_ms: round(kernels.reduce((s, k) => s + k.totalMs, 0)),
      kernels: kernels.map((k) => ({ ...k, totalMs: round(k.totalMs), meanMs: round(k.meanMs) })),
    };
  } finally {
    gpu.destroy();
  }
}
