// The policy being trained and its reference: LoRA adapters on the frozen decoder (TRL with a PEFT
// config; the reference is the same weights with the adapters switched off, no second copy), or full
// fine-tuning of every weight (the reference, needed only when beta != 0, is a frozen copy of the
// starting weights). Parameters carry stable names (PEFT's adapter names, HF weight names) for the
// optimiser state in checkpoints, and a weight-decay flag following transformers' rule (no decay for
// biases and norm weights).
import { noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { stridedCopy } from '../gpu/ops/layout.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LinearFn } from '../model/decoder.ts';
import { createLora, freezeWeights, type Lora, trainableWeights } from '../model/lora.ts';
import { disposeWeights, type Weights } from '../model/weights.ts';
import { type GrpoConfig, GrpoConfigError } from './config.ts';

export interface PolicyParameter {
  name: string;
  tensor: Tensor;
  decay: boolean;
}

/** What the forward passes need: the weights and the projection hook. */
export interface PolicyView {
  weights: Weights;
  linear?: LinearFn;
}

export interface PolicyOptions {
  /** LoRA settings, or null for full fine-tuning. */
  lora: { r: number; alpha: number; dropout: number; targetModules: readonly string[] | string } | null;
  /** A reference policy is needed (beta != 0). */
  reference: boolean;
  seed: number;
}

export class Policy {
  readonly parameters: PolicyParameter[];
  private readonly frozenCopy: Weights | undefined;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: Weights,
    readonly lora: Lora | undefined,
    frozenCopy: Weights | undefined,
  ) {
    this.frozenCopy = frozenCopy;
    this.parameters = lora
      ? [...lora.adapters.values()].flatMap((ad) => [
          { name: `${ad.module}.lora_A.weight`, tensor: ad.A, decay: true },
          { name: `${ad.module}.lora_B.weight`, tensor: ad.B, decay: true },
        ])
      : [...weights].map(([name, tensor]) => ({ name, tensor, decay: decays(name, tensor) }));
  }

  /** Makes `weights` trainable (full fine-tuning) or adds adapters to them; see the file header. */
  static create(gpu: Gpu, config: ModelConfig, weights: Weights, options: PolicyOptions): Policy {
    if (options.lora) {
      const { r, alpha, dropout, targetModules } = options.lora;
      const lora = createLora(gpu, config, { r, alpha, dropout, targetModules, seed: options.seed });
      return new Policy(gpu, config, weights, lora, undefined);
    }
    const blocked = [...weights].find(([, t]) => t.blocks);
    if (blocked)
      throw new GrpoConfigError(
        'use_peft',
        `full fine-tuning trains every weight in one buffer, and '${blocked[0]}' [${blocked[1].shape}] is over ` +
          "this device's maxBufferSize; train with LoRA (use_peft: true), which leaves the weights frozen",
      );
    trainableWeights(weights);
    const copy = options.reference ? copyWeights(gpu, weights) : undefined;
    return new Policy(gpu, config, weights, undefined, copy);
  }

  /**
   * The policy a run's config asks for: LoRA adapters when use_peft (`adapter`'s, when the run starts
   * from a loaded one, which the policy then owns), full fine-tuning otherwise.
   */
  static fromConfig(
    gpu: Gpu,
    config: ModelConfig,
    weights: Weights,
    c: GrpoConfig,
    reference: boolean,
    adapter?: Lora,
  ): Policy {
    if (adapter) {
      if (!c.use_peft || adapter.r !== c.lora_r || adapter.alpha !== c.lora_alpha)
        throw new Error('the starting adapter differs from the config: apply withAdapterSettings first');
      return new Policy(gpu, config, weights, adapter, undefined);
    }
    const lora = c.use_peft
      ? { r: c.lora_r, alpha: c.lora_alpha, dropout: c.lora_dropout, targetModules: c.lora_target_modules }
      : null;
    return Policy.create(gpu, config, weights, { lora, reference, seed: c.seed });
  }

  /** The policy as trained. */
  get current(): PolicyView {
    return { weights: this.weights, linear: this.lora?.linear };
  }

  /** Runs fn on the reference policy (adapters off, or the frozen starting weights). */
  withReference<T>(fn: (view: PolicyView) => T): T {
    if (this.frozenCopy) return fn({ weights: this.frozenCopy });
    if (!this.lora) throw new Error('this policy was created without a reference');
    this.lora.enabled = false;
    try {
      return fn({ weights: this.weights, linear: this.lora.linear });
    } finally {
      this.lora.enabled = true;
    }
  }

  /** Async withReference; the adapters stay off until the promise settles. */
  async withReferenceAsync<T>(fn: (view: PolicyView) => Promise<T>): Promise<T> {
    if (this.frozenCopy) return fn({ weights: this.frozenCopy });
    if (!this.lora) throw new Error('this policy was created without a reference');
    this.lora.enabled = false;
    try {
      return await fn({ weights: this.weights, linear: this.lora.linear });
    } finally {
      this.lora.enabled = true;
    }
  }

  /** Frees the adapters and the reference copy and freezes the weights again; the weights stay. */
  dispose(): void {
    if (this.lora) this.lora.dispose();
    else freezeWeights(this.weights);
    if (this.frozenCopy) disposeWeights(this.frozenCopy);
  }
}

/** transformers' decay rule: every parameter but biases and norm weights. */
function decays(name: string, t: Tensor): boolean {
  return !(name.endsWith('.bias') || /norm/i.test(name) || name.includes('ln_q') || t.shape.length < 2);
}

function copyWeights(gpu: Gpu, weights: Weights): Weights {
  const copy: Weights = new Map();
  noGrad(gpu, () => {
    for (const [name, t] of weights) {
      const out = gpu.keep(gpu.empty(t.shape, t.dtype));
      const view = { shape: [t.size], strides: [1], offset: 0 };
      stridedCopy(gpu, t, view, out, view);
      copy.set(name, out);
    }
  });
  return copy;
}
