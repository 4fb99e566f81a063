// The SFT warm-up, for a model that cannot yet answer in the format GRPO rewards: cross-entropy on
// reference answers written in the chosen answer form and box space (the row's own reasoning when it has
// a reference answer, a short stock sentence otherwise), followed by the end-of-turn token, as TRL's
// SFTTrainer trains completion-only: the loss is the mean over every answer token of the optimiser
// step's micro-batches. It uses the trainer's policy, optimiser settings and learning-rate schedule.

import { Sampler } from '../data/split.ts';
import { Tape } from '../gpu/autograd.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Metrics } from './metrics.ts';
import { Policy } from './policy.ts';
import { type AnswerForm, type BoxSpace, formatBoxAnswer, fromOriginalPixels } from './rewards/answer.ts';
import { buildTrainingPrompt, type TrainingPrompt } from './rollout.ts';
import { scoreSequences } from './sequences.ts';
import type { RunSetup } from './trainer.ts';
import { Updater } from './update.ts';

export interface SftSetup extends RunSetup {
  /** The end-of-turn id appended to every answer. */
  endOfTurnId: number;
}

/** The reasoning inside a reference answer's <think> block, when it has one. */
function thoughtOf(answer: string | undefined): string | undefined {
  const m = answer === undefined ? null : /<think>([\s\S]*?)<\/think>/.exec(answer);
  return m ? m[1]!.trim() : undefined;
}

/**
 * The text the model should produce after the prompt's prefill: the answer with the box in `space` and
 * `form`, minus the part of the prefill it repeats (from its last `<think>`).
 */
export function referenceCompletion(prompt: TrainingPrompt, space: BoxSpace, form: AnswerForm): string {
  const thought = thoughtOf(prompt.row.answer) ?? 'The box covers the object the question asks about.';
  const box = fromOriginalPixels(prompt.row.box, space, prompt.frame);
  const full = formatBoxAnswer(thought, box, form);
  const at = prompt.prefill.lastIndexOf('<think>');
  return at >= 0 && full.startsWith('<think>') ? full.slice('<think>'.length) : full;
}

export class SftTrainer {
  readonly policy: Policy;
  step = 0;
  private readonly sampler: Sampler;
  private readonly updater: Updater;

  constructor(
    readonly setup: SftSetup,
    readonly totalSteps: number,
  ) {
    const c = setup.config;
    this.sampler = new Sampler(setup.rows.length, { seed: c.seed, batchSize: c.per_device_train_batch_size });
    this.policy = Policy.fromConfig(setup.gpu, setup.model.config, setup.weights, c, false, setup.adapter);
    this.updater = new Updater(c, totalSteps);
  }

  /** Continues a run stopped after `steps` updates: the data order and the schedule pick up there. */
  skipTo(steps: number): void {
    for (; this.step < steps; this.step++)
      for (let k = 0; k < this.setup.config.gradient_accumulation_steps; k++) this.sampler.next();
  }

  /** One optimiser step over gradient_accumulation_steps micro-batches; returns loss and timing. */
  async trainStep(): Promise<Metrics> {
    const { gpu, model, config: c } = this.setup;
    const started = performance.now();
    const batches: { prompts: TrainingPrompt[]; answers: number[][] }[] = [];
    for (let k = 0; k < c.gradient_accumulation_steps; k++) {
      const rows = this.sampler.next().map((i) => this.setup.rows[i]!);
      const prompts = await Promise.all(
        rows.map((row) =>
          buildTrainingPrompt(model, row, {
            systemPrompt: c.system_prompt,
            prefill: c.assistant_prefill,
            minPixels: c.min_pixels,
            maxPixels: c.max_pixels,
          }),
        ),
      );
      const answers = prompts.map((p) => [
        ...model.tokenizer.encode(referenceCompletion(p, this.setup.space, c.answer_form)),
        this.setup.endOfTurnId,
      ]);
      batches.push({ prompts, answers });
    }
    const tokens = batches.reduce((n, b) => n + b.answers.reduce((m, a) => m + a.length, 0), 0);
    const grads = new Map<Tensor, Tensor>();
    let loss = 0;
    try {
      for (const { prompts, answers } of batches) {
        const tape = new Tape(gpu);
        try {
          const scores = tape.run(() =>
            scoreSequences(
              gpu,
              model.config,
              this.policy.weights,
              prompts.map((p, i) => ({ promptIds: p.inputIds, completionIds: answers[i]!, image: i })),
              prompts.map((p) => p.image),
              {
                temperature: 1,
                linear: this.policy.lora?.linear,
                recompute: c.gradient_checkpointing
                  ? { capture: this.policy.lora?.captureDropout }
                  : undefined,
              },
            ),
          );
          const n = scores.offsets.at(-1)!;
          const seed = gpu.tensor(new Float32Array(n).fill(-1 / tokens), [n]);
          try {
            const logp = await gpu.read(scores.logp);
            for (const v of logp) loss -= v / tokens;
            tape.backward(scores.logp, seed, grads);
          } finally {
            seed.dispose();
            scores.logp.dispose();
          }
        } finally {
          tape.dispose();
        }
      }
      const update = await this.updater.apply(gpu, this.policy.parameters, grads, this.step, loss);
      this.step++;
      return {
        loss,
        grad_norm: update.gradNorm,
        learning_rate: this.updater.lr(this.step),
        num_tokens: tokens,
        step_time: (performance.now() - started) / 1000,
        epoch: this.sampler.epoch,
      };
    } finally {
      for (const g of grads.values()) g.dispose();
    }
  }

  dispose(): void {
    this.updater.dispose();
    this.policy.dispose();
  }
}
