// The GRPO loop of one run, step by step, with TRL 1.13's schedule: a generation batch of
// promptsPerGeneration prompts x G completions is sampled and scored every steps_per_generation x
// num_iterations micro-steps, shuffled and split into per_device_train_batch_size micro-batches; each
// optimiser step runs gradient_accumulation_steps micro-batches (policy forward on the GPU, the loss
// and its gradient on the host, backward on the GPU, gradients accumulated), then global-norm clipping,
// AdamW and the learning-rate schedule. Old log-probs are computed when a generation is reused across
// optimiser steps, reference log-probs when beta != 0. A non-finite loss or gradient norm skips the
// update and says so. Every generation yields per-sample records; logging steps yield TRL's metrics.

import { mixSeed, Rng } from '../data/rng.ts';
import type { Box, GroundingRow } from '../data/row.ts';
import { Sampler, type SamplerState } from '../data/split.ts';
import { noGrad, Tape } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Lora } from '../model/lora.ts';
import type { PromptModel } from '../model/prompt.ts';
import type { Weights } from '../model/weights.ts';
import { computeAdvantages } from './advantages.ts';
import { derivedSizes, type GrpoConfig, totalOptimizerSteps } from './config.ts';
import { grpoLoss, type LossSettings } from './loss.ts';
import { type Metrics, MetricWindow } from './metrics.ts';
import { Policy, type PolicyView } from './policy.ts';
import type { BoxSpace, ImageFrame, ParsedAnswer } from './rewards/answer.ts';
import {
  buildTrainingPrompt,
  type Completion,
  checkPromptLength,
  rollout,
  type TrainingPrompt,
} from './rollout.ts';
import { type ScoredSequence, scoreSequences } from './sequences.ts';
import { Updater } from './update.ts';

/** What a training run (GRPO or SFT) is given. */
export interface RunSetup {
  gpu: Gpu;
  model: PromptModel;
  /** The loaded weights (f32 for full fine-tuning); the trainer makes them trainable or adapts them. */
  weights: Weights;
  rows: readonly GroundingRow[];
  config: GrpoConfig;
  /** The box space the model answers in (the config's 'auto' resolved). */
  space: BoxSpace;
  /** A loaded PEFT adapter to train further (src/grpo/adapter.ts); the policy takes it over. */
  adapter?: Lora;
}

export interface TrainerSetup extends RunSetup {
  stopIds: readonly number[];
}

/** One completion as a person inspects it. */
export interface CompletionRecord {
  text: string;
  /** Null for completions brought back from TRL, whose table holds their text only. */
  tokens: number | null;
  terminated: boolean | null;
  /** The answer's box as the model wrote it (its own space), or null. */
  box: readonly number[] | null;
  /** The same box in original-image pixels. */
  boxPixels: Box | null;
  parseError: string | null;
  iou: number | null;
  rewards: Record<string, number | null>;
  reward: number | null;
  advantage: number;
}

/** One prompt of a generation batch and its G completions. */
export interface SampleRecord {
  step: number;
  id: string;
  question: string;
  box: Box;
  frame: ImageFrame;
  completions: CompletionRecord[];
}

export interface StepReport {
  /** Optimiser steps taken, this one included. */
  step: number;
  totalSteps: number;
  /** This step's own values (TRL's names, plus the time split and tokens/s). */
  metrics: Metrics;
  /** Averages over the logging window, on logging steps. */
  logged?: Metrics;
  /** The prompts generated during this step. */
  records: SampleRecord[];
  /** Why the update was skipped (a non-finite loss or gradient), when it was. */
  skipped?: string;
}

/** Where a run stands: with the weights and optimiser state, enough to continue it. */
export interface TrainerProgress {
  step: number;
  microStep: number;
  generations: number;
  inputTokensSeen: number;
  sampler: SamplerState;
}

/** A completion of the buffered generation batch, ready for the loss. */
interface BufferedRow {
  prompt: number;
  completion: Completion;
  advantage: number;
  /** Completion tokens that count (0 when a truncated completion is masked). */
  active: boolean;
  oldLogp?: Float64Array;
  refLogp?: Float64Array;
}

