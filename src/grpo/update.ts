// The optimiser side of a training run (GRPO and SFT alike): transformers' AdamW with its decay groups,
// the learning-rate schedule, and the update from accumulated gradients: the global gradient norm,
// clipping to max_grad_norm, and AdamW, skipped (and said why) when the loss or the norm is not finite.
import type { Gpu } from '../gpu/context.ts';
import { type LrSchedule, learningRate } from '../gpu/lr-schedule.ts';
import { AdamW } from '../gpu/ops/adamw.ts';
import { gradNorm } from '../gpu/ops/clip-grad.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type GrpoConfig, warmupSteps } from './config.ts';
import type { PolicyParameter } from './policy.ts';

export interface UpdateResult {
  /** The gradient norm before clipping (null when not finite or nothing had a gradient). */
  gradNorm: number | null;
  /** Why the update was skipped, when it was. */
  skipped?: string;
}

export class Updater {
  readonly optimizer: AdamW;
  readonly schedule: LrSchedule;

  constructor(
    readonly config: GrpoConfig,
    readonly totalSteps: number,
  ) {
    this.optimizer = new AdamW({
      beta1: config.adam_beta1,
      beta2: config.adam_beta2,
      eps: config.adam_epsilon,
      weightDecay: config.weight_decay,
    });
    this.schedule = {
      type: config.lr_scheduler_type,
      baseLr: config.learning_rate,
      warmupSteps: warmupSteps(config, totalSteps),
      totalSteps,
    };
  }

  /** The learning rate of the update after `step` updates (transformers' LambdaLR semantics). */
  lr(step: number): number {
    return learningRate(this.schedule, step);
  }

  /** Clips and applies `grads` (by parameter tensor) as update number `step` (0-based). */
  async apply(
    gpu: Gpu,
    parameters: readonly PolicyParameter[],
    grads: ReadonlyMap<Tensor, Tensor>,
    step: number,
    loss: number,
  ): Promise<UpdateResult> {
    const params = parameters.filter((p) => grads.has(p.tensor));
    if (params.length === 0) return { gradNorm: null, skipped: 'no parameter received a gradient' };
    const maxNorm = this.config.max_grad_norm;
    const { norm, coef } = gradNorm(
      gpu,
      params.map((p) => grads.get(p.tensor)!),
      maxNorm > 0 ? maxNorm : undefined,
    );
    try {
      const value = (await gpu.read(norm))[0]!;
      if (!Number.isFinite(loss))
        return { gradNorm: null, skipped: `the loss is ${loss}: the update was skipped` };
      if (!Number.isFinite(value))
        return { gradNorm: null, skipped: `the gradient norm is ${value}: the update was skipped` };
      this.optimizer.step(
        gpu,
        params.map((p) => ({
          param: p.tensor,
          grad: grads.get(p.tensor)!,
          ...(p.decay ? {} : { weightDecay: 0 }),
        })),
        this.lr(step),
        coef,
      );
      await gpu.sync();
      return { gradNorm: value };
    } finally {
      norm.dispose();
      coef.dispose();
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