interface GenerationBuffer {
  prompts: TrainingPrompt[];
  microBatches: BufferedRow[][];
  /** Longest completion of the batch (TRL pads to it). */
  cols: number;
  numItems: number;
}

export class GrpoTrainer {
  readonly policy: Policy;
  readonly totalSteps: number;
  /** Optimiser steps taken. */
  step = 0;
  private microStep = 0;
  private generations = 0;
  private inputTokensSeen = 0;
  private buffer: GenerationBuffer | undefined;
  private readonly sampler: Sampler;
  readonly updater: Updater;
  private readonly window = new MetricWindow();
  private readonly sizes: ReturnType<typeof derivedSizes>;
  private readonly generateEvery: number;
  private readonly oldLogps: boolean;
  private readonly lossSettings: LossSettings;

  constructor(readonly setup: TrainerSetup) {
    const c = setup.config;
    this.sizes = derivedSizes(c);
    this.totalSteps = totalOptimizerSteps(c, setup.rows.length);
    this.generateEvery = this.sizes.microBatchesPerGeneration * c.num_iterations;
    this.oldLogps = c.gradient_accumulation_steps % this.generateEvery !== 0;
    this.sampler = new Sampler(setup.rows.length, {
      seed: c.seed,
      batchSize: this.sizes.promptsPerGeneration,
      dropLast: true,
    });
    this.policy = Policy.fromConfig(
      setup.gpu,
      setup.model.config,
      setup.weights,
      c,
      c.beta !== 0,
      setup.adapter,
    );
    this.updater = new Updater(c, this.totalSteps);
    this.lossSettings = {
      lossType: c.loss_type,
      beta: c.beta,
      epsilonLow: c.epsilon,
      epsilonHigh: c.epsilon_high ?? c.epsilon,
      delta: c.delta,
      importanceSamplingLevel: c.importance_sampling_level,
      useBiasCorrectionKl: c.use_bias_correction_kl,
      topEntropyQuantile: c.top_entropy_quantile,
      offPolicyMaskThreshold: c.off_policy_mask_threshold,
      maxCompletionLength: c.max_completion_length,
      gradientAccumulationSteps: c.gradient_accumulation_steps,
      stepsPerGeneration: this.sizes.microBatchesPerGeneration,
      sapoTemperaturePos: c.sapo_temperature_pos,
      sapoTemperatureNeg: c.sapo_temperature_neg,
      vespoKPos: c.vespo_k_pos,
      vespoLambdaPos: c.vespo_lambda_pos,
      vespoKNeg: c.vespo_k_neg,
      vespoLambdaNeg: c.vespo_lambda_neg,
    };
  }

  get done(): boolean {
    return this.step >= this.totalSteps;
  }

  progress(): TrainerProgress {
    return {
      step: this.step,
      microStep: this.microStep,
      generations: this.generations,
      inputTokensSeen: this.inputTokensSeen,
      sampler: this.sampler.state(),
    };
  }

  /**
   * Continues from saved progress (the weights and optimiser state restored separately). A generation
   * batch that was still being reused is not kept, as in TRL: the next micro-step generates anew.
   */
  restoreProgress(p: TrainerProgress): void {
    this.sampler.restore(p.sampler);
    this.step = p.step;
    this.microStep = p.microStep;
    this.generations = p.generations;
    this.inputTokensSeen = p.inputTokensSeen;
    this.buffer = undefined;
  }

  /** One optimiser step: GA micro-batches, generating whenever TRL's schedule says so. */
  async trainStep(): Promise<StepReport> {
    const { gpu, config: c } = this.setup;
    const started = performance.now();
    this.policy.lora?.resetDropout(mixSeed(c.seed, this.step, 0xd209));
    const metrics: Metrics = {};
    const time = { generation: 0, scoring: 0, backward: 0, optimizer: 0 };
    const records: SampleRecord[] = [];
    const grads = new Map<Tensor, Tensor>();
    let loss = 0;
    let trainedTokens = 0;
    let generatedTokens = 0;
    try {
      for (let k = 0; k < c.gradient_accumulation_steps; k++) {
        if (this.microStep % this.generateEvery === 0 || !this.buffer) {
          const gen = await this.generate(time);
          records.push(...gen.records);
          generatedTokens += gen.generatedTokens;
          Object.assign(metrics, gen.metrics);
        }
        const batch = this.buffer!.microBatches[this.microStep % this.sizes.microBatchesPerGeneration]!;
        const t0 = performance.now();
        const micro = await this.microBatch(batch, grads);
        time.backward += performance.now() - t0;
        loss += micro.loss;
        trainedTokens += micro.tokens;
        this.window.addAll(micro.metrics);
        Object.assign(metrics, micro.metrics);
        this.microStep++;
      }

      const t1 = performance.now();
      const update = await this.updater.apply(gpu, this.policy.parameters, grads, this.step, loss);
      time.optimizer = performance.now() - t1;
      this.step++;

      const seconds = (performance.now() - started) / 1000;
      Object.assign(metrics, {
        loss,
        grad_norm: update.gradNorm,
        learning_rate: this.updater.lr(this.step),
        num_tokens: this.inputTokensSeen,
        step_time: seconds,
        'time/generation': time.generation / 1000,
        'time/scoring': time.scoring / 1000,
        'time/backward': time.backward / 1000,
        'time/optimizer': time.optimizer / 1000,
        'tokens_per_s/generation': time.generation > 0 ? generatedTokens / (time.generation / 1000) : null,
        'tokens_per_s/training': time.backward > 0 ? trainedTokens / (time.backward / 1000) : null,
      });
      for (const k of [
        'loss',
        'step_time',
        'time/generation',
        'time/scoring',
        'time/backward',
        'time/optimizer',
      ])
        this.window.add(k, metrics[k]!);
      for (const k of [
        'grad_norm',
        'learning_rate',
        'num_tokens',
        'tokens_per_s/generation',
        'tokens_per_s/training',
      ])
        this.window.set(k, metrics[k]!);
      this.window.set('epoch', this.sampler.epoch);
      const report: StepReport = { step: this.step, totalSteps: this.totalSteps, metrics, records };
      if (update.skipped) report.skipped = update.skipped;
      if (this.step % Math.max(1, Math.round(c.logging_steps)) === 0 || this.done)
        report.logged = this.window.flush();
      return report;
    } finally {
      for (const g of grads.values()) g.dispose();
    }
  }

  /** Samples, scores and buffers one generation batch. */
  private async generate(time: { generation: number; scoring: number }) {
    const { gpu, model, config: c, rows } = this.setup;
    const t0 = performance.now();
    const lora = this.policy.lora;
    const picked = this.sampler.next().map((i) => rows[i]!);
    const prompts = await Promise.all(
      picked.map((row) =>
        buildTrainingPrompt(model, row, {
          systemPrompt: c.system_prompt,
          prefill: c.assistant_prefill,
          minPixels: c.min_pixels,
          maxPixels: c.max_pixels,
        }),
      ),
    );
    for (const p of prompts) checkPromptLength(p, c.max_prompt_length, model.config.tokens.imageTokenId);
    if (lora) lora.training = false;
    let completions: Completion[];
    try {
      completions = await rollout(
        gpu,
        model,
        this.policy.current,
        prompts,
        {
          numGenerations: c.num_generations,
          maxCompletionLength: c.max_completion_length,
          temperature: c.temperature,
          topK: c.top_k,
          topP: c.top_p,
          seed: mixSeed(c.seed, this.generations, 0x9e4e),
          stopIds: this.setup.stopIds,
        },
        { rewardNames: c.reward_funcs, iouThreshold: c.iou_threshold, space: this.setup.space },
      );
    } finally {
      if (lora) lora.training = true;
    }
    time.generation += performance.now() - t0;

    const t1 = performance.now();
    const weights = c.reward_weights ?? c.reward_funcs.map(() => 1);
    const adv = computeAdvantages(
      completions.map((x) => x.rewards),
      {
        numGenerations: c.num_generations,
        scaleRewards: c.scale_rewards,
        aggregation: c.multi_objective_aggregation,
        weights,
        names: c.reward_funcs,
      },
    );
    const lengths = completions.map((x) => x.ids.length);
    const terminated = completions.map((x) => x.terminated);
    const masks = completionMasks(lengths, terminated, c.mask_truncated_completions);
    const bufferRows: BufferedRow[] = completions.map((completion, i) => ({
      prompt: completion.prompt,
      completion,
      advantage: adv.advantages[i]!,
      active: masks.active[i]!,
    }));
    const numItems = masks.numItems;
    const promptTokens = prompts.reduce((n, p) => n + p.inputIds.length * c.num_generations, 0);
    this.inputTokensSeen += promptTokens + lengths.reduce((a, b) => a + b, 0);

    if (this.oldLogps) await this.attachLogps(prompts, bufferRows, 'old');
    if (c.beta !== 0) await this.attachLogps(prompts, bufferRows, 'ref');

    const order = bufferRows.map((_, i) => i);
    new Rng(mixSeed(c.seed, this.generations, 0x5f1e)).shuffle(order);
    const per = c.per_device_train_batch_size;
    const microBatches: BufferedRow[][] = [];
    for (let k = 0; k < this.sizes.microBatchesPerGeneration; k++)
      microBatches.push(order.slice(k * per, (k + 1) * per).map((i) => bufferRows[i]!));
    this.buffer = { prompts, microBatches, cols: Math.max(1, ...lengths), numItems };
    this.generations++;

    const metrics: Metrics = { ...adv.metrics, ...completionMetrics(lengths, terminated) };
    this.window.addAll(metrics);
    time.scoring += performance.now() - t1;

    const records = prompts.map((p, b): SampleRecord => {
      const group = completions.slice(b * c.num_generations, (b + 1) * c.num_generations);
      return {
        step: this.step + 1,
        id: p.row.id,
        question: p.row.question,
        box: p.row.box,
        frame: p.frame,
        completions: group.map((x, j) => completionRecord(x, c.reward_funcs, adv, b * c.num_generations + j)),
      };
    });
    return { records, metrics, generatedTokens: lengths.reduce((a, b) => a + b, 0) };
  }

  /** Old (current weights, before any update on this batch) or reference log-probs, without gradients. */
  private async attachLogps(prompts: TrainingPrompt[], rows: BufferedRow[], which: 'old' | 'ref') {
    const { gpu, config: c } = this.setup;
    const per = c.per_device_train_batch_size;
    const lora = this.policy.lora;
    const run = async (view: PolicyView) => {
      for (let s = 0; s < rows.length; s += per) {
        const chunk = rows.slice(s, s + per);
        const scores = noGrad(gpu, () =>
          scoreSequences(
            gpu,
            this.setup.model.config,
            view.weights,
            sequencesOf(prompts, chunk),
            prompts.map((p) => p.image),
            { temperature: c.temperature, linear: view.linear },
          ),
        );
        try {
          const values = await gpu.read(scores.logp);
          chunk.forEach((row, i) => {
            const lp = Float64Array.from(values.subarray(scores.offsets[i]!, scores.offsets[i + 1]!));
            if (which === 'old') row.oldLogp = lp;
            else row.refLogp = lp;
          });
        } finally {
          scores.logp.dispose();
        }
      }
    };
    if (lora) lora.training = false;
    try {
      if (which === 'old') await run(this.policy.current);
      else await this.policy.withReferenceAsync(run);
    } finally {
      if (lora) lora.training = true;
    }
  }

  /** Forward, host loss, backward of one micro-batch; gradients added into `grads`. */
  private async microBatch(batch: BufferedRow[], grads: Map<Tensor, Tensor>) {
    const { gpu, config: c } = this.setup;
    const buffer = this.buffer!;
    const tape = new Tape(gpu);
    try {
      const scores = tape.run(() =>
        scoreSequences(
          gpu,
          this.setup.model.config,
          this.policy.weights,
          sequencesOf(buffer.prompts, batch),
          buffer.prompts.map((p) => p.image),
          {
            temperature: c.temperature,
            linear: this.policy.lora?.linear,
            entropy: true,
            recompute: c.gradient_checkpointing ? { capture: this.policy.lora?.captureDropout } : undefined,
          },
        ),
      );
      try {
        const [logp, ent] = await Promise.all([gpu.read(scores.logp), gpu.read(scores.entropy!)]);
        const B = batch.length;
        const T = buffer.cols;
        const grid = (get: (row: BufferedRow, t: number, flat: number) => number) => {
          const out = new Float64Array(B * T);
          batch.forEach((row, b) => {
            const start = scores.offsets[b]!;
            for (let t = 0; t < row.completion.ids.length; t++) out[b * T + t] = get(row, t, start + t);
          });
          return out;
        };
        const result = grpoLoss(
          {
            rows: B,
            cols: T,
            logp: grid((_, __, i) => logp[i]!),
            ...(this.oldLogps ? { oldLogp: grid((r, t) => r.oldLogp![t]!) } : {}),
            ...(c.beta !== 0 ? { refLogp: grid((r, t) => r.refLogp![t]!) } : {}),
            entropies: grid((_, __, i) => ent[i]!),
            mask: grid((r) => (r.active ? 1 : 0)),
            advantages: batch.map((r) => r.advantage),
            numItemsInBatch: buffer.numItems,
          },
          this.lossSettings,
        );
        const seed = new Float32Array(logp.length);
        batch.forEach((row, b) => {
          const start = scores.offsets[b]!;
          for (let t = 0; t < row.completion.ids.length; t++) seed[start + t] = result.grad[b * T + t]!;
        });
        const seedTensor = gpu.tensor(seed, [seed.length]);
        try {
          tape.backward(scores.logp, seedTensor, grads);
        } finally {
          seedTensor.dispose();
        }
        const tokens = batch.reduce(
          (n, r) => n + buffer.prompts[r.prompt]!.inputIds.length + r.completion.ids.length,
          0,
        );
        return { loss: result.loss, metrics: result.metrics, tokens };
      } finally {
        scores.logp.dispose();
        scores.entropy?.dispose();
      }
    } finally {
      tape.dispose();
    }
  }

  /** Frees the optimiser state, the adapters or the reference copy. */
  dispose(): void {
    this.updater.dispose();
    this.policy.dispose();
  }
}

function sequencesOf(prompts: readonly TrainingPrompt[], rows: readonly BufferedRow[]): ScoredSequence[] {
  return rows.map((r) => ({
    promptIds: prompts[r.prompt]!.inputIds,
    completionIds: r.completion.ids,
    image: r.prompt,
  }));
}

/**
 * Which completions count in the loss (all, or with mask_truncated_completions only those that ended
 * with a stop id) and TRL's num_items_in_batch: their tokens summed over the generation batch.
 */
export function completionMasks(
  lengths: readonly number[],
  terminated: readonly boolean[],
  maskTruncated: boolean,
): { active: boolean[]; numItems: number } {
  const active = lengths.map((_, i) => !(maskTruncated && !terminated[i]));
  return { active, numItems: lengths.reduce((n, len, i) => n + (active[i] ? len : 0), 0) };
}

/** TRL's completions/* metrics of one generation batch. */
export function completionMetrics(lengths: readonly number[], terminated: readonly boolean[]): Metrics {
  const done = lengths.filter((_, i) => terminated[i]);
  const term = done.length ? done : [0];
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    'completions/mean_length': mean(lengths),
    'completions/min_length': Math.min(...lengths),
    'completions/max_length': Math.max(...lengths),
    'completions/clipped_ratio': terminated.filter((t) => !t).length / lengths.length,
    'completions/mean_terminated_length': mean(term),
    'completions/min_terminated_length': Math.min(...term),
    'completions/max_terminated_length': Math.max(...term),
  };
}

function completionRecord(
  x: Completion,
  names: readonly string[],
  adv: ReturnType<typeof computeAdvantages>,
  i: number,
): CompletionRecord {
  const parsed: ParsedAnswer = x.parsed;
  const total = adv.rewards[i]!;
  return {
    text: x.text,
    tokens: x.ids.length,
    terminated: x.terminated,
    box: parsed.box,
    boxPixels: x.boxPixels,
    parseError: parsed.error ?? null,
    iou: x.iou,
    rewards: Object.fromEntries(names.map((n, k) => [n, x.rewards[k] ?? null])),
    reward: Number.isNaN(total) ? null : total,
    advantage: adv.advantages[i]!,
  };
}
